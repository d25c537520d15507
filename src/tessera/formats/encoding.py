"""Real encodings: element and scale bit patterns, packed into bytes, and back.

``decode(encode(x, fmt))`` equals ``quantize(x, fmt)`` bit for bit: both multiply the same
element values by the same scales.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from tessera.formats.base import Format, check_rounding, get_format
from tessera.formats.block import BlockFormat
from tessera.formats.elements import element_compute_dtype
from tessera.formats.kernels import _LAYOUTS, pow2
from tessera.formats.packing import pack, unpack
from tessera.formats.quantize import check_input, quantize_elements, stochastic_noise
from tessera.formats.scalar import FP32, BinaryFormat, ExponentFormat, FloatFormat, IntFormat, TernaryFormat
from tessera.formats.scaling import BlockLayout, BlockQuantized, NAN_EXPONENT, quantize_blocks


@dataclass(frozen=True)
class Encoded:
    """A tensor stored in a format's real bits.

    ``elements``: packed element codes (uint8), in the layout of ``BlockLayout`` without the
    padding; ``scales``: packed scale codes, one per block; ``zero_points``: packed zero points;
    ``tensor_scale``: the fp32 per-tensor scale (NVFP4).
    """

    format: Format
    shape: tuple[int, ...]
    axis: int
    dtype: torch.dtype
    elements: torch.Tensor
    scales: torch.Tensor | None = None
    zero_points: torch.Tensor | None = None
    tensor_scale: float | None = None

    @property
    def nbytes(self) -> int:
        """Storage in bytes: packed elements, scales, zero points and the tensor scale."""
        parts = (self.elements, self.scales, self.zero_points)
        return sum(p.numel() for p in parts if p is not None) + (4 if self.tensor_scale is not None else 0)

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


def encode(
    x: torch.Tensor,
    fmt: Format | str,
    axis: int = -1,
    *,
    rounding: str = "nearest_even",
    seed: int | None = None,
) -> Encoded:
    """Quantize ``x`` onto ``fmt`` and return its packed encoding (see ``quantize`` for options).

    Raises ``ValueError`` for NaN in a scalar format that has no NaN code (ints, fp4, fp6).
    """
    fmt = get_format(fmt)
    shape = tuple(x.shape) if isinstance(x, torch.Tensor) else ()
    x, axis = check_input(x, fmt, axis)
    check_rounding(rounding)
    noise = stochastic_noise(x.shape, seed) if rounding == "stochastic" else None
    if isinstance(fmt, BlockFormat):
        return _encode_blocks(quantize_blocks(x, fmt, axis, rounding, noise), fmt, shape, x.dtype)
    values = quantize_elements(x, fmt, rounding, noise)
    codes = element_codes(values.to(element_dtype(values)), fmt)
    return Encoded(fmt, shape, axis, x.dtype, pack(codes, fmt.bits))


def decode(enc: Encoded) -> torch.Tensor:
    """The tensor an encoding represents, in its original shape and dtype."""
    fmt = enc.format
    if not isinstance(fmt, BlockFormat):
        codes = unpack(enc.elements, fmt.bits, enc.numel)
        return decode_values(codes, fmt, torch.float64).to(enc.dtype).reshape(enc.shape)
    layout = BlockLayout.of(enc.shape, fmt, enc.axis)
    dtype = element_compute_dtype(fmt.element, enc.dtype, scaled=True)
    codes = unpack(enc.elements, fmt.element.bits, enc.numel).reshape(layout.moved_shape)
    blocks = layout.to_blocks(decode_values(codes, fmt.element, dtype).movedim(-1, layout.axis))
    per_block = blocks.shape[:-1] + (1,)
    scale = _decode_scales(enc, fmt, layout.n_blocks, dtype).reshape(per_block)
    zero_point = None
    if enc.zero_points is not None:
        zero_point = unpack(enc.zero_points, fmt.element.bits, layout.n_blocks).to(dtype).reshape(per_block)
    parts = BlockQuantized(layout, blocks.contiguous(), scale, zero_point=zero_point)
    return layout.from_blocks(parts.dequantized()).to(enc.dtype).contiguous().reshape(enc.shape)


def _encode_blocks(parts: BlockQuantized, fmt: BlockFormat, shape: tuple[int, ...], dtype: torch.dtype) -> Encoded:
    layout = parts.layout
    bad = parts.scale.isnan()
    elements = parts.elements.masked_fill(bad, 0.0)
    flat = elements.reshape(*elements.shape[:-2], -1)[..., : layout.length]
    codes = element_codes(flat, fmt.element)
    if parts.scale_exponent is not None:
        exponent = parts.scale_exponent
        scale_codes = torch.where(exponent == NAN_EXPONENT, fmt.scale.nan_code, exponent + fmt.scale.bias)
    else:
        scale_codes = element_codes(parts.block_scale, fmt.scale)
    zero_points = None
    if parts.zero_point is not None:
        zero_points = pack(parts.zero_point.to(torch.int64), fmt.element.bits)
    return Encoded(
        fmt,
        shape,
        layout.axis,
        dtype,
        pack(codes, fmt.element.bits),
        scales=pack(scale_codes, fmt.scale.bits),
        zero_points=zero_points,
        tensor_scale=parts.tensor_scale,
    )


def _decode_scales(enc: Encoded, fmt: BlockFormat, n_blocks: int, dtype: torch.dtype) -> torch.Tensor:
    codes = unpack(enc.scales, fmt.scale.bits, n_blocks)
    if isinstance(fmt.scale, ExponentFormat):
        bad = codes == fmt.scale.nan_code
        return pow2(codes.masked_fill(bad, fmt.scale.bias) - fmt.scale.bias, dtype).masked_fill_(bad, torch.nan)
    scale = decode_values(codes, fmt.scale, dtype)
    return scale * enc.tensor_scale if enc.tensor_scale is not None else scale


def element_dtype(values: torch.Tensor) -> torch.dtype:
    return torch.float64 if values.dtype == torch.float64 else torch.float32


def element_codes(values: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Bit patterns (int64) of values that lie on ``fmt``'s grid (or are NaN/Inf it can hold)."""
    if isinstance(fmt, FloatFormat):
        if fmt == FP32:
            return values.to(torch.float32).view(torch.int32).to(torch.int64) & 0xFFFFFFFF
        return _float_codes(values if values.dtype in _LAYOUTS else values.float(), fmt)
    _require_no_nan(values, fmt)
    if isinstance(fmt, IntFormat):
        return torch.round(values / fmt.step).to(torch.int64) & (2**fmt.nbits - 1)
    if isinstance(fmt, BinaryFormat):
        return (values > 0).to(torch.int64)
    if isinstance(fmt, TernaryFormat):
        return values.to(torch.int64) & 3
    raise ValueError(f"{fmt.name} has no element encoding")


def _float_codes(values: torch.Tensor, fmt: FloatFormat) -> torch.Tensor:
    lay = _LAYOUTS[values.dtype]
    nan = values.isnan()
    if nan.any() and fmt.nan_code is None:
        _require_no_nan(values, fmt)
    magnitude = values.abs().masked_fill(nan, 0.0)
    bits = magnitude.view(lay.int_dtype).to(torch.int64)
    exponent_field = (bits >> lay.frac_bits) - lay.bias + fmt.bias
    mantissa = (bits >> (lay.frac_bits - fmt.mbits)) & (2**fmt.mbits - 1)
    normal = (exponent_field << fmt.mbits) | mantissa
    subnormal = (magnitude / fmt.min_subnormal).to(torch.int64)
    codes = torch.where(magnitude < fmt.min_normal, subnormal, normal)
    if fmt.has_inf:
        codes = torch.where(magnitude.isinf(), (2**fmt.ebits - 1) << fmt.mbits, codes)
    sign = values.view(lay.int_dtype) < 0 if fmt.signed_zero else (values < 0)
    codes = codes | (sign.to(torch.int64) << (fmt.ebits + fmt.mbits))
    return torch.where(nan, fmt.nan_code if fmt.nan_code is not None else 0, codes)


def _require_no_nan(values: torch.Tensor, fmt: Format) -> None:
    if values.isnan().any():
        raise ValueError(f"{fmt.name} has no NaN encoding; the input holds NaN")


def decode_values(codes: torch.Tensor, fmt: Format, dtype: torch.dtype) -> torch.Tensor:
    """Values of codes: a table lookup, or a reinterpretation of the bits for fp32."""
    if fmt == FP32:
        return codes.to(torch.int32).view(torch.float32).to(dtype)
    return decode_table(fmt, dtype)[codes]


@lru_cache(maxsize=64)
def decode_table(fmt: Format, dtype: torch.dtype) -> torch.Tensor:
    """Value of every code of ``fmt`` (indexable by code), from the format's definition."""
    return torch.tensor([fmt.decode_code(c) for c in range(2**fmt.bits)], dtype=dtype)
