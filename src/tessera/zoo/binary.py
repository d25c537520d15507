"""Binary and ternary MLPs that Tessera trains on MNIST with straight-through estimators.

Each evaluated model is an ``nn.Sequential`` fed the same normalised images as ``mnist-lenet``:
``Flatten``, then for every layer an activation (``Sign``, or ``Ternarize(0.5)``), a bias-free
``nn.Linear`` whose weights are exactly -1/+1 (binary) or -1/0/+1 (ternary) and a ``BatchNorm1d``
(the last one scales the logits). So every linear layer multiplies codes by codes, as a
compute-in-memory crossbar would.

Training uses real latent weights: the forward pass uses their codes (binary: their signs, latent
weights clipped to [-1, 1] after each step; ternary: TWN, ``alpha * sign(w) * [|w| > delta]`` with
``delta = 0.7 * mean|w|``) and gradients pass straight through. The trained model is exported to
the plain layers above, TWN's ``alpha`` folded into the following batch norm, and cached
(see ``tessera.zoo.cache``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from functools import partial
from itertools import pairwise
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tessera.zoo import mnist
from tessera.zoo.cache import cached_model
from tessera.zoo.registry import ModelSpec, register
from tessera.zoo.training import fit_classifier

MODELS = {  # name: (layer widths, inputs first; ternary)
    "mnist-bnn": ((784, 512, 512, 10), False),
    "mnist-bnn-small": ((784, 100, 10), False),
    "mnist-tnn": ((784, 512, 512, 10), True),
}
EPOCHS = {"mnist-bnn": 8, "mnist-bnn-small": 5, "mnist-tnn": 5}
SEED = 0
BATCH = 256
LEARNING_RATE = 1e-2
TERNARY_THRESHOLD = 0.5  # of the activations, in the units of the batch-normalised values
TWN_DELTA = 0.7  # weight threshold as a fraction of the layer's mean |latent weight|
SHIFT_PX = 1  # each training batch is shifted by up to this many pixels along each axis


def _sign_codes(x: torch.Tensor) -> torch.Tensor:
    return (x >= 0).to(x.dtype) * 2 - 1


def _ternary_codes(x: torch.Tensor, threshold: float) -> torch.Tensor:
    return (x > threshold).to(x.dtype) - (x < -threshold).to(x.dtype)


def _straight_through(x: torch.Tensor, codes: torch.Tensor, window: float) -> torch.Tensor:
    """``codes`` exactly in the forward pass; backward, the gradient reaches ``x`` where
    ``|x| <= window`` and is zero elsewhere."""
    passed = (x.abs() <= window).to(x.dtype)
    return codes.detach() + (x - x.detach()) * passed


class Sign(nn.Module):
    """+1.0 where ``x >= 0``, else -1.0. Training mode passes gradients straight through where
    ``|x| <= 1`` (clipped STE)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = _sign_codes(x)
        return _straight_through(x, codes, 1.0) if self.training else codes


class Ternarize(nn.Module):
    """+1.0 where ``x > threshold``, -1.0 where ``x < -threshold``, else 0.0. Training mode passes
    gradients straight through where ``|x| <= 2 * threshold`` (a margin of one threshold beyond
    each step)."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        if not threshold > 0:
            raise ValueError(f"Ternarize threshold must be positive, got {threshold}")
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = _ternary_codes(x, self.threshold)
        return _straight_through(x, codes, 2 * self.threshold) if self.training else codes

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


def _weight_codes(weight: torch.Tensor, ternary: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The codes of latent ``weight`` and the scale (a 0-d tensor) they are multiplied by: binary,
    their signs and 1; ternary, TWN's codes and ``alpha``."""
    weight = weight.detach()
    if not ternary:
        return _sign_codes(weight), torch.ones(())
    magnitude = weight.abs()
    codes = _ternary_codes(weight, TWN_DELTA * float(magnitude.mean()))
    return codes, magnitude[codes != 0].mean()


class LatentLinear(nn.Linear):
    """Training form of a bias-free linear layer: it keeps real latent weights but computes with
    their codes times a scale (binary: 1; ternary: TWN's alpha), gradients passed straight through."""

    def __init__(self, in_features: int, out_features: int, ternary: bool) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.ternary = ternary

    def codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight codes and the scale (a 0-d tensor) they are multiplied by."""
        return _weight_codes(self.weight, self.ternary)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes, scale = self.codes()
        window = math.inf if self.ternary else 1.0
        return F.linear(x, _straight_through(self.weight, codes * scale, window))

    def exported(self, codes: torch.Tensor) -> nn.Linear:
        """The evaluated layer: a bias-free ``nn.Linear`` whose weights are ``codes``."""
        linear = nn.Linear(self.in_features, self.out_features, bias=False)
        linear.weight.data.copy_(codes)
        return linear


class LatentConv2d(nn.Conv2d):
    """Training form of a bias-free binary convolution: it keeps real latent weights but computes
    with their signs, gradients passed straight through where ``|w| <= 1``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=False)

    def codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight signs and the scale 1."""
        return _weight_codes(self.weight, ternary=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes, _ = self.codes()
        return self._conv_forward(x, _straight_through(self.weight, codes, 1.0), None)

    def exported(self, codes: torch.Tensor) -> nn.Conv2d:
        """The evaluated layer: a bias-free ``nn.Conv2d`` of the same geometry whose weights are ``codes``."""
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, bias=False
        )
        conv.weight.data.copy_(codes)
        return conv


def _stack(widths: Sequence[int], ternary: bool, linear: Callable[[int, int], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in, n_out in pairwise(widths):
        layers += [
            Ternarize(TERNARY_THRESHOLD) if ternary else Sign(),
            linear(n_in, n_out),
            nn.BatchNorm1d(n_out),
        ]
    return nn.Sequential(*layers)


def mlp(widths: Sequence[int], ternary: bool) -> nn.Sequential:
    """The evaluated architecture: ``Flatten``, then per pair of consecutive ``widths`` the
    activation (``Sign``, or ``Ternarize(TERNARY_THRESHOLD)``), ``Linear(bias=False)``, ``BatchNorm1d``."""
    return _stack(widths, ternary, partial(nn.Linear, bias=False))


def export_latent(trained: nn.Sequential) -> nn.Sequential:
    """The evaluated model of a trained latent-weight one: each latent layer becomes a plain one
    whose weights are its codes, and the codes' scale is folded into the batch norm that follows
    (``BN(s * z) = BN'(z)`` with running mean divided by ``s`` and weight multiplied by ``s``)."""
    layers: list[nn.Module] = []
    scale = torch.ones(())
    with torch.no_grad():
        for layer in trained:
            if isinstance(layer, (LatentLinear, LatentConv2d)):
                codes, scale = layer.codes()
                layers.append(layer.exported(codes))
            elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                norm = copy.deepcopy(layer)
                norm.running_mean.div_(scale)
                norm.weight.mul_(scale)
                layers.append(norm)
            else:
                layers.append(copy.deepcopy(layer))
    return nn.Sequential(*layers).eval()


def clip_latent_weights(model: nn.Module) -> Callable[[], None]:
    """A step hook that clips the latent weights of ``model``'s binary layers to [-1, 1]."""
    latent = [
        layer.weight
        for layer in model.modules()
        if isinstance(layer, LatentConv2d) or (isinstance(layer, LatentLinear) and not layer.ternary)
    ]

    def clip() -> None:
        with torch.no_grad():
            for weight in latent:
                weight.clamp_(-1, 1)

    return clip


def _shifted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Normalised images (N, 1, 28, 28) moved by a random whole-pixel offset of at most
    ``SHIFT_PX`` along each axis, the pixels moved in being background."""
    background = -mnist.MEAN / mnist.STD
    padded = F.pad(images, (SHIFT_PX,) * 4, value=background)
    dy, dx = (SHIFT_PX + torch.randint(-SHIFT_PX, SHIFT_PX + 1, (2,), generator=generator)).tolist()
    return padded[..., dy : dy + images.shape[-2], dx : dx + images.shape[-1]]


def train_mlp(
    images: torch.Tensor,
    labels: torch.Tensor,
    widths: Sequence[int],
    ternary: bool,
    epochs: int,
    seed: int = SEED,
) -> nn.Sequential:
    """Train a latent-weight MLP on normalised images (N, 1, 28, 28), each batch randomly shifted
    (``SHIFT_PX``), with Adam (learning rate decaying linearly to zero); return it exported
    to the evaluated architecture (``mlp``), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _stack(widths, ternary, partial(LatentLinear, ternary=ternary))
    fit_classifier(
        model,
        images,
        labels,
        epochs,
        LEARNING_RATE,
        BATCH,
        generator,
        _shifted,
        None if ternary else clip_latent_weights(model),
    )
    return export_latent(model)


def build(name: str, data_dir: Path | None) -> nn.Module:
    """Model ``name`` of ``MODELS`` trained on the 60k training images, from the cache or trained now."""
    assert data_dir is not None
    widths, ternary = MODELS[name]
    epochs = EPOCHS[name]

    def train() -> nn.Module:
        images, labels = mnist.load_mnist(data_dir, "train")
        return train_mlp(mnist.normalise(images), labels, widths, ternary, epochs)

    recipe = {
        "widths": list(widths),
        "ternary": ternary,
        "activation_threshold": TERNARY_THRESHOLD if ternary else None,
        "twn_delta": TWN_DELTA if ternary else None,
        "epochs": epochs,
        "seed": SEED,
        "batch": BATCH,
        "lr": LEARNING_RATE,
        "schedule": "linear",
        "shift_px": SHIFT_PX,
    }
    return cached_model(name, recipe, lambda: mlp(widths, ternary), train)


def _describe(widths: Sequence[int], ternary: bool) -> str:
    shape = "-".join(str(width) for width in widths)
    if ternary:
        return (
            f"ternary MLP {shape}, {{-1, 0, +1}} weights (TWN) and activations, trained by Tessera with STE"
        )
    return f"binary MLP {shape}, ±1 weights and activations, trained by Tessera with STE"


def _spec(name: str) -> ModelSpec:
    widths, ternary = MODELS[name]
    return ModelSpec(
        name=name,
        metric="top1_pct",
        higher_is_better=True,
        dataset="MNIST test (10k images)",
        description=_describe(widths, ternary),
        needs_data=True,
        builder=partial(build, name),
        calibrator=mnist.calibration,
        evaluator=mnist.evaluate,
    )


SPECS = [register(_spec(name)) for name in MODELS]
