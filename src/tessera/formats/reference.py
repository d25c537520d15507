"""The executable specification: quantization element by element in Python floats.

Slow and obviously correct: element rounding picks between the two neighbouring values of the
format's enumerated grid (decoded from every bit pattern); block scales follow the rules in
``docs/formats.md`` written out with ``math.frexp``. The fast path in ``quantize`` is tested
against this module bit for bit. Float scales use the same float32 (or float64) arithmetic as
the fast path, because the specification of those formats is that arithmetic.
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache

import numpy as np
import torch

from tessera.formats.base import Format, get_format
from tessera.formats.block import BlockFormat
from tessera.formats.elements import element_compute_dtype
from tessera.formats.scalar import FP32, BinaryFormat, ExponentFormat, FloatFormat, IntFormat, TernaryFormat

_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}
_SCALE_ROUNDING = {"even": "nearest_even", "floor": "toward_zero", "ceil": "up", "rceil": "up"}


@lru_cache(maxsize=64)
def _grid_and_parity(fmt: Format) -> tuple[list[float], dict[float, int]]:
    """The sorted finite values and, per magnitude, the parity of its code (for ties to even)."""
    grid = list(fmt.grid)
    parity: dict[float, int] = {}
    for code in range(2**fmt.bits):
        value = fmt.decode_code(code)
        if math.isfinite(value) and value >= 0:
            key = value / fmt.step if isinstance(fmt, IntFormat) else code
            parity.setdefault(value, int(key) % 2)
    return grid, parity


def round_value(
    v: float, fmt: Format, rounding: str = "nearest_even", u: float = 0.0, keep_inf: bool = True
) -> float:
    """Round one value onto ``fmt``: saturating, NaN kept, Inf kept where ``fmt`` has it and
    ``keep_inf`` (block elements always saturate)."""
    if math.isnan(v):
        return math.nan
    if isinstance(fmt, BinaryFormat):
        return -1.0 if v < 0 else 1.0
    if isinstance(fmt, TernaryFormat):
        return 0.0 if abs(v) <= fmt.threshold else math.copysign(1.0, v)
    if fmt == FP32:
        return float(np.float32(v))
    if math.isinf(v) and fmt.has_inf and keep_inf:
        return v
    grid, parity = _grid_and_parity(fmt)
    if v >= grid[-1] or v <= grid[0]:
        result = grid[-1] if v >= grid[-1] else grid[0]
    else:
        i = bisect.bisect_right(grid, v) - 1
        lo, hi = grid[i], grid[i + 1]
        result = lo if v == lo else _choose(v, lo, hi, rounding, u, parity)
    if result == 0:
        negative = math.copysign(1.0, v) < 0
        return -0.0 if negative and fmt.signed_zero else 0.0
    return result


def _choose(v: float, lo: float, hi: float, rounding: str, u: float, parity: dict[float, int]) -> float:
    """Pick lo or hi (lo < v < hi) by the rounding mode."""
    toward, away = (lo, hi) if v > 0 else (hi, lo)
    if rounding == "toward_zero":
        return toward
    if rounding == "up":
        return away
    if rounding == "stochastic":
        return away if abs(v - toward) / abs(away - toward) > u else toward
    d_toward, d_away = abs(v - toward), abs(away - v)
    if d_toward != d_away:
        return toward if d_toward < d_away else away
    if rounding == "nearest_away":
        return away
    return toward if parity[abs(toward)] == 0 else away


def quantize(
    x: torch.Tensor,
    fmt: Format | str,
    axis: int = -1,
    rounding: str = "nearest_even",
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference ``tessera.quantize``: same signature, ``noise`` in [0, 1) per element of ``x``."""
    fmt = get_format(fmt)
    shape, dtype = x.shape, x.dtype
    values = x.detach().to(torch.float64).reshape(shape or (1,))
    u = (noise if noise is not None else torch.zeros(shape)).to(torch.float64).reshape(values.shape)
    if not isinstance(fmt, BlockFormat):
        out = [
            round_value(v, fmt, rounding, w) for v, w in zip(values.flatten().tolist(), u.flatten().tolist())
        ]
        return torch.tensor(out, dtype=torch.float64).reshape(shape).to(dtype)
    axis = axis % values.dim()
    moved = values.movedim(axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]).tolist()
    noise_rows = u.movedim(axis, -1).reshape(-1, moved.shape[-1]).tolist()
    compute = _NUMPY[element_compute_dtype(fmt.element, dtype, scaled=True)]
    tensor_scale = _tensor_scale(rows, fmt) if fmt.tensor_scale else None
    block = fmt.block_size or len(rows[0])
    out_rows = []
    for row, noise_row in zip(rows, noise_rows):
        out_row: list[float] = []
        for start in range(0, len(row), block):
            chunk, chunk_u = row[start : start + block], noise_row[start : start + block]
            out_row += quantize_block(chunk, fmt, rounding, chunk_u, compute, tensor_scale)
        out_rows.append(out_row)
    result = torch.tensor(out_rows, dtype=torch.float64).reshape(moved.shape).movedim(-1, axis)
    return result.reshape(shape).to(dtype)


def quantize_block(
    block: list[float],
    fmt: BlockFormat,
    rounding: str,
    u: list[float],
    compute: type = np.float32,
    tensor_scale: float | None = None,
) -> list[float]:
    """One block: choose the scale, round each element, multiply back."""
    if not all(math.isfinite(v) for v in block):
        return [math.nan] * len(block)
    elem = fmt.element
    if fmt.zero_point:
        return _zero_point_block(block, fmt, rounding, u, compute)
    amax = max(abs(v) for v in block)
    if isinstance(fmt.scale, ExponentFormat):
        scale = 2.0 ** shared_exponent(amax, fmt)
        return [round_value(v / scale, elem, rounding, w) * scale for v, w in zip(block, u)]
    divisor = elem.max_normal if tensor_scale is None else float(np.float32(elem.max_normal * tensor_scale))
    block_scale = _round_scale(float(compute(amax) / compute(divisor)), fmt)
    scale = compute(block_scale) * compute(tensor_scale) if tensor_scale is not None else compute(block_scale)
    out = []
    for v, w in zip(block, u):
        element = (
            round_value(float(compute(v) / scale), elem, rounding, w, False)
            if scale
            else math.copysign(0.0, v)
        )
        if element == 0 and not elem.signed_zero:
            element = 0.0
        out.append(float(compute(element) * scale))
    return out


def shared_exponent(amax: float, fmt: BlockFormat) -> int:
    """The power-of-two scale exponent of a block by ``fmt.scale_mode``, clamped to the scale's range."""
    bias = fmt.scale.bias
    if amax == 0:
        return -bias
    elem = fmt.element
    floor_log2 = math.frexp(amax)[1] - 1
    if fmt.scale_mode == "floor":
        e = floor_log2 - elem.emax
    elif fmt.scale_mode == "ceil":
        e = floor_log2 + (amax != 2.0**floor_log2) - elem.emax
    elif fmt.scale_mode == "rceil":
        e = floor_log2 - elem.emax - 1
        while elem.max_normal * 2.0**e < amax:
            e += 1
    else:  # even: round amax to the element's precision first
        rounded = _round_significant(amax, _precision_bits(elem))
        e = math.frexp(rounded)[1] - 1 - elem.emax
    return max(-bias, min(bias, e))


def _precision_bits(elem: Format) -> int:
    """Significant bits of the element grid in its top binade."""
    if isinstance(elem, FloatFormat):
        return elem.mbits + 1
    if isinstance(elem, IntFormat):
        return elem.emax + elem.frac_bits + 1
    return 1


def _round_significant(v: float, bits: int) -> float:
    """Round v > 0 to ``bits`` significant bits, ties to even."""
    mantissa, exponent = math.frexp(v)
    return round(mantissa * 2**bits) * 2.0 ** (exponent - bits)


def _round_scale(raw: float, fmt: BlockFormat) -> float:
    """A raw scale that overflowed to Inf saturates like any other value."""
    if fmt.scale == FP32:
        return float(np.float32(min(raw, FP32.max_normal)))
    return round_value(raw, fmt.scale, _SCALE_ROUNDING[fmt.scale_mode], keep_inf=False)


def _tensor_scale(rows: list[list[float]], fmt: BlockFormat) -> float:
    """fp32(amax / (element max * scale max)) over the blocks that hold no NaN or Inf (1 if none)."""
    block = fmt.block_size or len(rows[0])
    amax = 0.0
    for row in rows:
        for start in range(0, len(row), block):
            chunk = row[start : start + block]
            if all(math.isfinite(v) for v in chunk):
                amax = max(amax, *(abs(v) for v in chunk))
    return float(np.float32(amax / (fmt.element.max_normal * fmt.scale.max_normal))) or 1.0


def _zero_point_block(
    block: list[float], fmt: BlockFormat, rounding: str, u: list[float], compute: type
) -> list[float]:
    elem: IntFormat = fmt.element
    lo, hi = compute(min(min(block), 0.0)), compute(max(max(block), 0.0))
    with np.errstate(over="ignore"):
        span = hi - lo
    scale = compute(_round_scale(float(span / compute(elem.qmax - elem.qmin)), fmt))
    if scale == 0:
        return [0.0] * len(block)
    zero_point = min(max(float(np.round(compute(elem.qmin) - lo / scale)), elem.qmin), elem.qmax)
    out = []
    for v, w in zip(block, u):
        level = _round_integer(float(compute(v) / scale), rounding, w) + zero_point
        level = min(max(level, elem.qmin), elem.qmax)
        out.append(float(compute(level - zero_point) * scale))
    return out


def _round_integer(v: float, rounding: str, u: float) -> float:
    floor = math.floor(v)
    if v == floor:
        return float(v)
    return _choose(
        v, floor, floor + 1.0, rounding, u, {abs(floor): int(floor) % 2, abs(floor + 1): int(floor + 1) % 2}
    )
