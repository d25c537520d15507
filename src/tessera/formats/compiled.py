"""Compiled fake quantization: the ``quantize`` computations fused by ``torch.compile``.

Eager ``quantize`` runs a dozen elementwise passes per element (chunked to stay in cache).
Here each step of the block pipeline (``scaling.Steps``: the per-tensor scale, the per-block
scales, the scaled and rounded elements) is compiled by inductor into one fused loop over all
rows. The compiled functions are the eager ones, so both agree bit for bit with
``reference.quantize``: inductor keeps IEEE semantics (no reassociation, so the magic-number
add-then-subtract of the rounding survives, and signed zeros are kept) and lowers the
float/int reinterpretations to bitcasts. The steps are compiled separately on purpose: the
per-block scales then come out of their own kernel, instead of being recomputed for every
element (or spilled into a full-size buffer) as inductor's fusion heuristics may decide.
"""

from __future__ import annotations

import warnings
from functools import cache, partial

import torch

from tessera.formats.base import Format, check_rounding, get_format
from tessera.formats.block import BlockFormat
from tessera.formats.quantize import (
    check_input,
    check_out,
    quantize_elements,
    quantize_values,
    stochastic_noise,
)
from tessera.formats.scaling import (
    Steps,
    choose_scales,
    fake_quantize_blocks,
    quantize_rows_,
    tensor_scale_of,
)

# Every quantizer compiles the same few functions; each (format, rounding, shape, dtype, axis)
# is one cache entry of their code objects, more than dynamo's default limit of 8.
_RECOMPILE_LIMIT = 256


def _compile(fn):
    return torch.compile(fn, dynamic=False, fullgraph=True)


class CompiledQuantizer:
    """``quantize`` for one format and rounding mode, compiled (see ``compiled_quantizer``)."""

    def __init__(self, fmt: Format, rounding: str) -> None:
        self.format = fmt
        self.rounding = rounding
        for part in (fmt, getattr(fmt, "element", None), getattr(fmt, "scale", None)):
            if part is not None:
                part.properties()  # fill cached properties: dynamo cannot trace their lock
        self._steps = Steps(
            chunk=None,
            tensor_scale=_compile(tensor_scale_of),
            scales=_compile(choose_scales),
            values=_compile(quantize_rows_),
        )
        self._elements = _compile(partial(quantize_elements, fmt=fmt, rounding=rounding))
        self._eager_only: set[tuple] = set()  # call signatures that failed to compile

    def __call__(
        self,
        x: torch.Tensor,
        axis: int = -1,
        *,
        seed: int | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Same as ``quantize(x, fmt, axis, rounding=..., seed=seed, out=out)``."""
        shape = x.shape if isinstance(x, torch.Tensor) else None
        x, axis = check_input(x, self.format, axis)
        flat_out = check_out(out, x, shape)
        if x.numel() == 0:
            return x.clone().reshape(shape) if out is None else out
        noise = stochastic_noise(x.shape, seed) if self.rounding == "stochastic" else None
        result = self._quantize(x, axis, noise, flat_out)
        return result.reshape(shape) if out is None else out

    def _quantize(
        self, x: torch.Tensor, axis: int, noise: torch.Tensor | None, out: torch.Tensor | None
    ) -> torch.Tensor:
        """Compiled, or eager for inputs that failed to compile (once, with a warning)."""
        signature = (tuple(x.shape), x.dtype, axis, out is None)
        if signature not in self._eager_only:
            try:
                return self._compiled(x, axis, noise, out)
            except torch._dynamo.exc.TorchDynamoException as error:
                warnings.warn(
                    f"{self!r}: torch.compile failed for input {signature[:3]}, using eager "
                    f"quantize instead ({type(error).__name__}: {str(error).splitlines()[0]})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._eager_only.add(signature)
        return quantize_values(x, self.format, axis, self.rounding, noise, out)

    def _compiled(
        self, x: torch.Tensor, axis: int, noise: torch.Tensor | None, out: torch.Tensor | None
    ) -> torch.Tensor:
        with torch._dynamo.config.patch(recompile_limit=_RECOMPILE_LIMIT):
            if isinstance(self.format, BlockFormat):
                return fake_quantize_blocks(x, self.format, axis, self.rounding, noise, out, self._steps)
            result = self._elements(x, noise=noise)
            return result if out is None else out.copy_(result)

    def __repr__(self) -> str:
        return f"compiled_quantizer({self.format.name!r}, rounding={self.rounding!r})"


def compiled_quantizer(fmt: Format | str, rounding: str = "nearest_even") -> CompiledQuantizer:
    """``quantize`` onto ``fmt`` with ``rounding``, compiled by ``torch.compile`` (inductor).

    Returns a callable ``q(x, axis=-1, *, seed=None, out=None)`` whose results equal
    ``quantize(x, fmt, axis, rounding=rounding, seed=seed)`` bit for bit, several times faster
    on large tensors; pass a preallocated ``out`` (contiguous, ``x``'s shape and dtype) to
    also skip allocating the result. The quantizer is created once per (format, rounding) and
    cached; each new input shape, dtype or axis compiles on its first call (seconds to tens of
    seconds on CPU, with a C++ compiler), so use it for repeated calls on tensors of a few
    fixed shapes, and the eager ``quantize`` otherwise. Example::

        q = tessera.formats.compiled_quantizer("mxfp4")
        y = q(x)              # the first call compiles
        q(x, out=y)           # later calls reuse the compiled code and the buffer
    """
    return _cached(get_format(fmt), check_rounding(rounding))


@cache
def _cached(fmt: Format, rounding: str) -> CompiledQuantizer:
    return CompiledQuantizer(fmt, rounding)
