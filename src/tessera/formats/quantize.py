"""``tessera.quantize``: fake quantization of a tensor onto any format."""

from __future__ import annotations

import torch

from tessera.formats.base import Format, check_rounding, get_format
from tessera.formats.block import BlockFormat
from tessera.formats.elements import element_compute_dtype, round_elements_
from tessera.formats.scaling import fake_quantize_blocks

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def quantize(
    x: torch.Tensor,
    fmt: Format | str,
    axis: int = -1,
    *,
    rounding: str = "nearest_even",
    seed: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round ``x`` onto ``fmt`` and return the represented values (same shape and dtype).

    ``axis`` is the dimension blocks run along (block formats only: put it on the GEMM
    reduction dimension). ``rounding``: ``nearest_even`` (default), ``nearest_away``,
    ``toward_zero`` or ``stochastic`` (reproducible with ``seed``; without one, drawn from
    torch's global generator). Special values follow one policy, documented in
    ``docs/formats.md``: NaN stays NaN, finite overflow and Inf saturate to ±max (Inf stays Inf
    in formats that have it), a block holding NaN or Inf becomes all NaN.

    ``out``, a contiguous tensor of ``x``'s shape and dtype that does not share memory with
    ``x``, receives the result and is returned: reusing one saves allocating (and
    page-faulting) a new tensor per call. For repeated calls on large tensors see
    ``compiled_quantizer``.
    """
    fmt = get_format(fmt)
    shape = x.shape if isinstance(x, torch.Tensor) else None
    x, axis = check_input(x, fmt, axis)
    check_rounding(rounding)
    flat_out = check_out(out, x, shape)
    noise = stochastic_noise(x.shape, seed) if rounding == "stochastic" else None
    result = quantize_values(x, fmt, axis, rounding, noise, flat_out)
    return result.reshape(shape) if out is None else out


def quantize_values(
    x: torch.Tensor,
    fmt: Format,
    axis: int,
    rounding: str,
    noise: torch.Tensor | None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The body of ``quantize`` on validated arguments (``x`` at least 1-d, ``axis`` normalized)."""
    if x.numel() == 0:
        return x.clone() if out is None else out
    if isinstance(fmt, BlockFormat):
        return fake_quantize_blocks(x, fmt, axis, rounding, noise, out)
    result = quantize_elements(x, fmt, rounding, noise)
    return result if out is None else out.copy_(result)


def check_out(out: torch.Tensor | None, x: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """Validate an ``out`` tensor; returns it viewed with ``x``'s (at least 1-d) shape."""
    if out is None:
        return None
    if not isinstance(out, torch.Tensor) or out.shape != shape or out.dtype != x.dtype:
        raise ValueError(f"out must be a tensor of shape {tuple(shape)} and dtype {x.dtype}")
    if not out.is_contiguous() or out.device != x.device:
        raise ValueError("out must be contiguous and on the input's device")
    if out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
        raise ValueError("out must not share memory with the input (use x.copy_(quantize(x, fmt)))")
    return out.view(x.shape)


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
