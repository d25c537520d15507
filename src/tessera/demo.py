"""The quick-start job: how much accuracy a real model keeps in each number format.

Trains the embedded digits CNN (scikit-learn's bundled digits), then for each format quantizes
the weights along their reduction dimension, and optionally the inputs of every convolution and
linear layer along their channels, and measures test accuracy and weight SQNR.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from tessera.formats import get_format, quantize
from tessera.zoo import get_model
from tessera.zoo.digits import accuracy, load_digits_split, train_digits_cnn

DEFAULT_FORMATS = (
    "fp16",
    "bf16",
    "e4m3",
    "e5m2",
    "mxfp8_e4m3",
    "mxfp8_e5m2",
    "mxint8",
    "mxfp6_e2m3",
    "mxfp6_e3m2",
    "mxfp4",
    "nvfp4",
    "int8_channel",
    "int4_g32",
    "e2m1",
    "ternary:fp32:axis",
)


@dataclass(frozen=True)
class FormatResult:
    """One format's outcome; accuracies in percent, SQNR in dB."""

    format: str
    bits_per_element: float
    weight_sqnr_db: float
    accuracy_weights_pct: float
    accuracy_weights_acts_pct: float


@dataclass(frozen=True)
class DemoReport:
    model: str
    dataset: str
    test_images: int
    fp32_accuracy_pct: float
    seconds: float
    results: list[FormatResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def run_demo(
    formats: Sequence[str] = DEFAULT_FORMATS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> DemoReport:
    """Train the digits CNN and evaluate it in every format (names checked before training)."""
    checked = [get_format(name) for name in formats]
    start = time.perf_counter()
    report = progress or (lambda message: None)
    report("training the digits CNN on scikit-learn's bundled digits (cached after the first run)")
    split = load_digits_split(seed=seed)
    model = get_model("digits-cnn").build() if seed == 0 else train_digits_cnn(split, seed=seed)
    images, labels = split.test_images, split.test_labels
    results = []
    for fmt in checked:
        report(f"evaluating {fmt.name}")
        weights_only = quantized_copy(model, fmt.name, activations=False)
        both = quantized_copy(model, fmt.name, activations=True)
        results.append(
            FormatResult(
                format=fmt.name,
                bits_per_element=float(getattr(fmt, "bits_per_element", fmt.bits)),
                weight_sqnr_db=weight_sqnr_db(model, weights_only),
                accuracy_weights_pct=100 * accuracy(weights_only, images, labels),
                accuracy_weights_acts_pct=100 * accuracy(both, images, labels),
            )
        )
    return DemoReport(
        model="digits-cnn",
        dataset="sklearn digits (test split)",
        test_images=len(labels),
        fp32_accuracy_pct=100 * accuracy(model, images, labels),
        seconds=time.perf_counter() - start,
        results=results,
    )


def quantized_copy(model: nn.Module, fmt: str, activations: bool) -> nn.Module:
    """A copy whose conv/linear weights are quantized along their reduction dimension and,
    with ``activations``, whose conv/linear inputs are quantized along their channels."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                flat = module.weight.reshape(module.weight.shape[0], -1)
                module.weight.copy_(quantize(flat, fmt, axis=-1).reshape(module.weight.shape))
            if activations:
                axis = 1 if isinstance(module, nn.Conv2d) else -1
                module.register_forward_pre_hook(
                    lambda _, args, axis=axis: (quantize(args[0], fmt, axis=axis),)
                )
    return clone


def weight_sqnr_db(reference: nn.Module, quantized: nn.Module) -> float:
    """SQNR over all conv/linear weights, in dB."""
    signal = noise = 0.0
    for ref, q in zip(reference.modules(), quantized.modules()):
        if isinstance(ref, (nn.Conv2d, nn.Linear)):
            w, wq = ref.weight.detach().double(), q.weight.detach().double()
            signal += float(w.pow(2).sum())
            noise += float((w - wq).pow(2).sum())
    return float("inf") if noise == 0 else 10 * torch.log10(torch.tensor(signal / noise)).item()
