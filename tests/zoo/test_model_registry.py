"""The registry's promises: names, metadata, data folder lookup, lean import, the cache."""

import importlib
import inspect
import pkgutil

import pytest
import torch
from tests.imports import top_level_modules_after

from tessera.zoo import FileFormatError, get_model, model_names, resolve_data_dir

EXPECTED = {
    "digits-cnn": ("top1_pct", True),
    "mnist-lenet": ("top1_pct", True),
    "mnist-bnn": ("top1_pct", True),
    "mnist-bnn-small": ("top1_pct", True),
    "mnist-tnn": ("top1_pct", True),
    "resnet20": ("top1_pct", True),
    "resnet32": ("top1_pct", True),
    "resnet44": ("top1_pct", True),
    "resnet56": ("top1_pct", True),
    "cifar10-bnn": ("top1_pct", True),
    "minilm": ("spearman_x100", True),
    "stories260k": ("perplexity", False),
}


def test_every_model_is_registered_with_its_metric():
    assert sorted(model_names()) == sorted(EXPECTED)
    for name, (metric, higher) in EXPECTED.items():
        spec = get_model(name)
        assert (spec.name, spec.metric, spec.higher_is_better) == (name, metric, higher)
        assert spec.dataset and spec.description


def test_resnet_dataset_names_the_jpeg_test_set():
    assert get_model("resnet20").dataset == "CIFAR-10 test (JPEG q75)"


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet18'.*digits-cnn.*stories260k"):
        get_model("resnet18")


def test_data_dir_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "elsewhere"))
    assert resolve_data_dir(str(tmp_path)) == tmp_path
    (tmp_path / "elsewhere").mkdir()
    assert resolve_data_dir(None) == tmp_path / "elsewhere"


def test_data_dir_missing_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("TESSERA_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match=r"--data-dir.*TESSERA_DATA_DIR"):
        resolve_data_dir(None)
    with pytest.raises(FileNotFoundError, match=r"nowhere \(given\) does not exist: pass --data-dir"):
        resolve_data_dir(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"nowhere"):
        get_model("resnet20").build(tmp_path / "nowhere")


def test_missing_file_in_data_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"resnet-cifar10/resnet20-\*\.th"):
        get_model("resnet20").build(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\.gz not found"):
        get_model("mnist-lenet").evaluate(torch.nn.Identity(), tmp_path)


def test_bad_counts_are_refused():
    spec = get_model("digits-cnn")
    with pytest.raises(ValueError, match=r"positive"):
        spec.calibration(n_samples=0)
    with pytest.raises(ValueError, match=r"limit"):
        spec.evaluate(torch.nn.Identity(), limit=0)


def test_importing_the_zoo_loads_no_optional_package():
    loaded = top_level_modules_after("import tessera.zoo")
    heavy = {"sklearn", "scipy", "transformers", "sentence_transformers", "safetensors"}
    assert not loaded & heavy, f"import tessera.zoo loaded {sorted(loaded & heavy)}"


@pytest.fixture(scope="module")
def digits_cache(tmp_path_factory):
    """A cache folder holding the digits CNN, trained once for this module (a few seconds)."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESSERA_CACHE_DIR", str(folder))
        trained = get_model("digits-cnn").build()
    return folder, trained


def test_digits_cnn_trains_once_then_comes_from_the_cache(digits_cache, monkeypatch):
    folder, trained = digits_cache
    assert len(list(folder.glob("digits-cnn-*.safetensors"))) == 1
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(folder))
    spec = get_model("digits-cnn")
    cached = spec.build()
    for (name, a), b in zip(trained.state_dict().items(), cached.state_dict().values()):
        assert torch.equal(a, b), name
    assert not cached.training
    assert spec.evaluate(cached) > 95.0
    batches = spec.calibration(n_samples=70, batch_size=32)
    assert [tuple(b.shape) for b in batches] == [(32, 1, 8, 8), (32, 1, 8, 8), (6, 1, 8, 8)]


def test_progress_is_reported_up_to_the_total(digits_cache):
    calls = []
    get_model("digits-cnn").evaluate(
        digits_cache[1], limit=300, progress=lambda done, total: calls.append((done, total))
    )
    assert calls and calls[-1] == (300, 300)


def test_corrupted_cache_file_is_named(digits_cache, cache_dir):
    (cached,) = digits_cache[0].glob("digits-cnn-*.safetensors")
    cache_dir.mkdir()
    path = cache_dir / cached.name
    path.write_bytes(cached.read_bytes()[:1000])
    with pytest.raises(FileFormatError, match=rf"{path.name}: not a readable safetensors file.*delete it"):
        get_model("digits-cnn").build()


def test_every_public_function_and_class_is_documented():
    import tessera.zoo

    for info in pkgutil.iter_modules(tessera.zoo.__path__):
        module = importlib.import_module(f"tessera.zoo.{info.name}")
        assert inspect.getdoc(module), f"tessera.zoo.{info.name} has no docstring"
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert inspect.getdoc(obj), f"tessera.zoo.{info.name}.{name} has no docstring"
