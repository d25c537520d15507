"""A fully binary CNN that Tessera trains on CIFAR-10 with straight-through estimators.

Every convolution and linear layer multiplies ±1 weights by ±1 inputs, so the whole network can
run on binary compute-in-memory crossbars (convolutions through im2col):

- the input is a thermometer code (``Thermometer``): each pixel of the normalised image is
  compared, per RGB channel, with ``LEVELS`` evenly spaced intensities, giving ``3 * LEVELS``
  planes of ±1;
- convolutions are padded with -1 (``nn.ConstantPad2d``) instead of zeros, so every im2col entry
  is ±1;
- ``WIDTHS`` blocks of [``Sign``,] pad, bias-free 3x3 ``Conv2d``, ``BatchNorm2d``, ``MaxPool2d(2)``
  (the first block takes the thermometer planes directly), then ``Sign``, ``Flatten``, a bias-free
  ``Linear`` and a ``BatchNorm1d`` that scales the logits.

Training keeps real latent weights and computes with their signs (``tessera.zoo.binary``), on the
20k training images of the data folder with random 4-pixel crops and horizontal flips. The first
``build`` trains for a few minutes (progress on stderr) and caches the model.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tessera.zoo import cifar, resnet
from tessera.zoo.binary import LatentConv2d, LatentLinear, Sign, clip_latent_weights, export_latent
from tessera.zoo.cache import cached_model
from tessera.zoo.registry import ModelSpec, register
from tessera.zoo.training import fit_classifier

NAME = "cifar10-bnn"
LEVELS = 8  # thermometer thresholds per RGB channel
WIDTHS = (32, 64, 128)  # output channels of the conv blocks, each halving the 32x32 image
EPOCHS = 15
SEED = 0
BATCH = 128
LEARNING_RATE = 5e-3
CROP_PAD_PX = 4


class Thermometer(nn.Module):
    """Normalised CIFAR images (N, 3, H, W) to ±1 planes (N, 3 * levels, H, W): plane ``(c, k)`` is
    +1 where channel ``c``'s pixel intensity in [0, 1] exceeds ``k / (levels + 1)``, k = 1..levels."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"Thermometer levels must be at least 1, got {levels}")
        self.levels = levels
        intensities = torch.arange(1, levels + 1) / (levels + 1)
        mean = torch.tensor(cifar.MEAN).view(3, 1)
        std = torch.tensor(cifar.STD).view(3, 1)
        thresholds = (intensities.view(1, -1) - mean) / std  # in normalised units, (3, levels)
        self.register_buffer("thresholds", thresholds.view(1, 3, levels, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        above = x.unsqueeze(2) > self.thresholds
        return torch.where(above, 1.0, -1.0).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"levels={self.levels}"


def _network(conv: type[nn.Conv2d], linear: type[nn.Linear]) -> nn.Sequential:
    layers: list[nn.Module] = [Thermometer(LEVELS)]
    channels, size = 3 * LEVELS, 32
    for index, width in enumerate(WIDTHS):
        if index:
            layers.append(Sign())
        layers += [
            nn.ConstantPad2d(1, -1.0),
            conv(channels, width, 3),
            nn.BatchNorm2d(width),
            nn.MaxPool2d(2),
        ]
        channels, size = width, size // 2
    layers += [Sign(), nn.Flatten(), linear(channels * size * size, 10), nn.BatchNorm1d(10)]
    return nn.Sequential(*layers)


def architecture() -> nn.Sequential:
    """The evaluated network, untrained: plain bias-free ``Conv2d`` and ``Linear`` layers."""
    return _network(partial(nn.Conv2d, bias=False), partial(nn.Linear, bias=False))  # type: ignore[arg-type]


def _crop_and_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by up to ``CROP_PAD_PX`` pixels per axis (the edge filled with the mean
    colour, 0 after normalisation) and mirrored left-right with probability 1/2."""
    count, _, height, width = images.shape
    padded = F.pad(images, (CROP_PAD_PX,) * 4)
    dy, dx = torch.randint(0, 2 * CROP_PAD_PX + 1, (2, count, 1), generator=generator)
    rows = (dy + torch.arange(height))[:, None, :, None]
    cols = (dx + torch.arange(width))[:, None, None, :]
    flip = torch.rand(count, generator=generator) < 0.5
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    return padded[torch.arange(count)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]


def train_bnn(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int = SEED) -> nn.Sequential:
    """Train the latent-weight network on normalised images (N, 3, 32, 32) with Adam (learning rate
    decaying linearly to zero), reporting each epoch on stderr; return the evaluated network."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _network(LatentConv2d, partial(LatentLinear, ternary=False))  # type: ignore[arg-type]
    for layer in model:
        if isinstance(layer, nn.Conv2d):  # channels-last weights: CPU convolutions run faster
            layer.to(memory_format=torch.channels_last)

    def report(epoch: int, loss: float) -> None:
        print(f"{NAME}: trained epoch {epoch}/{epochs}, loss {loss:.3f}", file=sys.stderr, flush=True)

    fit_classifier(
        model,
        images,
        labels,
        epochs,
        LEARNING_RATE,
        BATCH,
        generator,
        _crop_and_flip,
        clip_latent_weights(model),
        report,
    )
    return export_latent(model)


def build(data_dir: Path | None) -> nn.Module:
    """The network trained on the training batches of the data folder, from the cache or trained now."""
    assert data_dir is not None

    def train() -> nn.Module:
        print(
            f"{NAME}: first use, training for {EPOCHS} epochs (a few minutes; cached afterwards)",
            file=sys.stderr,
        )
        images, labels = cifar.load_cifar10(data_dir, "train")
        return train_bnn(cifar.normalise(images), labels, EPOCHS)

    recipe = {
        "levels": LEVELS,
        "widths": list(WIDTHS),
        "epochs": EPOCHS,
        "seed": SEED,
        "batch": BATCH,
        "lr": LEARNING_RATE,
        "schedule": "linear",
        "crop_pad_px": CROP_PAD_PX,
        "flip": True,
    }
    return cached_model(NAME, recipe, architecture, train)


SPEC = register(
    ModelSpec(
        name=NAME,
        metric="top1_pct",
        higher_is_better=True,
        dataset="CIFAR-10 test (JPEG q75)",
        description=(
            f"binary CNN {'-'.join(map(str, WIDTHS))} on a {LEVELS}-level thermometer input, ±1 weights "
            "and activations everywhere, trained by Tessera with STE on 20k images"
        ),
        needs_data=True,
        builder=build,
        calibrator=resnet.calibration,
        evaluator=resnet.evaluate,
    )
)
