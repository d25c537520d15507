"""Block layout and shared-scale selection for block formats.

A tensor is viewed as blocks of ``block_size`` elements along one axis (zero-padded at the end
of the axis when its length is not a multiple); each block gets a scale chosen from its largest
magnitude ``amax``; the elements are divided by the scale and rounded onto the element grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tessera.formats.block import BlockFormat
from tessera.formats.elements import element_compute_dtype, round_elements_
from tessera.formats.kernels import pow2, round_fixed_, round_float_
from tessera.formats.scalar import FP32, FloatFormat, IntFormat

# scale mode -> rounding of amax / element_max onto a float scale format
_FLOAT_SCALE_ROUNDING = {"even": "nearest_even", "floor": "toward_zero", "ceil": "up", "rceil": "up"}


@dataclass(frozen=True)
class BlockLayout:
    """How a tensor maps onto blocks: the quantization axis moved last, padded, reshaped."""

    shape: tuple[int, ...]
    axis: int
    block: int

    @classmethod
    def of(cls, shape: tuple[int, ...], fmt: BlockFormat, axis: int) -> BlockLayout:
        shape = tuple(shape) or (1,)
        return cls(shape, axis, fmt.block_size or max(shape[axis], 1))

    @property
    def moved_shape(self) -> tuple[int, ...]:
        """The shape with the quantization axis last."""
        return self.shape[: self.axis] + self.shape[self.axis + 1 :] + (self.length,)

    @property
    def length(self) -> int:
        return self.shape[self.axis]

    @property
    def padding(self) -> int:
        return -self.length % self.block

    @property
    def n_blocks(self) -> int:
        rows = 1
        for i, size in enumerate(self.shape):
            rows *= 1 if i == self.axis else size
        return rows * ((self.length + self.padding) // self.block)

    def to_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n_blocks_along_axis, block) view or copy of ``x``."""
        moved = x.movedim(self.axis, -1)
        if self.padding:
            moved = F.pad(moved, (0, self.padding))
        return moved.reshape(*moved.shape[:-1], -1, self.block)

    def from_blocks(self, blocks: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_blocks``: strip the padding and move the axis back."""
        flat = blocks.reshape(*blocks.shape[:-2], -1)[..., : self.length]
        return flat.movedim(-1, self.axis)


@dataclass
class BlockQuantized:
    """The parts of a block-quantized tensor, in blocked layout (see ``BlockLayout``).

    ``elements``: values on the element grid (for zero-point formats: the unsigned integers);
    ``scale``: the effective scale per block, shape (..., n, 1), NaN for blocks holding NaN or
    Inf; ``scale_exponent`` (power-of-two scales) or ``block_scale`` (float scales, before the
    tensor scale) are what gets encoded.
    """

    layout: BlockLayout
    elements: torch.Tensor
    scale: torch.Tensor
    scale_exponent: torch.Tensor | None = None
    block_scale: torch.Tensor | None = None
    tensor_scale: float | None = None
    zero_point: torch.Tensor | None = None

    def dequantized(self) -> torch.Tensor:
        """Elements times scales, in blocked layout (computed in place on ``elements``)."""
        values = self.elements
        if self.zero_point is not None:
            values = values.sub_(self.zero_point)
        return values.mul_(self.scale)


def quantize_blocks(
    x: torch.Tensor, fmt: BlockFormat, axis: int, rounding: str, noise: torch.Tensor | None
) -> BlockQuantized:
    """Choose each block's scale and round its elements. ``x`` is float, ``axis`` normalized."""
    layout = BlockLayout.of(x.shape, fmt, axis)
    dtype = element_compute_dtype(fmt.element, x.dtype, scaled=True)
    blocks = layout.to_blocks(x.to(dtype))
    block_noise = layout.to_blocks(noise.to(dtype)) if noise is not None else None
    if fmt.zero_point:
        return _quantize_zero_point(blocks, fmt, layout, rounding, block_noise)
    amax = torch.maximum(blocks.amax(-1, keepdim=True), blocks.amin(-1, keepdim=True).neg_())
    if fmt.pow2_scale:
        exponent = pow2_scale_exponent(amax, fmt)
        bad = exponent == NAN_EXPONENT
        finite_exponent = exponent.masked_fill(bad, 0)
        scale = pow2(finite_exponent, dtype).masked_fill_(bad, torch.nan)
        scaled = blocks * pow2(-finite_exponent, dtype).masked_fill_(bad, torch.nan)
        result = BlockQuantized(layout, scaled, scale, scale_exponent=exponent)
    else:
        block_scale, tensor_scale = float_block_scale(amax, fmt)
        scale = block_scale if tensor_scale is None else block_scale * tensor_scale
        divisor = scale.masked_fill(scale == 0, torch.inf)
        scaled = blocks / divisor
        result = BlockQuantized(layout, scaled, scale, block_scale=block_scale, tensor_scale=tensor_scale)
    round_elements_(result.elements, fmt.element, rounding, block_noise, sign_source=blocks)
    return result


NAN_EXPONENT = -(2**20)  # marks blocks whose scale is NaN (they held NaN or Inf)


def pow2_scale_exponent(amax: torch.Tensor, fmt: BlockFormat) -> torch.Tensor:
    """The shared exponent e (scale 2^e) per block, by ``fmt.scale_mode``; NAN_EXPONENT for bad blocks.

    floor: floor(log2 amax) - emax_elem (OCP MX); ceil: ceil(log2 amax) - emax_elem;
    rceil: ceil(log2(amax / max_elem)), which never clips; even: floor of amax first rounded
    to the element's precision. Clamped to the scale format's range; amax = 0 takes the lowest.
    """
    elem, bias = fmt.element, fmt.scale.bias
    finite = torch.isfinite(amax)
    mantissa, exp = torch.frexp(amax.masked_fill(~finite, 0.0))  # amax = mantissa * 2^exp
    exponent = exp.to(torch.int32) - 1 - elem.emax
    top = mantissa * 2.0 ** (elem.emax + 1)  # amax / 2^exponent, exactly, in [2^emax, 2^(emax+1))
    if fmt.scale_mode == "ceil":
        exponent += (mantissa != 0.5).to(torch.int32)
    elif fmt.scale_mode == "rceil":
        exponent += (top > elem.max_normal).to(torch.int32)
    elif fmt.scale_mode == "even":
        exponent += (top >= 2.0 ** (elem.emax + 1) - top_ulp(elem) / 2).to(torch.int32)
    exponent = torch.where(mantissa == 0, -bias, exponent).clamp_(-bias, bias)
    return exponent.masked_fill_(~finite, NAN_EXPONENT)


def top_ulp(elem) -> float:
    """Spacing of the element grid in its top binade."""
    if isinstance(elem, FloatFormat):
        return 2.0 ** (elem.emax - elem.mbits)
    if isinstance(elem, IntFormat):
        return elem.step
    return 1.0


def float_block_scale(amax: torch.Tensor, fmt: BlockFormat) -> tuple[torch.Tensor, float | None]:
    """Per-block scale amax / max_elem rounded onto the scale format (and the fp32 tensor scale).

    With a tensor scale g = fp32(amax_tensor / (max_elem * max_scale)), blocks get
    round(amax / fp32(max_elem * g)) and the effective scale is fp32(block * g).
    """
    elem_max = fmt.element.max_normal
    if not fmt.tensor_scale:
        return round_scale(amax / elem_max, fmt), None
    finite = amax[torch.isfinite(amax)]
    amax_tensor = float(finite.max()) if finite.numel() else 0.0
    tensor_scale = to_fp32(amax_tensor / (elem_max * fmt.scale.max_normal)) or 1.0
    return round_scale(amax / to_fp32(elem_max * tensor_scale), fmt), tensor_scale


def to_fp32(value: float) -> float:
    """Round a Python float to the nearest float32 (for products and quotients of float32
    values this equals the float32 operation: double rounding is innocuous there)."""
    return float(np.float32(value))


def round_scale(raw: torch.Tensor, fmt: BlockFormat) -> torch.Tensor:
    """Round non-negative raw scales onto the (float) scale format; NaN/Inf blocks become NaN."""
    raw = raw.masked_fill(~torch.isfinite(raw), torch.nan)
    if fmt.scale == FP32:
        return raw.to(torch.float32).to(raw.dtype)
    dtype = element_compute_dtype(fmt.scale, raw.dtype, scaled=False)
    work = raw.to(dtype, copy=True)
    round_float_(work, fmt.scale, _FLOAT_SCALE_ROUNDING[fmt.scale_mode])
    return work.to(raw.dtype)


def _quantize_zero_point(
    blocks: torch.Tensor,
    fmt: BlockFormat,
    layout: BlockLayout,
    rounding: str,
    noise: torch.Tensor | None,
) -> BlockQuantized:
    """Asymmetric integers: scale = (max - min) / (qmax - qmin), zero point = qmin - round(min / scale)."""
    elem: IntFormat = fmt.element
    lo = blocks.amin(-1, keepdim=True).clamp(max=0)
    hi = blocks.amax(-1, keepdim=True).clamp(min=0)
    scale = round_scale((hi - lo) / (elem.qmax - elem.qmin), fmt)
    divisor = scale.masked_fill(scale == 0, torch.inf)
    zero_point = torch.round(elem.qmin - lo / divisor).clamp_(elem.qmin, elem.qmax)
    zero_point = zero_point.masked_fill_(scale.isnan(), 0.0)
    shifted = blocks / divisor
    span = float(elem.qmax - elem.qmin)
    round_fixed_(shifted, 1.0, -span, span, rounding, noise)
    levels = shifted.add_(zero_point).clamp_(elem.qmin, elem.qmax)
    return BlockQuantized(layout, levels, scale, block_scale=scale, zero_point=zero_point)
