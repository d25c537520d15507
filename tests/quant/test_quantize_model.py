"""quantize_ on real models and data: layer swapping, reports, restore, and what each method buys."""

import pytest
import torch
from torch import nn

from tessera import quantize
from tessera.quant import QuantConfig, QuantizedLayer, quantize_, restore
from tessera.zoo.digits import accuracy, load_digits_split, train_digits_cnn


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    return split, train_digits_cnn(split)


def calibration(split, n=256):
    return [split.train_images[i : i + 64] for i in range(0, n, 64)]


def test_rtn_swaps_every_supported_layer_and_restores(digits):
    split, model = digits
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = quantize_(model, QuantConfig(weights="mxfp4", activations="mxfp8_e4m3"))
    swapped = [m for m in model.modules() if isinstance(m, QuantizedLayer)]
    assert len(swapped) == len(report.layers) == 4
    conv = model[0]
    assert torch.equal(conv.weight, quantize(conv.original.weight.detach(), "mxfp4", axis=1))
    assert accuracy(model, split.test_images, split.test_labels) > 0.95
    assert restore(model) == 4
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unsupported_layers_are_listed_not_fatal():
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 4), nn.ConvTranspose2d(4, 4, 3))
    report = quantize_(model, QuantConfig(weights="mxint8"))
    assert [layer.name for layer in report.layers] == ["1"]
    assert dict(report.left_in_place) == {
        "0": "unsupported layer type Embedding",
        "2": "unsupported layer type ConvTranspose2d",
    }


def test_data_aware_methods_need_calibration(digits):
    _, model = digits
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_(model, QuantConfig(weights="mxfp4", method="gptq"))


def test_double_quantization_is_refused(digits):
    _, model = digits
    quantize_(model, QuantConfig(weights="mxint8"))
    try:
        with pytest.raises(ValueError, match="already quantized"):
            quantize_(model, QuantConfig(weights="mxint8"))
    finally:
        restore(model)


def layer_output_error(split, model, method, fmt="mxfp4"):
    """Output MSE of the first linear layer (512 -> 64) on held-out digits, after quantize_."""
    probe = nn.Sequential(*list(model)[:7])
    target = nn.Sequential(*list(model)[:6])
    with torch.no_grad():
        x = target(split.test_images)
        reference = probe(split.test_images)
    quantize_(
        model, QuantConfig(weights=fmt, method=method, calibration_samples=512), calib=calibration(split, 512)
    )
    try:
        with torch.no_grad():
            return float((model[6](x) - reference).pow(2).mean())
    finally:
        restore(model)


@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4", "int4_g32", "mxint8"])
@pytest.mark.parametrize("method", ["gptq", "ed"])
def test_data_aware_methods_lower_layer_output_error(digits, method, fmt):
    split, model = digits
    rtn = layer_output_error(split, model, "rtn", fmt)
    assert layer_output_error(split, model, method, fmt) < rtn


def test_smoothquant_keeps_the_float_function(digits):
    split, model = digits
    with torch.no_grad():
        reference = model(split.test_images)
    config = QuantConfig(weights="fp32", activations="fp32", smoothquant=0.5)
    quantize_(model, config, calib=calibration(split))
    try:
        assert any(m.input_scale is not None for m in model.modules() if isinstance(m, QuantizedLayer))
        with torch.no_grad():
            torch.testing.assert_close(model(split.test_images), reference, rtol=1e-4, atol=1e-4)
    finally:
        restore(model)


def test_progress_is_reported(digits):
    _, model = digits
    seen = []
    quantize_(
        model,
        QuantConfig(weights="mxint8"),
        progress=lambda done, total, name: seen.append((done, total, name)),
    )
    restore(model)
    assert seen[-1][:2] == (4, 4)


def test_calibration_of_the_wrong_shape_is_named_and_the_model_is_left_as_it_was(digits):
    _, model = digits
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"calibration batch 0 \(tensor 4x3x8x8\) does not fit the model"):
        quantize_(model, QuantConfig(weights="mxfp4", method="gptq"), calib=[torch.randn(4, 3, 8, 8)])
    assert not any(isinstance(m, QuantizedLayer) for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
