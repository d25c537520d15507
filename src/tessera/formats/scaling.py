"""Block layout, shared-scale selection and the block quantization pipeline.

A tensor is viewed as rows of ``block_size`` elements along one axis (zero-padded at the end
of the axis when its length is not a multiple); each block gets a scale chosen from its largest
magnitude ``amax``; the elements are divided by the scale and rounded onto the element grid.

The eager pipeline runs chunk by chunk (``CHUNK_ELEMENTS`` at a time, whole blocks): a chunk's
scales are chosen (``choose_scales``), then its elements are scaled, rounded and dequantized in
place, straight into the result. The dozen elementwise passes of the rounding thus run on data
held in cache and reuse one small workspace instead of allocating full-size temporaries. A
per-tensor scale (NVFP4) needs one pass over the whole tensor first (``tensor_scale_of``).
``Steps`` lets ``compiled.py`` run the same computations compiled, on all rows at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F

from tessera.formats.block import BlockFormat
from tessera.formats.elements import element_compute_dtype, round_elements_
from tessera.formats.kernels import _LAYOUTS, pow2, round_fixed_, round_float_
from tessera.formats.memory import empty_like
from tessera.formats.scalar import FP32, FloatFormat, IntFormat

# scale mode -> rounding of amax / element_max onto a float scale format
_FLOAT_SCALE_ROUNDING = {"even": "nearest_even", "floor": "toward_zero", "ceil": "up", "rceil": "up"}

# Elements per chunk of the eager pipeline: a chunk, its output and its workspace (4 MiB each
# in float32) stay in the last-level cache across the ~10 elementwise passes of the rounding,
# and chunks are few enough for the per-operation overhead to stay small.
CHUNK_ELEMENTS = 1 << 20


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

    @property
    def is_plain(self) -> bool:
        """Whether a contiguous tensor's blocks are a view of it (axis last, no padding)."""
        return self.axis == len(self.shape) - 1 and self.padding == 0

    def to_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n_blocks_along_axis, block) view or copy of ``x``."""
        moved = x.movedim(self.axis, -1)
        if self.padding:
            moved = F.pad(moved, (0, self.padding))
        return moved.reshape(*moved.shape[:-1], (self.length + self.padding) // self.block, self.block)

    def from_blocks(self, blocks: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_blocks``: strip the padding and move the axis back."""
        flat = blocks.reshape(*blocks.shape[:-2], -1)
        if self.padding:
            flat = flat[..., : self.length]
        return flat if self.axis == len(self.shape) - 1 else flat.movedim(-1, self.axis)

    def to_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks as a contiguous (n_blocks, block) matrix: a view of a contiguous ``x`` with
        a plain layout, else a copy."""
        return self.to_blocks(x).reshape(-1, self.block).contiguous()

    def from_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_rows`` (a view of ``rows`` when the layout is plain)."""
        return self.from_blocks(rows.reshape(*self.moved_shape[:-1], -1, self.block))


@dataclass(frozen=True)
class BlockScales:
    """What each block's elements are scaled by; every tensor has one row per block, (n, 1).

    ``scale``: the effective scale, NaN for blocks holding NaN or Inf. Elements are
    ``blocks * factor`` when ``divide`` is False (power-of-two scales: ``factor`` is exactly
    1 / scale) and ``blocks / factor`` otherwise (float scales: ``factor`` is the scale with 0
    replaced by Inf). ``exponent`` (power-of-two scales) or ``block_scale`` (float scales,
    before the 0-d ``tensor_scale``) are what gets encoded; ``zero_point`` for asymmetric ints.
    """

    scale: torch.Tensor
    factor: torch.Tensor
    divide: bool
    exponent: torch.Tensor | None = None
    block_scale: torch.Tensor | None = None
    tensor_scale: torch.Tensor | None = None
    zero_point: torch.Tensor | None = None

    @staticmethod
    def cat(parts: list[BlockScales]) -> BlockScales:
        """The scales of consecutive ranges of blocks, joined."""
        joined = {
            f.name: torch.cat([getattr(p, f.name) for p in parts])
            for f in fields(BlockScales)
            if f.name not in ("divide", "tensor_scale") and getattr(parts[0], f.name) is not None
        }
        return replace(parts[0], **joined)


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
        return apply_scale_(self.elements, self.scale, self.zero_point)


def fake_quantize_blocks(
    x: torch.Tensor,
    fmt: BlockFormat,
    axis: int,
    rounding: str,
    noise: torch.Tensor | None,
    out: torch.Tensor | None = None,
    steps: Steps | None = None,
) -> torch.Tensor:
    """Quantize and dequantize ``x`` (float, ``axis`` normalized) onto a block format.

    The result has ``x``'s shape and dtype and is written into ``out`` when given (contiguous,
    same shape and dtype). Plain float32 layouts are computed straight into the result.
    ``steps``: how the computations run (default ``EAGER``; see ``Steps``).
    """
    layout, blocks, block_noise = block_rows(x, fmt, axis, noise)
    direct = layout.is_plain and blocks.dtype == x.dtype
    if direct:
        result = empty_like(x) if out is None else out
        target = result.view(blocks.shape)
    else:
        target = torch.empty_like(blocks)
    for _ in quantized_chunks(blocks, block_noise, fmt, rounding, target, dequantize=True, steps=steps):
        pass
    if direct:
        return result
    values = layout.from_rows(target).to(x.dtype)
    return values.contiguous() if out is None else out.copy_(values)


def block_rows(
    x: torch.Tensor, fmt: BlockFormat, axis: int, noise: torch.Tensor | None
) -> tuple[BlockLayout, torch.Tensor, torch.Tensor | None]:
    """The layout, and ``x`` and ``noise`` as (n_blocks, block) rows in the compute dtype.

    ``x`` is detached: block quantization is not differentiable, and its in-place and ``out=``
    operations would be refused on a tensor that requires grad.
    """
    layout = BlockLayout.of(x.shape, fmt, axis)
    dtype = element_compute_dtype(fmt.element, x.dtype, scaled=True)
    blocks = layout.to_rows(x.detach().to(dtype))
    block_noise = None if noise is None else layout.to_rows(noise.to(dtype))
    return layout, blocks, block_noise


def quantized_chunks(
    blocks: torch.Tensor,
    noise: torch.Tensor | None,
    fmt: BlockFormat,
    rounding: str,
    target: torch.Tensor | None = None,
    dequantize: bool = False,
    steps: Steps | None = None,
) -> Iterator[tuple[slice, BlockScales, torch.Tensor]]:
    """Scale and round (and dequantize) ``blocks`` chunk by chunk: yields each chunk's rows,
    scales and values.

    The values are written into ``target[rows]``, or, without a target, into one chunk-sized
    buffer reused from chunk to chunk (use them before asking for the next).
    """
    steps = steps or EAGER
    workspace = _workspace(blocks, steps.chunk)
    if target is None:
        buffer = blocks.new_empty((_rows_per_chunk(blocks, steps.chunk), blocks.shape[1]))
    amax, tensor_scale = steps.tensor_scale(blocks, fmt, steps.chunk, workspace)
    for rows in row_chunks(blocks, steps.chunk):
        part_amax = None if amax is None else amax[rows]
        scales = steps.scales(blocks[rows], fmt, tensor_scale, part_amax, workspace)
        noise_part = None if noise is None else noise[rows]
        out = buffer[: blocks[rows].shape[0]] if target is None else target[rows]
        values = steps.values(blocks[rows], scales, fmt, rounding, noise_part, out, dequantize, workspace)
        yield rows, scales, values


def quantize_rows_(
    blocks: torch.Tensor,
    scales: BlockScales,
    fmt: BlockFormat,
    rounding: str,
    noise: torch.Tensor | None,
    out: torch.Tensor,
    dequantize: bool,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """Write the rounded elements of ``blocks`` (times their scales if ``dequantize``) into ``out``."""
    values = scale_and_round(blocks, scales, fmt, rounding, noise, out, workspace)
    return dequantize_(values, scales) if dequantize else values


def _rows_per_chunk(blocks: torch.Tensor, chunk: int | None) -> int:
    n_rows, width = blocks.shape
    return n_rows if chunk is None else max(1, min(n_rows, chunk // max(width, 1)))


def row_chunks(blocks: torch.Tensor, chunk: int | None) -> list[slice]:
    """Slices of whole rows (blocks) covering ``blocks`` about ``chunk`` elements at a time."""
    return chunk_slices(blocks.shape[0], _rows_per_chunk(blocks, chunk))


def chunk_slices(count: int, step: int = CHUNK_ELEMENTS) -> list[slice]:
    """Slices covering ``range(count)``, ``step`` at a time."""
    return [slice(start, start + step) for start in range(0, count, max(step, 1))]


def _workspace(blocks: torch.Tensor, chunk: int | None) -> torch.Tensor | None:
    """Integer scratch rows for the rounding of one chunk, allocated once and reused.

    Without chunking there is none: the rounding allocates its own temporary, which
    ``torch.compile`` fuses away.
    """
    if chunk is None:
        return None
    shape = (_rows_per_chunk(blocks, chunk), blocks.shape[1])
    return torch.empty(shape, dtype=_LAYOUTS[blocks.dtype].int_dtype)


def scale_and_round(
    blocks: torch.Tensor,
    scales: BlockScales,
    fmt: BlockFormat,
    rounding: str,
    noise: torch.Tensor | None,
    out: torch.Tensor | None = None,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """``blocks`` divided by their scales, rounded onto the element grid (into ``out`` if given).

    For zero-point formats the result holds the unsigned integer levels. ``workspace``: integer
    scratch rows, at least as many as ``blocks`` has.
    """
    if workspace is not None:
        workspace = workspace[: blocks.shape[0]]
    if scales.divide:
        out = torch.div(blocks, scales.factor, out=out)
    else:
        out = torch.mul(blocks, scales.factor, out=out)
    if fmt.zero_point:
        elem: IntFormat = fmt.element
        span = float(elem.qmax - elem.qmin)
        round_fixed_(out, 1.0, -span, span, rounding, noise)
        return out.add_(scales.zero_point).clamp_(elem.qmin, elem.qmax)
    return round_elements_(out, fmt.element, rounding, noise, sign_source=blocks, workspace=workspace)


def dequantize_(elements: torch.Tensor, scales: BlockScales) -> torch.Tensor:
    """Elements times their scales, in place."""
    return apply_scale_(elements, scales.scale, scales.zero_point)


def apply_scale_(
    elements: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor | None
) -> torch.Tensor:
    """(elements - zero_point) * scale, in place."""
    if zero_point is not None:
        elements.sub_(zero_point)
    return elements.mul_(scale)


def choose_scales(
    blocks: torch.Tensor,
    fmt: BlockFormat,
    tensor_scale: torch.Tensor | None = None,
    amax: torch.Tensor | None = None,
    workspace: torch.Tensor | None = None,
) -> BlockScales:
    """Every block's scale from its elements (``blocks``: (n_blocks, block) rows).

    ``tensor_scale`` (formats with a per-tensor scale) and optionally the blocks' ``amax``
    come from ``tensor_scale_of`` the whole tensor; ``workspace``: see ``block_amax``.
    """
    if fmt.zero_point:
        return _zero_point_scales(blocks, fmt)
    if amax is None:
        amax = block_amax(blocks, workspace)
    if fmt.pow2_scale:
        exponent = pow2_scale_exponent(amax, fmt)
        bad = exponent == NAN_EXPONENT
        scale = pow2(exponent.masked_fill(bad, 0), blocks.dtype).masked_fill_(bad, torch.nan)
        # 1 / 2^e is exact: e is within [-127, 127], and 2^-127 (subnormal) and 2^127 are floats.
        return BlockScales(scale, torch.reciprocal(scale), divide=False, exponent=exponent)
    block_scale = float_block_scale(amax, fmt, tensor_scale)
    scale = block_scale if tensor_scale is None else block_scale * tensor_scale
    divisor = scale.masked_fill(scale == 0, torch.inf)
    return BlockScales(scale, divisor, divide=True, block_scale=block_scale, tensor_scale=tensor_scale)


def block_amax(
    blocks: torch.Tensor, workspace: torch.Tensor | None = None, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Largest magnitude of each row, (n, 1) (into ``out`` if given); NaN or Inf for rows
    holding them.

    ``workspace`` (integer rows of ``blocks``' width, at least as many) receives the magnitudes
    instead of a new tensor (``aminmax`` over rows would avoid it, but is much slower).
    """
    scratch = None if workspace is None else workspace[: blocks.shape[0]].view(blocks.dtype)
    return torch.amax(torch.abs(blocks, out=scratch), -1, keepdim=True, out=out)


def tensor_scale_of(
    blocks: torch.Tensor, fmt: BlockFormat, chunk: int | None, workspace: torch.Tensor | None = None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """For formats with a per-tensor scale: every block's amax, and the fp32 tensor scale (0-d,
    ``blocks``' dtype); (None, None) for the others.

    g = fp32(amax / (max_elem * max_scale)), 1 when that is 0, where amax is the largest
    magnitude over the blocks free of NaN and Inf. Float64 arithmetic on 0-d tensors matches
    the specification's Python floats operation for operation, with no host sync.
    """
    if not fmt.tensor_scale:
        return None, None
    amax = blocks.new_empty((blocks.shape[0], 1))
    for rows in row_chunks(blocks, chunk):
        block_amax(blocks[rows], workspace, out=amax[rows])
    amax_tensor = torch.nan_to_num(amax, nan=0.0, posinf=0.0).max().to(torch.float64)
    scale = (amax_tensor / (fmt.element.max_normal * fmt.scale.max_normal)).to(torch.float32)
    return amax, torch.where(scale == 0, 1.0, scale).to(blocks.dtype)


NAN_EXPONENT = -(2**20)  # marks blocks whose scale is NaN (they held NaN or Inf)


def pow2_scale_exponent(amax: torch.Tensor, fmt: BlockFormat) -> torch.Tensor:
    """The shared exponent e (scale 2^e) per block, by ``fmt.scale_mode``; NAN_EXPONENT for bad blocks.

    floor: floor(log2 amax) - emax_elem (OCP MX); ceil: ceil(log2 amax) - emax_elem;
    rceil: ceil(log2(amax / max_elem)), which never clips; even: floor of amax first rounded
    to the element's precision. Clamped to the scale format's range; amax = 0 takes the lowest.
    """
    elem, bias = fmt.element, fmt.scale.bias
    # amax = mantissa * 2^exp, mantissa in [0.5, 1) (0 for amax = 0; NaN or Inf for bad blocks)
    mantissa, exp = torch.frexp(amax)
    exponent = exp.to(torch.int32).sub_(1 + elem.emax)
    if fmt.scale_mode == "ceil":
        exponent += mantissa != 0.5
    elif fmt.scale_mode in ("rceil", "even"):
        top = mantissa * 2.0 ** (elem.emax + 1)  # amax / 2^exponent, exactly, in [2^emax, 2^(emax+1))
        if fmt.scale_mode == "rceil":
            exponent += top > elem.max_normal
        else:
            exponent += top >= 2.0 ** (elem.emax + 1) - top_ulp(elem) / 2
    exponent = torch.where(mantissa == 0, -bias, exponent.clamp_(-bias, bias))
    return torch.where(mantissa < 1, exponent, NAN_EXPONENT)


def top_ulp(elem) -> float:
    """Spacing of the element grid in its top binade."""
    if isinstance(elem, FloatFormat):
        return 2.0 ** (elem.emax - elem.mbits)
    if isinstance(elem, IntFormat):
        return elem.step
    return 1.0


def float_block_scale(
    amax: torch.Tensor, fmt: BlockFormat, tensor_scale: torch.Tensor | None
) -> torch.Tensor:
    """Per-block scale amax / max_elem rounded onto the (float) scale format.

    With a tensor scale g (see ``tensor_scale_of``), blocks get round(amax / fp32(max_elem * g))
    and the effective scale is fp32(block * g).
    """
    elem_max = fmt.element.max_normal
    if tensor_scale is not None:
        elem_max = (tensor_scale.to(torch.float64) * elem_max).to(torch.float32).to(amax.dtype)
    return round_scale(amax / elem_max, fmt, ~(amax < torch.inf))  # amax >= 0: NaN or Inf


def round_scale(raw: torch.Tensor, fmt: BlockFormat, bad: torch.Tensor) -> torch.Tensor:
    """Round non-negative raw scales onto the float scale format, saturating (an overflow to Inf
    becomes the largest scale); blocks marked ``bad`` (they hold NaN or Inf) get NaN."""
    if fmt.scale == FP32:
        work = raw.to(torch.float32).clamp_(max=FP32.max_normal).to(raw.dtype)
    else:
        work = raw.to(element_compute_dtype(fmt.scale, raw.dtype, scaled=False), copy=True)
        round_float_(work, fmt.scale, _FLOAT_SCALE_ROUNDING[fmt.scale_mode])
    return work.to(raw.dtype).masked_fill_(bad, torch.nan)


def _zero_point_scales(blocks: torch.Tensor, fmt: BlockFormat) -> BlockScales:
    """Asymmetric integers: scale = (max - min) / (qmax - qmin), zero point = qmin - round(min / scale)."""
    elem: IntFormat = fmt.element
    lo = blocks.amin(-1, keepdim=True).clamp(max=0)
    hi = blocks.amax(-1, keepdim=True).clamp(min=0)
    bad = ~(torch.isfinite(lo) & torch.isfinite(hi))
    scale = round_scale((hi - lo) / (elem.qmax - elem.qmin), fmt, bad)
    divisor = scale.masked_fill(scale == 0, torch.inf)
    zero_point = torch.round(elem.qmin - lo / divisor).clamp_(elem.qmin, elem.qmax)
    zero_point = zero_point.masked_fill_(scale.isnan(), 0.0)
    return BlockScales(scale, divisor, divide=True, block_scale=scale, zero_point=zero_point)


@dataclass(frozen=True)
class Steps:
    """How the block pipeline runs: the chunk size and its three computations.

    ``tensor_scale(blocks, fmt, chunk, workspace)``: the blocks' amax and the per-tensor scale,
    or (None, None) (``tensor_scale_of``); ``scales(blocks, fmt, tensor_scale, amax,
    workspace)``: a chunk's scales (``choose_scales``);
    ``values(blocks, scales, fmt, rounding, noise, out, dequantize, workspace)``: a chunk's
    values (``quantize_rows_``). ``EAGER`` runs them as plain PyTorch operations chunk by
    chunk; ``compiled.py`` passes ``torch.compile``d versions and ``chunk=None`` (all rows at
    once): the same code, so the same bits.
    """

    chunk: int | None = CHUNK_ELEMENTS
    tensor_scale: Callable = tensor_scale_of
    scales: Callable = choose_scales
    values: Callable = quantize_rows_


EAGER = Steps()
