"""The package's promises: a documented public API, a lean import."""

import inspect

from tests.imports import top_level_modules_after

import tessera.dse
import tessera.dse.airchitect as airchitect


def test_every_public_name_and_method_is_documented():
    for name in airchitect.__all__:
        obj = getattr(airchitect, name)
        if not inspect.isclass(obj) and not callable(obj):
            continue
        assert inspect.getdoc(obj), f"tessera.dse.airchitect.{name} has no docstring"
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if not attr.startswith("_") and (callable(value) or isinstance(value, property)):
                    assert inspect.getdoc(getattr(obj, attr)), f"{name}.{attr} has no docstring"


def test_dse_reexports_the_main_names():
    assert set(tessera.dse.__all__) <= set(airchitect.__all__)


def test_import_leaves_optional_packages_alone():
    loaded = top_level_modules_after("import tessera.dse")
    optional = {"sklearn", "click", "safetensors", "threadpoolctl", "yaml"}
    assert not loaded & optional, f"import tessera.dse loaded {sorted(loaded & optional)}"
