"""Attention calls recorded as the ops a systolic array and a vector unit run.

``F.scaled_dot_product_attention`` becomes ``attention_qk`` (q kᵀ, a matmul), ``attention_softmax``
(elementwise, with the scaling and the mask) and ``attention_av`` (probabilities x v, a matmul),
each once per query head and example. ``F.multi_head_attention_forward`` (``nn.MultiheadAttention``)
adds its input projections ``q_proj``, ``k_proj``, ``v_proj`` and its output projection
``out_proj`` (gemms) around the same three. Tessera's fake-quantized attention
(``tessera.quant.attention.fake_quant_attention``) becomes the same three ops, its two matmuls
reading operands in its format; the softmax stays in the tensors' own format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from tessera.formats import Format, get_format
from tessera.workload.graph import OpFormats
from tessera.workload.lowering import argument, attention_gemms, dtype_format, linear_gemm, ordered_unique

if TYPE_CHECKING:
    from tessera.workload.recorder import Frame, Recorder

SDPA = "scaled_dot_product_attention"
FAKE_QUANT = "fake_quant_attention"
MHA = "multi_head_attention_forward"


def record_attention(
    recorder: Recorder, args: tuple, kwargs: dict[str, Any], outputs: list[torch.Tensor], frame: Frame | None
) -> None:
    """Record an ``F.scaled_dot_product_attention`` call on (..., heads, tokens, width) tensors."""
    query, key, value = (argument(args, kwargs, i, n) for i, n in enumerate(("query", "key", "value")))
    mask = argument(args, kwargs, 3, "attn_mask")
    out_shapes = tuple(tuple(t.shape) for t in outputs)
    recorder.produce(outputs, _attention(recorder, SDPA, frame, query, key, value, mask, out_shapes))


def record_quantized_attention(
    recorder: Recorder,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    fmt: Format | str,
    mask: Any,
    frame: Frame | None,
) -> int:
    """Record a ``fake_quant_attention`` call (its arguments, before it runs) as an SDPA call
    whose two matmuls read ``fmt`` operands; returns the index of ``attention_av``, the op that
    produces its result."""
    out_shape = (*query.shape[:-1], value.shape[-1])
    operand_format = get_format(fmt).name
    return _attention(recorder, FAKE_QUANT, frame, query, key, value, mask, (out_shape,), operand_format)


def _attention(
    recorder: Recorder,
    function: str,
    frame: Frame | None,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: Any,
    out_shapes: tuple[tuple[int, ...], ...],
    operand_format: str | None = None,
) -> int:
    """Emit attention on (..., heads, tokens, width) tensors; returns the index of the last matmul."""
    _, av = _scores_and_mix(
        recorder,
        function,
        frame,
        (tuple(query.shape), tuple(key.shape), tuple(value.shape)),
        (recorder.producers([query]), recorder.producers([key]), recorder.producers([value])),
        mask,
        out_shapes,
        dtype_format(query.dtype),
        operand_format,
    )
    return av


def record_multihead_attention(
    recorder: Recorder, args: tuple, kwargs: dict[str, Any], outputs: list[torch.Tensor], frame: Frame | None
) -> None:
    """Record an ``F.multi_head_attention_forward`` call on (tokens, batch, features) inputs: the
    three input projections, attention per head, the output projection."""
    query, key, value = args[:3]
    heads = argument(args, kwargs, 4, "num_heads")
    if argument(args, kwargs, 17, "use_separate_proj_weight", False):
        weights = [argument(args, kwargs, i, n) for i, n in ((18, "q_proj_weight"), (19, "k_proj_weight"))]
        weights.append(argument(args, kwargs, 20, "v_proj_weight"))
    else:
        weights = [argument(args, kwargs, 5, "in_proj_weight")] * 3
    in_bias = argument(args, kwargs, 6, "in_proj_bias")
    out_weight, out_bias = (
        argument(args, kwargs, 11, "out_proj_weight"),
        argument(args, kwargs, 12, "out_proj_bias"),
    )
    width = out_weight.shape[0]
    fmt = dtype_format(query.dtype)
    formats = OpFormats(fmt, fmt)
    projected = []
    for label, x, weight in zip(("q_proj", "k_proj", "v_proj"), (query, key, value), weights):
        tokens = tuple(x.shape[:-1])
        projected.append(
            recorder.emit(
                "gemm",
                MHA,
                label,
                frame,
                (tuple(x.shape),),
                ((*tokens, width),),
                formats,
                recorder.producers([x]),
                recorder.params([weight, in_bias]),
                linear_gemm(tuple(x.shape), (width, x.shape[-1])),
            )
        )
    extra_keys = int(argument(args, kwargs, 7, "bias_k") is not None) + int(
        bool(argument(args, kwargs, 9, "add_zero_attn", False))
    )
    shapes = [_per_head(query, heads, width), _per_head(key, heads, width, extra_keys)]
    shapes.append(_per_head(value, heads, width, extra_keys))
    mask = argument(args, kwargs, 16, "attn_mask")
    softmax, av = _scores_and_mix(
        recorder,
        MHA,
        frame,
        tuple(shapes),
        tuple((index,) for index in projected),
        mask,
        (shapes[0],),  # attention's output has the queries' per-head shape
        fmt,
    )
    attended = outputs[0]
    out = recorder.emit(
        "gemm",
        MHA,
        "out_proj",
        frame,
        (tuple(attended.shape),),
        (tuple(attended.shape),),
        OpFormats(fmt, dtype_format(attended.dtype)),
        (av,),
        recorder.params([out_weight, out_bias]),
        linear_gemm(tuple(attended.shape), tuple(out_weight.shape)),
    )
    recorder.produce([attended], out)
    recorder.produce(outputs[1:], softmax)  # the attention weights, when asked for


def _per_head(x: torch.Tensor, heads: int, width: int, extra: int = 0) -> tuple[int, ...]:
    """(batch, heads, tokens, width / heads) of a projected (tokens, batch, ...) input; ``extra``
    key positions come from ``bias_k`` and ``add_zero_attn``."""
    batch = x.shape[1] if x.dim() == 3 else 1
    return (batch, heads, x.shape[0] + extra, width // heads)


def _scores_and_mix(
    recorder: Recorder,
    function: str,
    frame: Frame | None,
    shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
    producers: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
    mask: Any,
    out_shapes: tuple[tuple[int, ...], ...],
    fmt: str | None,
    operand_format: str | None = None,
) -> tuple[int, int]:
    """Emit q kᵀ, softmax and probabilities x v for query, key and value ``shapes`` and their
    producers, in format ``fmt``; the matmuls read ``operand_format`` operands where one is given.
    Returns the indices of the softmax and of the last matmul."""
    query, key, value = shapes
    scores_gemm, mixed_gemm, scores = attention_gemms(query, key, value)
    formats = OpFormats(fmt, fmt)
    matmul_formats = OpFormats(operand_format or fmt, fmt)
    qk = recorder.emit(
        "matmul",
        function,
        "attention_qk",
        frame,
        (query, key),
        (scores,),
        matmul_formats,
        ordered_unique(producers[0] + producers[1]),
        gemm_shape=scores_gemm,
    )
    masks = [mask] if isinstance(mask, torch.Tensor) and recorder.followed(mask) else []
    softmax = recorder.emit(
        "elementwise",
        function,
        "attention_softmax",
        frame,
        (scores, *(tuple(m.shape) for m in masks)),
        (scores,),
        formats,
        ordered_unique((qk, *recorder.producers(masks))),
    )
    av = recorder.emit(
        "matmul",
        function,
        "attention_av",
        frame,
        (scores, value),
        out_shapes,
        matmul_formats,
        ordered_unique((softmax, *producers[2])),
        gemm_shape=mixed_gemm,
    )
    return softmax, av
