"""SCALE-Sim topology files: convolution layers and GEMMs as CSV rows.

The convolution format has a header ``Layer name, IFMAP Height, IFMAP Width, Filter Height,
Filter Width, Channels, Num Filter, Strides,`` and one row per layer; every row ends with a
comma. IFMAP sizes are the padded input (there is no padding column) and one stride serves both
directions. A layer whose name contains ``DP`` is depthwise: SCALE-Sim runs it once per
channel, each time with one channel and ``Num Filter`` filters. The GEMM format has a header
``Layer, M, N, K,`` (an M x K operand times a K x N one). Optional columns after the required
ones are read by their header: a stride width (SCALE-Sim v2), ``Batch Size``, and v3's
``Sparsity`` (``N:M``), of which only dense ratios are accepted since workloads are dense.

Reading gives a ``Workload`` of ``conv2d`` or ``gemm`` ops without edges (the files have none),
of batch 1 unless a ``Batch Size`` column says otherwise, in one element format. Writing takes
every systolic op of a workload: convolutions as convolution rows (the ``DP`` convention for
depthwise ones, one row per group for other grouped ones), GEMMs and matmuls as 1x1
convolutions over M pixels of K channels, or everything as GEMM rows. Ops that repeat a product
``count`` times (attention heads, groups) become ``count`` rows named ``name[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tessera.workload.graph import Op, OpFormats, Param, Workload
from tessera.workload.shapes import ConvShape, GemmShape

CONV_HEADER = (
    "Layer name",
    "IFMAP Height",
    "IFMAP Width",
    "Filter Height",
    "Filter Width",
    "Channels",
    "Num Filter",
    "Strides",
)
GEMM_HEADER = ("Layer", "M", "N", "K")
SPARSITY = "Sparsity"
DEPTHWISE_MARK = "DP"
# how a word of each required column's header starts (shipped files vary in the rest)
_CONV_WORDS = ("", "ifmap", "ifmap", "filter", "filter", "channel", "filter", "stride")
_GEMM_WORDS = ("", "m", "n", "k")
# optional columns after the required ones, known by a word of their header
_CONV_OPTIONAL = {"stride": "Stride Width", "sparsity": SPARSITY, "batch": "Batch Size"}
_GEMM_OPTIONAL = {"sparsity": SPARSITY}


@dataclass(frozen=True)
class _Row:
    """One data row: its line, layer name, required sizes and optional entries by header word."""

    line: int
    name: str
    sizes: tuple[int, ...]
    options: dict[str, str]


def parse_conv_topology(text: str, source: str = "topology", fmt: str = "fp32") -> Workload:
    """The convolution layers of a SCALE-Sim topology (CSV text), as ``conv2d`` ops in ``fmt``.

    Optional columns after ``Strides``: a stride width (SCALE-Sim v2), ``Sparsity`` (v3, dense
    only) and ``Batch Size``. ValueError naming the line and column for a malformed header or
    row, a non-positive size, a filter larger than its input or a sparse layer.
    """
    ops = []
    for row in _read(text, source, CONV_HEADER, _CONV_WORDS, _CONV_OPTIONAL):
        ifmap_h, ifmap_w, filter_h, filter_w, channels, filters, stride = row.sizes
        stride_w = _option(row, "stride", _CONV_OPTIONAL, source, stride)
        batch = _option(row, "batch", _CONV_OPTIONAL, source, 1)
        groups = channels if DEPTHWISE_MARK in row.name else 1
        try:
            conv = ConvShape(
                ifmap_h,
                ifmap_w,
                filter_h,
                filter_w,
                channels,
                filters * groups,
                stride,
                stride_w,
                groups,
                batch,
            )
        except ValueError as err:
            raise ValueError(f"{source}: line {row.line}: {err}") from None
        ops.append((row.name, conv))
    return Workload(_stem(source), tuple(_conv_op(name, conv, fmt) for name, conv in _dedupe(ops)))


def parse_gemm_topology(text: str, source: str = "topology", fmt: str = "fp32") -> Workload:
    """The GEMMs of a SCALE-Sim GEMM topology (CSV text), as ``gemm`` ops whose K x N operand is
    a stored weight, in ``fmt``. ValueError naming the line and column for malformed rows."""
    rows = _read(text, source, GEMM_HEADER, _GEMM_WORDS, _GEMM_OPTIONAL)
    ops = [(row.name, GemmShape(*row.sizes)) for row in rows]
    return Workload(_stem(source), tuple(_gemm_op(name, gemm, fmt) for name, gemm in _dedupe(ops)))


def format_conv_topology(workload: Workload) -> str:
    """Every systolic op of ``workload`` as SCALE-Sim convolution rows (CSV text).

    ValueError for ops SCALE-Sim's convolution format cannot hold: a batch above 1, unequal
    strides, dilation, names with commas, or ``DP`` in the name of a layer that is not depthwise.
    """
    lines = [", ".join(CONV_HEADER) + ","]
    for op in workload.systolic_ops():
        for name, conv in _conv_rows(op):
            sizes = (conv.ifmap_h, conv.ifmap_w, conv.filter_h, conv.filter_w, conv.channels)
            lines.append(",".join([name, *map(str, sizes), str(conv.filters), str(conv.stride_h)]) + ",")
    return "\n".join(lines) + "\n"


def format_gemm_topology(workload: Workload) -> str:
    """Every systolic op of ``workload`` as SCALE-Sim GEMM rows (CSV text), convolutions as their
    im2col GEMM (M includes the batch)."""
    lines = [", ".join(GEMM_HEADER) + ","]
    for op in workload.systolic_ops():
        gemm = op.gemm()
        for name in _repeat_names(op, gemm.count):
            lines.append(f"{name},{gemm.m},{gemm.n},{gemm.k},")
    return "\n".join(lines) + "\n"


def read_conv_topology(path: str | Path, fmt: str = "fp32") -> Workload:
    """``parse_conv_topology`` of a file (UTF-8, byte-order mark allowed)."""
    path = Path(path)
    return parse_conv_topology(path.read_text(encoding="utf-8-sig"), str(path), fmt)


def read_gemm_topology(path: str | Path, fmt: str = "fp32") -> Workload:
    """``parse_gemm_topology`` of a file (UTF-8, byte-order mark allowed)."""
    path = Path(path)
    return parse_gemm_topology(path.read_text(encoding="utf-8-sig"), str(path), fmt)


def write_conv_topology(workload: Workload, path: str | Path) -> None:
    """Write ``format_conv_topology(workload)`` to ``path``."""
    Path(path).write_text(format_conv_topology(workload))


def write_gemm_topology(workload: Workload, path: str | Path) -> None:
    """Write ``format_gemm_topology(workload)`` to ``path``."""
    Path(path).write_text(format_gemm_topology(workload))


def _read(
    text: str, source: str, header: tuple[str, ...], words: tuple[str, ...], optional: dict[str, str]
) -> list[_Row]:
    """The data rows of a topology. Blank rows are skipped; a row's trailing empty fields and a
    trailing ``#`` comment are dropped; optional columns may be left out at the end of a row."""
    lines: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        fields = [field.strip() for field in raw.split(",")]
        while fields and not fields[-1]:
            fields.pop()
        if fields and fields[-1].startswith("#"):
            fields.pop()
        if fields:
            lines.append((number, fields))
    if not lines:
        raise ValueError(f"{source}: no header: expected {', '.join(header)}")
    header_line, names = lines[0]
    for i, word in enumerate(words):
        if i >= len(names) or not any(token.startswith(word) for token in names[i].lower().split()):
            got = names[i] if i < len(names) else "nothing"
            raise ValueError(
                f"{source}: line {header_line}: column {i + 1} should be {header[i]!r}, got {got!r} "
                f"(expected the header {', '.join(header)})"
            )
    extras = []
    for name in names[len(words) :]:
        known = [key for key in optional if key in name.lower() and key not in extras]
        if not known:
            raise ValueError(
                f"{source}: line {header_line}: unexpected column {name!r} after {header[-1]!r} "
                f"(known: {', '.join(optional.values())})"
            )
        extras.append(known[0])
    columns = len(words) + len(extras)
    rows = []
    for line, fields in lines[1:]:
        if len(fields) > columns:
            raise ValueError(
                f"{source}: line {line}: {len(fields)} fields, the header has {columns} columns "
                f"(extra field {fields[columns]!r})"
            )
        if len(fields) < len(words):
            raise ValueError(f"{source}: line {line}, column {header[len(fields)]!r}: missing")
        if not fields[0]:
            raise ValueError(f"{source}: line {line}, column {header[0]!r}: empty layer name")
        sizes = tuple(_positive(field, column, source, line) for field, column in zip(fields[1:], header[1:]))
        options = dict(zip(extras, fields[len(words) :]))
        _dense(options.get("sparsity"), source, line)
        rows.append(_Row(line, fields[0], sizes, options))
    return rows


def _positive(field: str, column: str, source: str, line: int) -> int:
    if not field.isdigit() or int(field) < 1:
        raise ValueError(
            f"{source}: line {line}, column {column!r}: expected a positive integer, got {field!r}"
        )
    return int(field)


def _option(row: _Row, key: str, optional: dict[str, str], source: str, default: int) -> int:
    """An optional integer column of a row, or ``default`` when the row leaves it out."""
    field = row.options.get(key)
    return default if field is None else _positive(field, optional[key], source, row.line)


def _dense(ratio: str | None, source: str, line: int) -> None:
    """Reject a Sparsity entry other than N:N (dense)."""
    if ratio is None:
        return
    kept, _, block = ratio.replace(" ", "").partition(":")
    if not (kept.isdigit() and block.isdigit() and int(block) > 0):
        raise ValueError(f"{source}: line {line}, column {SPARSITY!r}: expected N:M, got {ratio!r}")
    if int(kept) != int(block):
        raise ValueError(
            f"{source}: line {line}, column {SPARSITY!r}: {kept}:{block} sparsity is not supported "
            "(workloads are dense)"
        )


def _dedupe(rows: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Rows with repeated layer names made unique by ``#2``, ``#3``..."""
    seen: dict[str, int] = {}
    named = []
    for name, shape in rows:
        seen[name] = seen.get(name, 0) + 1
        named.append((name if seen[name] == 1 else f"{name}#{seen[name]}", shape))
    return named


def _conv_op(name: str, conv: ConvShape, fmt: str) -> Op:
    weight = (conv.filters, conv.channels // conv.groups, conv.filter_h, conv.filter_w)
    return Op(
        name=name,
        kind="conv2d",
        inputs=((1, conv.channels, conv.ifmap_h, conv.ifmap_w),),
        outputs=((1, conv.filters, conv.ofmap_h, conv.ofmap_w),),
        formats=OpFormats(fmt, fmt),
        function="conv2d",
        params=(Param(f"{name}.weight", weight, fmt),),
        gemm_shape=conv.gemm(),
        conv_shape=conv,
    )


def _gemm_op(name: str, gemm: GemmShape, fmt: str) -> Op:
    return Op(
        name=name,
        kind="gemm",
        inputs=((gemm.m, gemm.k),),
        outputs=((gemm.m, gemm.n),),
        formats=OpFormats(fmt, fmt),
        function="linear",
        params=(Param(f"{name}.weight", (gemm.n, gemm.k), fmt),),
        gemm_shape=gemm,
    )


def _conv_rows(op: Op) -> list[tuple[str, ConvShape]]:
    """The convolution rows of one systolic op."""
    if "," in op.name or "\n" in op.name:
        raise ValueError(f"op {op.name!r}: a topology layer name cannot hold a comma or a line break")
    if op.conv_shape is None and op.kind in ("conv2d", "conv1d"):
        raise ValueError(f"op {op.name!r}: SCALE-Sim has no dilated convolutions")
    if op.conv_shape is None:
        gemm = op.gemm()
        pixels = ConvShape(gemm.m, 1, 1, 1, gemm.k, gemm.n)
        return [(name, pixels) for name in _repeat_names(op, gemm.count)]
    conv = op.conv_shape
    if conv.batch != 1:
        raise ValueError(
            f"op {op.name!r}: batch {conv.batch}; a SCALE-Sim convolution topology holds one image "
            "(capture with batch 1, or write a GEMM topology)"
        )
    if conv.stride_h != conv.stride_w:
        raise ValueError(f"op {op.name!r}: strides {conv.stride_h}x{conv.stride_w}; SCALE-Sim has one stride")
    depthwise = conv.groups > 1 and conv.channels == conv.groups
    if DEPTHWISE_MARK in op.name and not depthwise:
        raise ValueError(f"op {op.name!r}: SCALE-Sim reads a name containing {DEPTHWISE_MARK!r} as depthwise")
    per_group = ConvShape(
        conv.ifmap_h,
        conv.ifmap_w,
        conv.filter_h,
        conv.filter_w,
        conv.channels // conv.groups,
        conv.filters // conv.groups,
        conv.stride_h,
        conv.stride_w,
    )
    if depthwise:
        name = op.name if DEPTHWISE_MARK in op.name else f"{op.name}_{DEPTHWISE_MARK}"
        return [(name, _with_channels(per_group, conv.channels))]
    return [(name, per_group) for name in _repeat_names(op, conv.groups)]


def _with_channels(conv: ConvShape, channels: int) -> ConvShape:
    """A depthwise row: all channels, the filters of one channel (SCALE-Sim splits it per channel)."""
    return ConvShape(
        conv.ifmap_h,
        conv.ifmap_w,
        conv.filter_h,
        conv.filter_w,
        channels,
        conv.filters,
        conv.stride_h,
        conv.stride_w,
    )


def _repeat_names(op: Op, count: int) -> list[str]:
    if "," in op.name or "\n" in op.name:
        raise ValueError(f"op {op.name!r}: a topology layer name cannot hold a comma or a line break")
    return [op.name] if count == 1 else [f"{op.name}[{i}]" for i in range(count)]


def _stem(source: str) -> str:
    name = Path(source).name
    return name.rsplit(".", 1)[0] if "." in name else name or "topology"
