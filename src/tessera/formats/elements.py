"""Rounding of already-scaled values onto an element format's grid, for every element kind."""

from __future__ import annotations

import torch

from tessera.formats.base import Format
from tessera.formats.kernels import float_compute_dtype, round_fixed_, round_float_
from tessera.formats.scalar import FP32, BinaryFormat, FloatFormat, IntFormat, TernaryFormat


def element_compute_dtype(fmt: Format, input_dtype: torch.dtype, scaled: bool) -> torch.dtype:
    """The dtype in which rounding onto ``fmt`` is exact (float64 inputs stay float64)."""
    if input_dtype == torch.float64:
        return torch.float64
    if isinstance(fmt, FloatFormat) and fmt != FP32:
        return float_compute_dtype(fmt, scaled)
    return torch.float32


def round_elements_(
    y: torch.Tensor,
    fmt: Format,
    rounding: str,
    noise: torch.Tensor | None = None,
    sign_source: torch.Tensor | None = None,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round ``y`` in place onto ``fmt``'s values, saturating; NaN stays NaN, ±Inf saturates.

    Zeros come out as +0, except in float formats with a signed zero, where results keep the
    sign of ``y`` (a small negative value becomes -0). ``sign_source``, a tensor with the signs
    of ``y``, saves a copy on that path; ``workspace`` (see ``round_float_``) an allocation.
    """
    if isinstance(fmt, FloatFormat):
        if fmt == FP32:
            return y.copy_(y.to(torch.float32))
        if fmt.signed_zero and rounding == "nearest_even" and sign_source is None:
            sign_source = y.clone()
        round_float_(y, fmt, rounding, noise, workspace=workspace)
        if not fmt.signed_zero:
            return unsign_zeros_(y)
        return y.copysign_(sign_source) if rounding == "nearest_even" else y
    if isinstance(fmt, IntFormat):
        round_fixed_(y, fmt.step, fmt.qmin * fmt.step, fmt.qmax * fmt.step, rounding, noise)
        return unsign_zeros_(y)
    if isinstance(fmt, (BinaryFormat, TernaryFormat)):
        if rounding != "nearest_even":
            raise ValueError(f"{fmt.name} is a threshold format: it takes no rounding mode")
        threshold = 0.0 if isinstance(fmt, BinaryFormat) else fmt.threshold
        keep = y.isnan()
        magnitude = (y.abs() > threshold).to(y.dtype) if threshold else torch.ones_like(y)
        signs = torch.where(y < 0, -1.0, 1.0).to(y.dtype)
        return unsign_zeros_(y.copy_(torch.where(keep, y, signs * magnitude)))
    raise ValueError(f"{fmt.name} is not an element format")


def unsign_zeros_(y: torch.Tensor) -> torch.Tensor:
    """-0 becomes +0, in place; every other value is unchanged.

    Adding +0 does it in one vectorized pass (-0 + 0 = +0 when rounding to nearest), where
    ``masked_fill_(y == 0, 0)`` takes two and is an order of magnitude slower.
    """
    return y.add_(0.0)
