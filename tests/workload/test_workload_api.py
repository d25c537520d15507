"""The package's promises: lean import and a documented public API."""

import inspect

from tests.imports import top_level_modules_after

import tessera.workload


def test_import_pulls_no_optional_package():
    loaded = top_level_modules_after("import tessera.workload")
    assert not loaded & {"yaml", "transformers", "sentence_transformers", "sklearn"}


def test_every_public_name_is_documented():
    for name in tessera.workload.__all__:
        obj = getattr(tessera.workload, name)
        if callable(obj):
            assert inspect.getdoc(obj), f"tessera.workload.{name} has no docstring"
