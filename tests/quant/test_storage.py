"""Saved quantized models: packed bits on disk, exact reload, clear errors, nothing overwritten."""

import json

import pytest
import torch

import tessera
from tessera.quant import QuantConfig, QuantizedLayer
from tessera.zoo.digits import digits_cnn, load_digits_split, train_digits_cnn


@pytest.fixture(scope="module")
def trained():
    split = load_digits_split()
    return split, train_digits_cnn(split)


@pytest.mark.parametrize(
    ("fmt", "method"), [("mxfp4", "rtn"), ("nvfp4", "rtn"), ("mxfp6_e2m3", "gptq"), ("uint4_g32_zp", "rtn")]
)
def test_save_load_reproduces_outputs(tmp_path, trained, fmt, method):
    split, model = trained
    config = QuantConfig(weights=fmt, activations="mxfp8_e4m3", method=method)
    tessera.quantize_(model, config, calib=[split.train_images[:128]])
    try:
        with torch.no_grad():
            expected = model(split.test_images)
        tessera.save(model, tmp_path / "q", config, model_name="digits-cnn")
    finally:
        tessera.restore(model)
    loaded = tessera.load(tmp_path / "q", digits_cnn())
    assert sum(isinstance(m, QuantizedLayer) for m in loaded.modules()) == 4
    with torch.no_grad():
        assert torch.equal(loaded(split.test_images), expected)
    meta = json.loads((tmp_path / "q" / "tessera.json").read_text())
    assert meta["model"] == "digits-cnn" and meta["config"]["weights"] == fmt


def test_packed_file_is_small(tmp_path, trained):
    _split, model = trained
    tessera.quantize_(model, QuantConfig(weights="mxfp4"))
    try:
        tessera.save(model, tmp_path / "q")
    finally:
        tessera.restore(model)
    float_bytes = sum(p.numel() * 4 for p in model.parameters())
    assert (tmp_path / "q" / "weights.safetensors").stat().st_size < float_bytes / 5


def test_existing_folder_is_not_overwritten(tmp_path, trained):
    _, model = trained
    tessera.quantize_(model, QuantConfig(weights="mxint8"))
    try:
        tessera.save(model, tmp_path / "q")
        with pytest.raises(FileExistsError, match="overwrite=True"):
            tessera.save(model, tmp_path / "q")
        tessera.save(model, tmp_path / "q", overwrite=True)
    finally:
        tessera.restore(model)


def test_bad_folders_get_clear_errors(tmp_path, trained):
    _, model = trained
    with pytest.raises(FileNotFoundError, match="holds no saved Tessera model"):
        tessera.load(tmp_path, digits_cnn())
    tessera.quantize_(model, QuantConfig(weights="mxint8"))
    try:
        tessera.save(model, tmp_path / "q")
    finally:
        tessera.restore(model)
    weights = tmp_path / "q" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="missing or corrupted"):
        tessera.load(tmp_path / "q", digits_cnn())
