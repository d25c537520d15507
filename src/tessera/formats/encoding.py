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
from tessera.formats.memory import empty_like
from tessera.formats.packing import pack, unpack
from tessera.formats.quantize import check_input, quantize_elements, stochastic_noise
from tessera.formats.scalar import FP32, BinaryFormat, ExponentFormat, FloatFormat, IntFormat, TernaryFormat
from tessera.formats.scaling import (
    NAN_EXPONENT,
    BlockLayout,
    BlockQuantized,
    BlockScales,
    block_rows,
    chunk_slices,
    quantized_chunks,
)


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
    if x.numel() == 0:
        return Encoded(fmt, shape, axis, x.dtype, torch.empty(0, dtype=torch.uint8))
    if isinstance(fmt, BlockFormat):
        return _encode_blocks(x, fmt, axis, rounding, noise, shape)
    values = quantize_elements(x, fmt, rounding, noise)
    codes = element_codes(values.to(element_dtype(values)), fmt)
    return Encoded(fmt, shape, axis, x.dtype, pack(codes, fmt.bits))


def decode(enc: Encoded) -> torch.Tensor:
    """The tensor an encoding represents, in its original shape and dtype."""
    fmt = enc.format
    if enc.numel == 0:
        return torch.empty(enc.shape, dtype=enc.dtype)
    if not isinstance(fmt, BlockFormat):
        codes = unpack(enc.elements, fmt.bits, enc.numel)
        return decode_values(codes, fmt, torch.float64).to(enc.dtype).reshape(enc.shape)
    layout = BlockLayout.of(enc.shape, fmt, enc.axis)
    dtype = element_compute_dtype(fmt.element, enc.dtype, scaled=True)
    codes = unpack(enc.elements, fmt.element.bits, enc.numel).reshape(layout.moved_shape)
    blocks = layout.to_blocks(decode_values(codes, fmt.element, dtype).movedim(-1, layout.axis))
    per_block = (*blocks.shape[:-1], 1)
    scale = _decode_scales(enc, fmt, layout.n_blocks, dtype).reshape(per_block)
    zero_point = None
    if enc.zero_points is not None:
        zero_point = unpack(enc.zero_points, fmt.element.bits, layout.n_blocks).to(dtype).reshape(per_block)
    parts = BlockQuantized(layout, blocks.contiguous(), scale, zero_point=zero_point)
    return layout.from_blocks(parts.dequantized()).to(enc.dtype).contiguous().reshape(enc.shape)


def _encode_blocks(
    x: torch.Tensor,
    fmt: BlockFormat,
    axis: int,
    rounding: str,
    noise: torch.Tensor | None,
    shape: tuple[int, ...],
) -> Encoded:
    """Element codes are computed chunk by chunk, right after each chunk is rounded."""
    layout, blocks, block_noise = block_rows(x, fmt, axis, noise)
    codes = empty_like(blocks, code_dtype(fmt.element))
    parts = []
    for rows, scales, elements in quantized_chunks(blocks, block_noise, fmt, rounding):
        elements.nan_to_num_(nan=0.0)  # NaN only in the blocks with a NaN scale: code 0
        codes[rows] = element_codes(elements, fmt.element)
        parts.append(scales)
    scales = BlockScales.cat(parts)
    if scales.exponent is not None:
        exponent = scales.exponent
        scale_codes = torch.where(exponent == NAN_EXPONENT, fmt.scale.nan_code, exponent + fmt.scale.bias)
    else:
        scale_codes = element_codes(scales.block_scale, fmt.scale)
    zero_points = None
    if scales.zero_point is not None:
        zero_points = pack(scales.zero_point.to(torch.int64), fmt.element.bits)
    flat = codes.reshape(*layout.moved_shape[:-1], -1)[..., : layout.length]  # padding dropped
    return Encoded(
        fmt,
        shape,
        layout.axis,
        x.dtype,
        pack(flat, fmt.element.bits),
        scales=pack(scale_codes, fmt.scale.bits),
        zero_points=zero_points,
        tensor_scale=None if scales.tensor_scale is None else float(scales.tensor_scale),
    )


def _decode_scales(enc: Encoded, fmt: BlockFormat, n_blocks: int, dtype: torch.dtype) -> torch.Tensor:
    codes = unpack(enc.scales, fmt.scale.bits, n_blocks)
    if isinstance(fmt.scale, ExponentFormat):
        bad = codes == fmt.scale.nan_code
        exponent = codes.masked_fill(bad, fmt.scale.bias) - fmt.scale.bias
        return pow2(exponent, dtype).masked_fill_(bad, torch.nan)
    scale = decode_values(codes, fmt.scale, dtype)
    return scale * enc.tensor_scale if enc.tensor_scale is not None else scale


def element_dtype(values: torch.Tensor) -> torch.dtype:
    return torch.float64 if values.dtype == torch.float64 else torch.float32


def element_codes(values: torch.Tensor, fmt: Format) -> torch.Tensor:
    """Bit patterns of values that lie on ``fmt``'s grid (or are NaN/Inf it can hold).

    uint8 for formats of up to 8 bits, int64 beyond; computed chunk by chunk, so that the
    integer temporaries stay small and in cache.
    """
    flat = values.reshape(-1)
    if flat.dtype not in _LAYOUTS:
        flat = flat.float()
    codes = empty_like(flat, code_dtype(fmt))
    for part in chunk_slices(flat.numel()):
        codes[part] = _codes(flat[part], fmt)
    return codes.reshape(values.shape)


def code_dtype(fmt: Format) -> torch.dtype:
    """The dtype ``element_codes`` returns for ``fmt``."""
    return torch.uint8 if fmt.bits <= 8 else torch.int64


def _codes(values: torch.Tensor, fmt: Format) -> torch.Tensor:
    """``element_codes`` of float32/float64 values, as integers of any width."""
    if isinstance(fmt, FloatFormat):
        if fmt == FP32:
            return values.to(torch.float32).view(torch.int32).to(torch.int64) & 0xFFFFFFFF
        return _float_codes(values, fmt)
    _require_no_nan(values, fmt)
    if isinstance(fmt, IntFormat):  # values on the grid: exact integers once divided by the step
        return (values / fmt.step).to(torch.int32) & (2**fmt.nbits - 1)
    if isinstance(fmt, BinaryFormat):
        return values > 0
    if isinstance(fmt, TernaryFormat):
        return values.to(torch.int32) & 3
    raise ValueError(f"{fmt.name} has no element encoding")


def _float_codes(values: torch.Tensor, fmt: FloatFormat) -> torch.Tensor:
    """Codes of float32/float64 values on ``fmt``'s grid, by integer arithmetic on their bits
    (no masks: comparisons and ``where`` are several times slower than arithmetic)."""
    lay = _LAYOUTS[values.dtype]
    top = values.element_size() * 8 - 1  # the sign bit
    bits = values.view(lay.int_dtype)
    magnitude = bits & ((1 << top) - 1)
    # Subnormals: multiples of min_subnormal. Capped at 2^mbits, that count never exceeds the
    # code of a normal number, nor does the formula below for a subnormal: the larger is right.
    count = (magnitude.view(values.dtype) / fmt.min_subnormal).clamp_(max=2**fmt.mbits)
    count = count.to(lay.int_dtype)
    # Normal numbers: rebias the exponent field, drop the fraction bits fmt lacks (zeros).
    codes = magnitude  # updated in place from here on
    codes -= (lay.bias - fmt.bias) << lay.frac_bits
    codes >>= lay.frac_bits - fmt.mbits
    torch.maximum(codes, count, out=codes)
    if fmt.has_inf:  # Inf has the largest formula above (NaN is handled below)
        codes.clamp_(max=(2**fmt.ebits - 1) << fmt.mbits)
    sign = torch.bitwise_right_shift(bits, top - fmt.ebits - fmt.mbits, out=count)  # reuses count
    sign &= 1 << (fmt.ebits + fmt.mbits)  # the sign bit, moved to its place in the code
    if not fmt.signed_zero:
        sign &= (-codes) >> top  # all ones where the code is not 0: no sign on zero
    codes |= sign
    if fmt.nan_code is None:
        _require_no_nan(values, fmt)
    elif _has_nan(values):
        codes = torch.where(values.isnan(), fmt.nan_code, codes)
    return codes


def _has_nan(values: torch.Tensor) -> bool:
    return bool(values.amax().isnan())  # amax propagates NaN: one reduction, no mask


def _require_no_nan(values: torch.Tensor, fmt: Format) -> None:
    if _has_nan(values):
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
