"""``tessera.quantize``: fake quantization of a tensor onto any format."""

from __future__ import annotations

import torch

from tessera.formats.base import Format, check_rounding, get_format
from tessera.formats.block import BlockFormat
from tessera.formats.elements import element_compute_dtype, round_elements_
from tessera.formats.scaling import BlockQuantized, quantize_blocks

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def quantize(
    x: torch.Tensor,
    fmt: Format | str,
    axis: int = -1,
    *,
    rounding: str = "nearest_even",
    seed: int | None = None,
) -> torch.Tensor:
    """Round ``x`` onto ``fmt`` and return the represented values (same shape and dtype).

    ``axis`` is the dimension blocks run along (block formats only: put it on the GEMM
    reduction dimension). ``rounding``: ``nearest_even`` (default), ``nearest_away``,
    ``toward_zero`` or ``stochastic`` (reproducible with ``seed``; without one, drawn from
    torch's global generator). Special values follow one policy, documented in
    ``docs/formats.md``: NaN stays NaN, finite overflow and Inf saturate to ±max (Inf stays Inf
    in formats that have it), a block holding NaN or Inf becomes all NaN.
    """
    fmt = get_format(fmt)
    shape = x.shape if isinstance(x, torch.Tensor) else None
    x, axis = check_input(x, fmt, axis)
    check_rounding(rounding)
    if x.numel() == 0:
        return x.clone()
    noise = stochastic_noise(x.shape, seed) if rounding == "stochastic" else None
    if isinstance(fmt, BlockFormat):
        result = blocks_to_tensor(quantize_blocks(x, fmt, axis, rounding, noise), x.dtype)
    else:
        result = quantize_elements(x, fmt, rounding, noise)
    return result.reshape(shape)


def blocks_to_tensor(parts: BlockQuantized, dtype: torch.dtype) -> torch.Tensor:
    """Dequantize block parts back to the caller's layout and dtype (contiguous)."""
    values = parts.layout.from_blocks(parts.dequantized())
    return values.to(dtype).contiguous()


def quantize_elements(
    x: torch.Tensor, fmt: Format, rounding: str, noise: torch.Tensor | None
) -> torch.Tensor:
    """Scalar formats: round every element on its own."""
    dtype = element_compute_dtype(fmt, x.dtype, scaled=False)
    source = x.to(dtype)
    y = source.clone()
    noise = noise.to(dtype) if noise is not None else None
    round_elements_(y, fmt, rounding, noise, sign_source=source)
    if fmt.has_inf:
        y = torch.where(source.isinf(), source, y)
    return y.to(x.dtype)


def check_input(x: torch.Tensor, fmt: Format, axis: int) -> tuple[torch.Tensor, int]:
    """Validate the tensor and axis; 0-d tensors are treated as one element."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"quantize takes floating tensors ({', '.join(str(d) for d in FLOAT_DTYPES)}), "
            f"got {x.dtype}; convert integers with .float() first"
        )
    if x.dim() == 0:
        return x.reshape(1), 0
    if not isinstance(axis, int) or not -x.dim() <= axis < x.dim():
        raise ValueError(f"axis {axis!r} is out of range for a tensor of shape {tuple(x.shape)}")
    return x, axis % x.dim()


def stochastic_noise(shape: torch.Size, seed: int | None) -> torch.Tensor:
    """Uniform noise k / 2^24, k in [0, 2^24), one draw per element in ``shape`` (row-major)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    draws = torch.randint(0, 2**24, tuple(shape), generator=generator, dtype=torch.int32)
    return draws.to(torch.float64) * 2.0**-24
