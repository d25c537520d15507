"""Packaging promises: lean import, documented public API and commands."""

import inspect

from tests.imports import top_level_modules_after

import tessera
from tessera.cli import main

OPTIONAL = {
    "sklearn",
    "click",
    "ml_dtypes",
    "transformers",
    "yaml",
    "safetensors",
    "matplotlib",
    "iree",
    "cv2",
    "ray",
}


def test_import_pulls_torch_and_numpy_only():
    loaded = top_level_modules_after("import tessera")
    assert "torch" in loaded
    assert not loaded & OPTIONAL, f"import tessera loaded optional packages: {sorted(loaded & OPTIONAL)}"


def test_every_public_name_is_documented():
    for name in tessera.__all__:
        obj = getattr(tessera, name)
        assert inspect.getdoc(obj), f"tessera.{name} has no docstring"


def test_every_command_has_help():
    for name, command in main.commands.items():
        assert command.help, f"'tessera {name}' has no help text"
