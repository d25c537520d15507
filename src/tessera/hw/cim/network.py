"""Run a whole network on simulated crossbars: every ``nn.Linear`` and ``nn.Conv2d`` mapped.

``map_to_cim(model, crossbar, mapping)`` swaps each supported layer for a ``CIMLayer`` that computes
its matrix products on ``CrossbarLayer``s (convolutions through im2col) and adds the bias digitally;
``restore_cim`` puts the original layers back. Binary and ternary mappings use the layer's weights
and inputs as they are and reject anything outside their domain. Integer mappings quantize weights
per output channel (symmetric, ``weight_bits``) and inputs per layer (``input_bits``, signed when
calibration saw negative inputs, scale from the calibration maximum) and rescale the integer result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from tessera.hw.cim.device import Crossbar
from tessera.hw.cim.engine import CrossbarLayer, Footprint
from tessera.hw.cim.mapping import Mapping, _Integer

IM2COL_CHUNK_ELEMENTS = 1 << 20
"""Convolutions on crossbars are computed a few images at a time, so that their im2col rows (about
this many values) stay small enough to be reused from memory already allocated."""


@dataclass
class MappedLayer:
    """A layer on crossbars: its name, shape and footprint."""

    name: str
    kind: str
    in_features: int
    out_features: int
    footprint: Footprint


@dataclass
class CIMReport:
    """What ``map_to_cim`` did: the mapped layers and those left in place, with why."""

    mapping: str
    crossbar: Crossbar
    layers: list[MappedLayer] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def crossbars(self) -> int:
        return sum(layer.footprint.crossbars for layer in self.layers)


class CIMLayer(nn.Module):
    """A Linear or Conv2d whose products run on crossbars. ``digital``: exact integer products
    instead of the analog read path (``None``: exact only for an ideal crossbar)."""

    def __init__(
        self, original: nn.Linear | nn.Conv2d, mapping: Mapping, crossbar: Crossbar, seed: int
    ) -> None:
        super().__init__()
        self.original = original
        self.mapping = mapping
        self.crossbar_config = crossbar
        self.seed = seed
        self.digital: bool | None = None
        weight = original.weight.detach().reshape(original.weight.shape[0], -1).float()
        if isinstance(mapping, _Integer):
            limit = (1 << (mapping.weight_bits - 1)) - 1
            amax = weight.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny)
            self.weight_scale = amax / limit
            weight = torch.round(weight / self.weight_scale[:, None]).clamp(-limit, limit)
        else:
            self.weight_scale = None
        self.input_scale: float | None = None
        self.crossbar = CrossbarLayer(weight, mapping, crossbar, torch.Generator().manual_seed(seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's output; crossbar products carry no gradient (inference only). Convolutions
        run on groups of images whose im2col rows hold about ``IM2COL_CHUNK_ELEMENTS`` values."""
        if isinstance(self.original, nn.Conv2d):
            height, width = conv_output_size(self.original, x.shape[-2:])
            per_image = height * width * self.crossbar.in_features
            images = max(1, IM2COL_CHUNK_ELEMENTS // per_image)
            if len(x) > images:
                return torch.cat([self._forward(part) for part in x.split(images)])
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, restore_shape = layer_rows(self.original, x.detach())
        y = self.crossbar.forward(self._integer_inputs(rows), self.digital).to(x.dtype)
        if self.weight_scale is not None:
            y = y * (self.weight_scale * self._input_scale())
        if self.original.bias is not None:
            y = y + self.original.bias
        return restore_shape(y)

    def set_input_range(self, low: float, high: float) -> None:
        """Integer mappings: inputs signed if ``low < 0``, scaled so ``max(|low|, |high|)`` is the
        largest input code."""
        assert isinstance(self.mapping, _Integer)
        self.mapping = dataclasses.replace(self.mapping, input_signed=low < 0)
        self.crossbar.mapping = self.mapping
        largest = max(abs(low), abs(high), torch.finfo(torch.float32).tiny)
        self.input_scale = largest / self.mapping.input_range[1]

    def integer_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The integer input vectors (N, in) the crossbars see for layer input ``x``."""
        return self._integer_inputs(layer_rows(self.original, x)[0])

    def _input_scale(self) -> float:
        if self.input_scale is None:
            raise RuntimeError("integer mappings scale inputs from calibration data: map with calib")
        return self.input_scale

    def _integer_inputs(self, rows: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.mapping, _Integer):
            return rows
        low, high = self.mapping.input_range
        return torch.round(rows / self._input_scale()).clamp(low, high)


Reshape = Callable[[torch.Tensor], torch.Tensor]


def layer_rows(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Reshape]:
    """Input vectors (N, in) of a Linear or Conv2d (im2col) and a function from its (N, out) products
    back to the layer's output shape."""
    if isinstance(layer, nn.Linear):
        lead = x.shape[:-1]
        return x.reshape(-1, x.shape[-1]), lambda y: y.reshape(*lead, y.shape[-1])
    assert isinstance(layer, nn.Conv2d)
    batch = x.shape[0]
    height, width = conv_output_size(layer, x.shape[-2:])
    rows = _patches(layer, x).reshape(batch * height * width, -1)

    def to_map(y: torch.Tensor) -> torch.Tensor:
        return y.reshape(batch, height * width, -1).transpose(1, 2).reshape(batch, -1, height, width)

    return rows, to_map


def _patches(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """im2col as (batch, positions, channels * kh * kw), in the order of the flattened weights."""
    if layer.dilation != (1, 1):
        patches = F.unfold(x, layer.kernel_size, layer.dilation, layer.padding, layer.stride)
        return patches.transpose(1, 2)
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    padded = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
    windows = padded.unfold(2, kh, sh).unfold(3, kw, sw)  # a view: (batch, C, H', W', kh, kw)
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(x.shape[0], windows.shape[2] * windows.shape[3], -1)


def conv_output_size(layer: nn.Conv2d, size: Iterable[int]) -> tuple[int, int]:
    """Output height and width of ``layer`` for an input of ``size`` (height, width)."""
    out = []
    for dim, extent in enumerate(size):
        span = layer.dilation[dim] * (layer.kernel_size[dim] - 1) + 1
        out.append((extent + 2 * layer.padding[dim] - span) // layer.stride[dim] + 1)
    return out[0], out[1]


def _unsupported(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            return f"grouped convolution (groups={module.groups})"
        if not isinstance(module.padding, tuple) or module.padding_mode != "zeros":
            return "padding other than explicit zero padding"
    return None


def map_to_cim(
    model: nn.Module,
    crossbar: Crossbar,
    mapping: Mapping,
    calib: Iterable[Any] | None = None,
    seed: int = 0,
) -> CIMReport:
    """Swap every Linear and Conv2d of ``model`` for a ``CIMLayer`` (in place) and return a report.

    Layers are programmed with device-to-device variability drawn from ``seed``. ``calib`` (model
    inputs, each fed as ``model(batch)``) is needed for integer mappings (input scales, observed on
    the float model) and calibrated ADC ranges (noise-free signals of the exact network). Nothing
    is swapped if any layer's weights are outside the mapping's domain.
    """
    needs_calib = isinstance(mapping, _Integer) or crossbar.adc_mode == "calibrated"
    if needs_calib and calib is None:
        raise ValueError(
            f"mapping {mapping.name!r} with adc_mode {crossbar.adc_mode!r} needs calibration inputs (calib)"
        )
    batches = list(calib) if calib is not None else []
    report = CIMReport(mapping.name, crossbar)
    replacements: dict[str, CIMLayer] = {}
    for index, (name, module) in enumerate(model.named_modules()):
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        reason = _unsupported(module)
        if reason is not None:
            report.skipped[name] = reason
            continue
        try:
            replacements[name] = CIMLayer(module, mapping, crossbar, seed * 100_003 + index)
        except ValueError as err:
            raise ValueError(f"layer {name!r} ({_describe(module)}): {err}") from err
    if isinstance(mapping, _Integer):
        _set_input_scales(model, list(replacements.values()), batches)
    for name, layer in replacements.items():
        _set_submodule(model, name, layer)
        xbar = layer.crossbar
        kind = type(layer.original).__name__
        report.layers.append(MappedLayer(name, kind, xbar.in_features, xbar.out_features, xbar.footprint))
    if crossbar.adc_mode == "calibrated":
        try:
            _calibrate_adc(model, list(replacements.values()), batches)
        except Exception:
            restore_cim(model)
            raise
    return report


def _run(model: nn.Module, batches: list[Any], hooks: list[tuple[nn.Module, Callable]]) -> None:
    """Feed ``batches`` to ``model`` (no gradients) with forward pre-hooks ``hook(module, input)``."""
    handles = [
        module.register_forward_pre_hook(lambda m, args, h=hook: h(m, args[0])) for module, hook in hooks
    ]
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for handle in handles:
            handle.remove()


def _set_input_scales(model: nn.Module, layers: list[CIMLayer], batches: list[Any]) -> None:
    """Integer layers: signedness and scale of the inputs, from the float model on ``batches``."""
    seen: dict[nn.Module, tuple[float, float]] = {}

    def observe(module: nn.Module, x: torch.Tensor) -> None:
        rows = layer_rows(module, x)[0]
        low, high = seen.get(module, (0.0, 0.0))
        seen[module] = (min(low, float(rows.min())), max(high, float(rows.max())))

    _run(model, batches, [(layer.original, observe) for layer in layers])
    for layer in layers:
        low, high = seen.get(layer.original, (0.0, 0.0))
        layer.set_input_range(low, high)


def _calibrate_adc(model: nn.Module, layers: list[CIMLayer], batches: list[Any]) -> None:
    """Calibrated ADCs: each layer's range is that of its noise-free signals in the exact network."""
    saved = {layer: layer.digital for layer in layers}
    for layer in layers:
        layer.digital = True
        layer.crossbar.reset_adc_range()
    try:
        _run(model, batches, [(layer, _widen_adc_range) for layer in layers])
    finally:
        for layer, digital in saved.items():
            layer.digital = digital


def _widen_adc_range(layer: CIMLayer, x: torch.Tensor) -> None:
    layer.crossbar.widen_adc_range(layer.integer_rows(x))


def restore_cim(model: nn.Module) -> int:
    """Put back the original layer of every ``CIMLayer`` in ``model``; returns how many."""
    names = [name for name, module in model.named_modules() if isinstance(module, CIMLayer)]
    for name in names:
        _set_submodule(model, name, model.get_submodule(name).original)
    return len(names)


def set_digital(model: nn.Module, digital: bool | None) -> None:
    """Make every CIM layer exact (``True``), analog (``False``) or exact only if ideal (``None``)."""
    for module in model.modules():
        if isinstance(module, CIMLayer):
            module.digital = digital


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}->{module.out_features}"
    assert isinstance(module, nn.Conv2d)
    return f"Conv2d {module.in_channels}->{module.out_channels}, kernel {tuple(module.kernel_size)}"
