"""Per-layer integer bit widths for crossbar layers: their accuracy (post-training quantization) and
their crossbar latency.

A policy gives every convolution and linear layer (weight bits, input bits). Weights are quantized
per output channel and inputs per tensor (unsigned where calibration saw no negative input),
symmetric, to the integer grids the integer crossbar mappings store; each scale is the clipping of
the observed maximum (ratios 1.0 down to 0.2) with the least squared error, chosen once per layer
and bit width on calibration data. No fine-tuning: the accuracy is that of post-training
quantization. Latency comes from ``tessera.hw.cim.latency`` on the model's captured workload.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from tessera.hw.cim.latency import CIMArch, workload_cost
from tessera.workload import Workload

Policy = tuple[tuple[int, int], ...]
"""(weight bits, input bits) per crossbar layer, in model order."""

CLIP_RATIOS = torch.linspace(1.0, 0.2, 17)
MAX_CALIBRATION_VALUES = 200_000


def integer_grid(bits: int, signed: bool) -> tuple[int, int]:
    """Lowest and highest integer of a symmetric signed or an unsigned ``bits``-bit grid."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 16:
        raise ValueError(f"bit widths must be integers in 2..16, got {bits!r}")
    top = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    return (-top if signed else 0), top


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """``x`` rounded to the integer grid [low, high] times ``scale`` (broadcast against ``x``)."""
    return torch.clamp(torch.round(x / scale), low, high) * scale


def best_scale(x: torch.Tensor, bits: int, signed: bool, channel_dim: int | None = None) -> torch.Tensor:
    """The scale with the least squared quantization error among clippings of the maximum, per
    channel along ``channel_dim`` (a tensor broadcastable to ``x``) or for the whole tensor."""
    low, high = integer_grid(bits, signed)
    if channel_dim is None:
        values = x.reshape(1, -1)
    else:
        values = x.movedim(channel_dim, 0).reshape(x.shape[channel_dim], -1)
    amax = values.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    errors = torch.stack(
        [((fake_quantize(values, amax * r / high, low, high) - values) ** 2).sum(dim=1) for r in CLIP_RATIOS]
    )
    scale = amax.squeeze(1) * CLIP_RATIOS[errors.argmin(dim=0)] / high
    if channel_dim is None:
        return scale.reshape(())
    shape = [1] * x.dim()
    shape[channel_dim] = -1
    return scale.reshape(shape)


@dataclass(frozen=True)
class CrossbarLayerInfo:
    """What the search state says of one layer: its kind and shape (HAQ's features)."""

    name: str
    is_conv: bool
    in_channels: int
    out_channels: int
    stride: int
    kernel: int
    weights: int
    input_size: int


def crossbar_layers(model: nn.Module, workload: Workload) -> tuple[CrossbarLayerInfo, ...]:
    """The convolutions and linear layers of ``model`` in execution order (the workload's)."""
    modules = dict(model.named_modules())
    layers = []
    for op in workload.systolic_ops():
        module = modules.get(op.name)
        if op.kind not in ("conv2d", "gemm") or not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        is_conv = isinstance(module, nn.Conv2d)
        layers.append(
            CrossbarLayerInfo(
                name=op.name,
                is_conv=is_conv,
                in_channels=module.in_channels if is_conv else module.in_features,
                out_channels=module.out_channels if is_conv else module.out_features,
                stride=module.stride[0] if is_conv else 1,
                kernel=module.kernel_size[0] if is_conv else 1,
                weights=module.weight.numel(),
                input_size=op.inputs[0][-1] * op.inputs[0][-2] if is_conv else 1,
            )
        )
    if not layers:
        raise ValueError(f"{workload.name!r} has no convolution or linear layer to quantize")
    return tuple(layers)


class QuantizedAccuracy:
    """Top-1 accuracy (%) of ``model`` on ``images``/``labels`` under a policy; the model's weights
    are swapped for quantized ones during a call and restored after."""

    def __init__(
        self,
        model: nn.Module,
        layers: tuple[CrossbarLayerInfo, ...],
        calibration: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int = 500,
    ) -> None:
        self.model, self.layers = model.eval(), layers
        self.images, self.labels, self.batch_size = images, labels, batch_size
        modules = dict(model.named_modules())
        self.modules = [modules[layer.name] for layer in layers]
        self.originals = [module.weight.detach().clone() for module in self.modules]
        self.inputs = self._observe(calibration)
        self.signed = [bool((x < 0).any()) for x in self.inputs]
        self._weights: dict[tuple[int, int], torch.Tensor] = {}
        self._input_scales: dict[tuple[int, int], torch.Tensor] = {}
        self.cache: dict[Policy, float] = {}

    def _observe(self, calibration: torch.Tensor) -> list[torch.Tensor]:
        seen: list[list[torch.Tensor]] = [[] for _ in self.modules]
        hooks = [
            module.register_forward_pre_hook(lambda m, args, i=i: seen[i].append(args[0].detach().flatten()))
            for i, module in enumerate(self.modules)
        ]
        try:
            with torch.no_grad():
                self.model(calibration)
        finally:
            for hook in hooks:
                hook.remove()
        generator = torch.Generator().manual_seed(0)
        samples = []
        for values in seen:
            flat = torch.cat(values)
            if len(flat) > MAX_CALIBRATION_VALUES:
                flat = flat[torch.randperm(len(flat), generator=generator)[:MAX_CALIBRATION_VALUES]]
            samples.append(flat)
        return samples

    def quantized_weight(self, index: int, bits: int) -> torch.Tensor:
        key = (index, bits)
        if key not in self._weights:
            weight = self.originals[index]
            low, high = integer_grid(bits, True)
            self._weights[key] = fake_quantize(weight, best_scale(weight, bits, True, 0), low, high)
        return self._weights[key]

    def input_scale(self, index: int, bits: int) -> torch.Tensor:
        key = (index, bits)
        if key not in self._input_scales:
            self._input_scales[key] = best_scale(self.inputs[index], bits, self.signed[index])
        return self._input_scales[key]

    def __call__(self, policy: Policy) -> float:
        """Accuracy in percent; each distinct policy is evaluated once."""
        policy = tuple(policy)
        if len(policy) != len(self.layers):
            raise ValueError(f"a policy needs {len(self.layers)} (weight, input) pairs, got {len(policy)}")
        if policy not in self.cache:
            self.cache[policy] = self._evaluate(policy)
        return self.cache[policy]

    def _evaluate(self, policy: Policy) -> float:
        correct = 0
        with self.applied(policy), torch.no_grad():
            for start in range(0, len(self.labels), self.batch_size):
                logits = self.model(self.images[start : start + self.batch_size])
                correct += int((logits.argmax(dim=1) == self.labels[start : start + self.batch_size]).sum())
        return 100.0 * correct / len(self.labels)

    @contextmanager
    def applied(self, policy: Policy) -> Iterator[nn.Module]:
        """The model with ``policy``'s quantized weights and input quantizers, float again after."""
        hooks = []
        try:
            for i, (module, (weight_bits, input_bits)) in enumerate(zip(self.modules, policy)):
                module.weight.data.copy_(self.quantized_weight(i, weight_bits))
                scale = self.input_scale(i, input_bits)
                low, high = integer_grid(input_bits, self.signed[i])
                hooks.append(
                    module.register_forward_pre_hook(
                        lambda m, args, s=scale, lo=low, hi=high: (
                            fake_quantize(args[0], s, lo, hi),
                            *args[1:],
                        )
                    )
                )
            yield self.model
        finally:
            for hook in hooks:
                hook.remove()
            self.restore()

    def restore(self) -> None:
        """Put the float weights back."""
        for module, weight in zip(self.modules, self.originals):
            module.weight.data.copy_(weight)


def policy_latency_us(
    workload: Workload, layers: tuple[CrossbarLayerInfo, ...], policy: Policy, arch: CIMArch
) -> float:
    """Crossbar latency (write and execute, µs) of the workload under ``policy``."""
    bits = {layer.name: pair for layer, pair in zip(layers, policy)}
    return workload_cost(workload, arch, bits).latency_us
