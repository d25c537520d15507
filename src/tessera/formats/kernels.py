"""Fast rounding onto element grids, in place, by bit manipulation of float32/float64 tensors.

Round-to-nearest-even uses the magic-number trick: adding C = 1.5 * 2^(e + P - m) (P the
compute type's fraction bits, e the value's binade clamped at the format's emin, m the format's
fraction bits) makes the floating-point adder round the value to a multiple of 2^(e - m); C is
built per element from the exponent field. The other modes start from truncation and the exact
fraction ``(|y| - trunc) / ulp``. Every result is exact: see ``docs/formats.md`` for the
conditions (checked by ``compute_dtype``) and ``reference.py`` for the specification.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tessera.formats.scalar import FloatFormat

_INTERNAL_MODES = ("nearest_even", "nearest_away", "toward_zero", "stochastic", "up")


@dataclass(frozen=True)
class _Layout:
    int_dtype: torch.dtype
    frac_bits: int
    bias: int

    @property
    def exp_mask(self) -> int:
        return ((1 << (self.int_dtype.itemsize * 8 - 1 - self.frac_bits)) - 1) << self.frac_bits


_LAYOUTS = {
    torch.float32: _Layout(torch.int32, 23, 127),
    torch.float64: _Layout(torch.int64, 52, 1023),
}


def float_compute_dtype(fmt: FloatFormat, scaled: bool) -> torch.dtype:
    """float32 where every step is exact in it, else float64.

    Unscaled, the magic constant must not overflow float32 (emax + 23 - m <= 126). Scaled by a
    block scale as small as 2^-127, element values must stay above float32's subnormals
    (emin - m >= -22): true for all 4-, 6- and 8-bit formats, false for fp16 and bf16.
    """
    if fmt.mbits > 21:
        return torch.float64
    if scaled:
        return torch.float32 if fmt.emin - fmt.mbits >= -22 else torch.float64
    return torch.float32 if fmt.emax + 23 - fmt.mbits <= 126 else torch.float64


def pow2(exponent: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Exactly 2^exponent (integer tensor, values in [-1022, 1023]) as ``dtype``.

    Built from the bits of a float64, whose normal range holds every power of two of float32,
    subnormals included: the conversion to float32 is then exact.
    """
    bits = (exponent.to(torch.int64) + 1023) << 52
    return bits.view(torch.float64).to(dtype)


def round_float_(
    y: torch.Tensor,
    fmt: FloatFormat,
    rounding: str,
    noise: torch.Tensor | None = None,
    saturate_to: float | None = None,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round ``y`` (float32/float64, modified in place) onto ``fmt``'s grid, saturating at ±max.

    NaN stays NaN; ±Inf saturates (callers restore Inf for formats that have it). The sign of
    zero is not managed here. ``workspace``, an integer tensor of ``y``'s shape and width
    (int32 for float32), receives the per-element constants instead of a new allocation.
    """
    lay = _LAYOUTS[y.dtype]
    limit = fmt.max_normal if saturate_to is None else saturate_to
    y.clamp_(-limit, limit)
    ulp_bits = torch.bitwise_and(y.view(lay.int_dtype), lay.exp_mask, out=workspace)
    ulp_bits.clamp_(min=(fmt.emin + lay.bias) << lay.frac_bits)
    if rounding == "nearest_even":
        magic = ulp_bits.add_(((lay.frac_bits - fmt.mbits) << lay.frac_bits) + (1 << (lay.frac_bits - 1)))
        magic_f = magic.view(y.dtype)
        return y.add_(magic_f).sub_(magic_f)
    ulp = ulp_bits.sub_(fmt.mbits << lay.frac_bits).view(y.dtype)
    return _round_by_fraction_(y, ulp, rounding, noise)


def round_fixed_(
    y: torch.Tensor,
    step: float,
    lo: float,
    hi: float,
    rounding: str,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round ``y`` in place to a multiple of ``step`` (a power of two) within [lo, hi]."""
    lay = _LAYOUTS[y.dtype]
    y.clamp_(lo, hi)
    if rounding == "nearest_even":
        magic = 1.5 * 2.0**lay.frac_bits * step
        return y.add_(magic).sub_(magic)
    return _round_by_fraction_(y, step, rounding, noise)


def _round_by_fraction_(
    y: torch.Tensor, ulp: torch.Tensor | float, rounding: str, noise: torch.Tensor | None
) -> torch.Tensor:
    """Directed and stochastic modes: truncate, then step up by one ulp when the mode says so."""
    if rounding not in _INTERNAL_MODES:
        raise ValueError(f"unknown rounding {rounding!r}")
    magnitude = y.abs()
    truncated = magnitude.div(ulp).floor_().mul_(ulp)
    fraction = magnitude.sub_(truncated).div_(ulp)
    if rounding == "toward_zero":
        up = torch.zeros_like(fraction, dtype=torch.bool)
    elif rounding == "nearest_away":
        up = fraction >= 0.5
    elif rounding == "up":
        up = fraction > 0
    else:
        if noise is None:
            raise ValueError("stochastic rounding needs noise")
        up = fraction > noise
    result = truncated.add_(up * torch.as_tensor(ulp, dtype=y.dtype))
    return y.copy_(result.copysign_(y))
