"""The binary CIFAR-10 CNN: thermometer input, the contract that every conv/linear layer multiplies
±1 by ±1 (im2col included), augmentation, short training and the cache."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tessera.hw.cim import Crossbar, get_mapping, map_to_cim, set_digital
from tessera.hw.cim.network import layer_rows
from tessera.zoo import binary_cifar, cifar, get_model

TRAIN_IMAGES = 2000  # the model under test trains one epoch on the first 2k training images


def test_thermometer_planes_by_hand():
    """Intensities 0, 0.5 and 1 in every channel: 8 levels at k/9 give 0, 4 and 8 planes of +1."""
    pixels = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    mean = torch.tensor(cifar.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cifar.STD).view(1, 3, 1, 1)
    planes = binary_cifar.Thermometer(8)((pixels - mean) / std)
    assert planes.shape == (1, 24, 1, 3)
    positives = (planes == 1).view(3, 8, 3).sum(dim=1)  # per channel, per pixel
    assert positives.tolist() == [[0, 4, 8]] * 3
    assert set(planes.unique().tolist()) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="at least 1"):
        binary_cifar.Thermometer(0)


def test_crops_and_flips_are_windows_of_the_padded_image():
    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = binary_cifar._crop_and_flip(images, torch.Generator().manual_seed(1))
    pad = binary_cifar.CROP_PAD_PX
    padded = F.pad(images, (pad,) * 4)
    windows = [
        padded[:, :, dy : dy + 32, dx : dx + 32] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
    ]
    flipped = 0
    for index in range(len(images)):
        plain = any(torch.equal(out[index], w[index]) for w in windows)
        mirrored = any(torch.equal(out[index], w[index].flip(-1)) for w in windows)
        assert plain or mirrored
        flipped += mirrored and not plain
    assert 0 < flipped < len(images)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """(cache folder, model) trained one epoch on the first ``TRAIN_IMAGES`` images in a fresh cache."""
    folder = tmp_path_factory.mktemp("cache")
    load = cifar.load_cifar10

    def first_train_images(data_dir, split, limit=None):
        return load(data_dir, split, TRAIN_IMAGES if split == "train" else limit)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESSERA_CACHE_DIR", str(folder))
        patch.setattr(binary_cifar, "EPOCHS", 1)
        patch.setattr(cifar, "load_cifar10", first_train_images)
        model = get_model("cifar10-bnn").build(data_dir)
    return folder, model


@pytest.fixture(scope="module")
def test_images(data_dir):
    images, _ = cifar.load_cifar10(data_dir, "test", limit=64)
    return cifar.normalise(images)


def conv_and_linear_inputs(model: nn.Module, images: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor]]:
    seen = []
    hooks = [
        m.register_forward_pre_hook(lambda module, args: seen.append((module, args[0])))
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@pytest.mark.data
def test_every_layer_multiplies_signs_by_signs_including_im2col(trained, test_images):
    _, model = trained
    seen = conv_and_linear_inputs(model, test_images)
    assert [type(m).__name__ for m, _ in seen] == ["Conv2d", "Conv2d", "Conv2d", "Linear"]
    for module, x in seen:
        assert module.bias is None
        assert set(module.weight.unique().tolist()) == {-1.0, 1.0}
        rows, _ = layer_rows(module, x)  # what a crossbar sees
        assert set(rows.unique().tolist()) == {-1.0, 1.0}, f"{module} is fed {rows.unique()[:5]}"


@pytest.mark.data
def test_one_short_epoch_beats_chance_and_crossbars_reproduce_it(trained, test_images, data_dir):
    """A 2k-image epoch is far from the full model (about 60 %) but above chance (10 %); the exact
    digital crossbar simulation gives the same logits as the model itself."""
    _, model = trained
    assert get_model("cifar10-bnn").evaluate(model, data_dir, limit=500) > 20.0
    on_crossbars = copy.deepcopy(model)
    report = map_to_cim(on_crossbars, Crossbar(), get_mapping("bnn-differential"))
    assert len(report.layers) == 4 and not report.skipped
    set_digital(on_crossbars, True)
    with torch.no_grad():
        assert torch.allclose(on_crossbars(test_images), model(test_images), atol=1e-4)


@pytest.mark.data
def test_the_cached_model_gives_identical_outputs(trained, test_images, data_dir, monkeypatch):
    folder, model = trained
    assert len(list(folder.glob("cifar10-bnn-*.safetensors"))) == 1
    monkeypatch.setenv("TESSERA_CACHE_DIR", str(folder))
    monkeypatch.setattr(binary_cifar, "EPOCHS", 1)
    monkeypatch.setattr(binary_cifar, "train_bnn", lambda *args, **kwargs: pytest.fail("retrained"))
    cached = get_model("cifar10-bnn").build(data_dir)
    assert not cached.training
    with torch.no_grad():
        assert torch.equal(cached(test_images), model(test_images))
