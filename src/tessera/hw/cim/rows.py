"""Which rows of its producers' outputs each output row of a workload op reads.

Cross-layer scheduling splits feature maps into sets of output rows, so it needs, for an op and a
range of its output rows, the range of rows of every producer's output that the op reads. A
feature map is an (N, C, H, W) tensor with H rows; any other tensor counts as one row.

- Convolutions and max/average poolings read rows ``a * stride - pad`` to
  ``b * stride - pad + kernel - 1`` (clipped); adaptive poolings read PyTorch's adaptive windows.
- Pointwise ops (elementwise arithmetic and activations, batch norm) read the same rows.
- Every other op (linear layers, reductions, other norms, softmax, unknown functions) reads all rows.

Layout functions (slicing, padding, reshaping) leave no op in a workload; when a producer's height
differs from the height the op reads, rows are mapped in proportion (``::2`` slicing, nearest
resizing), which is exact or a superset for layouts that keep rows in order.
"""

from __future__ import annotations

import math

from tessera.workload import Op, Workload

RowRange = tuple[int, int]
"""Inclusive first and last row."""

ROW_PRESERVING_NORMS = ("batch_norm",)
CROSS_ROW_ELEMENTWISE = ("softmax", "log_softmax", "softmin", "glu")


def height(shape: tuple[int, ...]) -> int:
    """Rows of a tensor: H of an (N, C, H, W) feature map, else 1."""
    return shape[2] if len(shape) == 4 else 1


def output_height(op: Op) -> int:
    return height(op.outputs[0])


def _window_rows(first: int, last: int, stride: int, pad: int, kernel: int, size: int) -> RowRange:
    return max(0, first * stride - pad), min(size - 1, last * stride - pad + kernel - 1)


def _scaled(rows: RowRange, size: int, to_size: int) -> RowRange:
    """Rows of a ``to_size``-row tensor that the rows of a ``size``-row view of it come from."""
    if size == to_size:
        return rows
    first, last = rows
    return (first * to_size) // size, min(to_size - 1, math.ceil((last + 1) * to_size / size) - 1)


def is_pointwise(op: Op) -> bool:
    """Whether each output row of ``op`` reads only the same row of its inputs (broadcasting aside)."""
    return (op.kind == "elementwise" and op.function not in CROSS_ROW_ELEMENTWISE) or (
        op.kind == "norm" and op.function in ROW_PRESERVING_NORMS
    )


def window_rows(op: Op, rows: RowRange) -> RowRange | None:
    """The rows of a convolution's or pooling's first input that its output ``rows`` read;
    ``None`` when ``op`` is neither (or not on feature maps)."""
    if not op.inputs or len(op.inputs[0]) != 4 or len(op.outputs[0]) != 4:
        return None
    in_height, (first, last) = height(op.inputs[0]), rows
    if op.conv_shape is not None:
        conv = op.conv_shape
        pad = (conv.ifmap_h - in_height) // 2
        return _window_rows(first, last, conv.stride_h, pad, conv.filter_h, in_height)
    if op.window is not None:
        window = op.window
        return _window_rows(first, last, window.stride_h, window.pad_h, window.kernel_h, in_height)
    if op.kind == "pool" and op.function.startswith("adaptive"):
        out_height = output_height(op)
        return (first * in_height) // out_height, min(
            in_height - 1, math.ceil((last + 1) * in_height / out_height) - 1
        )
    return None


def producer_rows(op: Op, producer: Op, rows: RowRange) -> RowRange:
    """The rows of ``producer``'s output that ``op``'s output ``rows`` read."""
    producer_height = output_height(producer)
    if is_pointwise(op):
        return _scaled(rows, output_height(op), producer_height)
    needed = window_rows(op, rows)
    if needed is None:
        return 0, producer_height - 1
    return _scaled(needed, height(op.inputs[0]), producer_height)


def crossbar_rows(
    workload: Workload, op: Op, rows: RowRange, is_crossbar: frozenset[str]
) -> dict[str, RowRange]:
    """The rows of the nearest crossbar layers (names in ``is_crossbar``) upstream of ``op`` that
    its output ``rows`` read, walking back through the ops between them (which run digitally and
    take no time). Several paths to one layer give the hull of their ranges."""
    found: dict[str, RowRange] = {}
    pending: list[tuple[Op, RowRange]] = [(op, rows)]
    seen: dict[str, RowRange] = {}
    while pending:
        consumer, wanted = pending.pop()
        for producer in workload.producers(consumer.name):
            needed = producer_rows(consumer, producer, wanted)
            target = found if producer.name in is_crossbar else seen
            before = target.get(producer.name)
            merged = needed if before is None else (min(before[0], needed[0]), max(before[1], needed[1]))
            if merged == before:
                continue
            target[producer.name] = merged
            if producer.name not in is_crossbar:
                pending.append((producer, merged))
    return found
