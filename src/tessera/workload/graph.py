"""The workload graph: ops with shapes, element formats and producer/consumer edges.

A ``Workload`` lists its ops in topological order (every producer comes before its consumers).
Each op records the shapes of the activations it reads and writes, the stored tensors
(parameters, buffers) it reads, and, for the ops a systolic array runs (``SYSTOLIC_KINDS``),
its GEMM in SCALE-Sim's convention. Everything is frozen; ``to_dict``/``from_dict`` give the
plain-data form that ``tessera.workload.serialize`` writes as YAML or JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tessera.formats import BlockFormat, get_format
from tessera.workload.shapes import ConvShape, GemmShape, PoolWindow
from tessera.workload.strict import Fields, check_shape

Shape = tuple[int, ...]
"""A tensor shape: a tuple of positive sizes (``()`` for a scalar)."""

SCHEMA_VERSION = 1

KINDS = (
    "gemm",  # a matrix product with a stored (weight) operand: linear layers
    "matmul",  # a matrix product of two activations: attention's q kᵀ and probabilities x v
    "conv2d",
    "conv1d",
    "pool",  # max, average and adaptive pooling
    "norm",  # batch, layer, group and RMS norms, L2 normalisation
    "embedding",  # table lookups
    "elementwise",  # activations, arithmetic (residual adds), softmax
    "reduce",  # sums, means, maxima over dimensions
    "other",  # any other computing function, recorded with its name and shapes
)
SYSTOLIC_KINDS = ("gemm", "matmul", "conv2d", "conv1d")
CONV_KINDS = ("conv2d", "conv1d")


def check_format(name: Any, field_name: str, optional: bool = True) -> str | None:
    """The canonical name of a Tessera format (``None`` allowed when ``optional``)."""
    if name is None and optional:
        return None
    if not isinstance(name, str):
        raise ValueError(f"{field_name} must be a format name, got {name!r}")
    try:
        return get_format(name).name
    except ValueError as err:
        raise ValueError(f"{field_name}: {err}") from None


def format_bits(name: str) -> float:
    """Storage per element of a named format in bits, shared scales included."""
    fmt = get_format(name)
    return fmt.bits_per_element if isinstance(fmt, BlockFormat) else float(fmt.bits)


@dataclass(frozen=True)
class Param:
    """A stored tensor an op reads: its name in the model, shape and element format."""

    name: str
    shape: Shape
    format: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Param.name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "shape", check_shape(self.shape, f"Param {self.name!r} shape"))
        object.__setattr__(self, "format", check_format(self.format, f"Param {self.name!r} format", False))

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def size_bytes(self) -> float:
        """Storage in bytes at this format (fractional for block formats' shared scales)."""
        return self.elements * format_bits(self.format) / 8

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "format": self.format}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Param:
        fields = Fields(data, where, PARAM_KEYS)
        return fields.build(
            cls, name=fields.text("name"), shape=fields.shape("shape"), format=fields.text("format")
        )


@dataclass(frozen=True)
class OpFormats:
    """Element formats of an op's activations: ``input`` (its first activation input) and
    ``output``. ``None`` where the tensor holds no Tessera number format (integer indices,
    booleans, float64)."""

    input: str | None
    output: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input", check_format(self.input, "OpFormats.input"))
        object.__setattr__(self, "output", check_format(self.output, "OpFormats.output"))


@dataclass(frozen=True)
class Op:
    """One operation of a workload.

    ``inputs``/``outputs``: shapes of the activations it reads and writes (stored tensors are in
    ``params``). ``producers``: names of the ops whose outputs it reads, in argument order; empty
    when it reads only model inputs and constants. ``module``: the dotted path of the innermost
    ``nn.Module`` that ran it (``""`` for the model itself); ``function``: the PyTorch function.
    ``gemm_shape``: for systolic kinds, the GEMM (SCALE-Sim convention); ``conv_shape``: for
    convolutions, the convolution on its padded input (``None`` for dilated convolutions, which
    SCALE-Sim cannot describe). ``window``: for max and average poolings, the pooling window
    (``None`` for adaptive and dilated poolings).
    """

    name: str
    kind: str
    inputs: tuple[Shape, ...]
    outputs: tuple[Shape, ...]
    formats: OpFormats
    producers: tuple[str, ...] = ()
    module: str = ""
    function: str = ""
    params: tuple[Param, ...] = ()
    gemm_shape: GemmShape | None = None
    conv_shape: ConvShape | None = None
    window: PoolWindow | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Op.name must be a non-empty string, got {self.name!r}")
        where = f"op {self.name!r}"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        for field_name in ("inputs", "outputs"):
            shapes = tuple(
                check_shape(shape, f"{where} {field_name}[{i}]")
                for i, shape in enumerate(getattr(self, field_name))
            )
            object.__setattr__(self, field_name, shapes)
        object.__setattr__(self, "producers", tuple(self.producers))
        object.__setattr__(self, "params", tuple(self.params))
        if len(set(self.producers)) != len(self.producers):
            raise ValueError(f"{where}: producers repeat a name: {list(self.producers)}")
        if self.kind in SYSTOLIC_KINDS and self.gemm_shape is None:
            raise ValueError(f"{where}: a {self.kind} op needs a gemm_shape")
        if self.kind not in SYSTOLIC_KINDS and self.gemm_shape is not None:
            raise ValueError(f"{where}: a {self.kind} op has no gemm_shape")
        if self.conv_shape is not None:
            if self.kind not in CONV_KINDS:
                raise ValueError(f"{where}: a {self.kind} op has no conv_shape")
            if self.conv_shape.gemm() != self.gemm_shape:
                raise ValueError(
                    f"{where}: gemm_shape {self.gemm_shape} differs from the convolution's "
                    f"{self.conv_shape.gemm()}"
                )
        if self.window is not None and self.kind != "pool":
            raise ValueError(f"{where}: a {self.kind} op has no pooling window")

    @property
    def is_systolic(self) -> bool:
        """Whether a systolic array runs this op (gemm, matmul, convolutions)."""
        return self.kind in SYSTOLIC_KINDS

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the op's GEMM; 0 for ops without one."""
        return self.gemm_shape.macs if self.gemm_shape is not None else 0

    @property
    def weight_format(self) -> str | None:
        """Format of the op's first stored tensor (a gemm's or convolution's weight), or None."""
        return self.params[0].format if self.params else None

    def gemm(self) -> GemmShape:
        """The GEMM a systolic array runs: M = batch x output pixels (or rows), K = reduction,
        N = filters (or columns), per group / attention head; ``count`` groups or heads."""
        if self.gemm_shape is None:
            raise ValueError(f"op {self.name!r} ({self.kind}) is not a GEMM")
        return self.gemm_shape

    def conv(self) -> ConvShape:
        """The convolution on its padded input, as SCALE-Sim's topology files describe it."""
        if self.conv_shape is None:
            reason = "dilated" if self.kind in CONV_KINDS else f"a {self.kind} op, not a convolution"
            raise ValueError(f"op {self.name!r} has no SCALE-Sim convolution shape ({reason})")
        return self.conv_shape

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "function": self.function,
            "module": self.module,
            "inputs": [list(shape) for shape in self.inputs],
            "outputs": [list(shape) for shape in self.outputs],
            "formats": {"input": self.formats.input, "output": self.formats.output},
            "params": [param.to_dict() for param in self.params],
            "producers": list(self.producers),
        }
        if self.gemm_shape is not None:
            data["gemm"] = _fields_of(self.gemm_shape, GEMM_FIELDS)
        if self.conv_shape is not None:
            data["conv"] = _fields_of(self.conv_shape, CONV_FIELDS)
        if self.window is not None:
            data["window"] = _fields_of(self.window, WINDOW_FIELDS)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Op:
        fields = Fields(data, where, OP_KEYS)
        formats = Fields(fields.take("formats", Mapping), fields.field("formats"), ("input", "output"))
        op_formats = formats.build(
            OpFormats, input=formats.optional_text("input"), output=formats.optional_text("output")
        )
        params = tuple(
            Param.from_dict(item, f"{fields.where}, params[{i}]")
            for i, item in enumerate(fields.take("params", list, []))
        )
        return fields.build(
            cls,
            name=fields.text("name"),
            kind=fields.text("kind"),
            function=fields.take("function", str, ""),
            module=fields.take("module", str, ""),
            inputs=fields.shapes("inputs"),
            outputs=fields.shapes("outputs"),
            formats=op_formats,
            params=params,
            producers=tuple(fields.text_list("producers")),
            gemm_shape=fields.record("gemm", GemmShape, GEMM_FIELDS),
            conv_shape=fields.record("conv", ConvShape, CONV_FIELDS),
            window=fields.record("window", PoolWindow, WINDOW_FIELDS),
        )


GEMM_FIELDS = ("m", "n", "k", "count")
CONV_FIELDS = (
    "ifmap_h",
    "ifmap_w",
    "filter_h",
    "filter_w",
    "channels",
    "filters",
    "stride_h",
    "stride_w",
    "groups",
    "batch",
)
WINDOW_FIELDS = ("kernel_h", "kernel_w", "stride_h", "stride_w", "pad_h", "pad_w")


PARAM_KEYS = ("name", "shape", "format")
OP_KEYS = (
    "name",
    "kind",
    "function",
    "module",
    "inputs",
    "outputs",
    "formats",
    "params",
    "producers",
    "gemm",
    "conv",
    "window",
)
WORKLOAD_KEYS = ("schema_version", "name", "inputs", "ops")


def _fields_of(record: object, names: tuple[str, ...]) -> dict[str, int]:
    return {name: getattr(record, name) for name in names}


@dataclass(frozen=True)
class Workload:
    """A model's ops in topological order, with the shapes of the model's tensor inputs."""

    name: str
    ops: tuple[Op, ...]
    inputs: tuple[Shape, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(
            self,
            "inputs",
            tuple(check_shape(shape, f"workload inputs[{i}]") for i, shape in enumerate(self.inputs)),
        )
        seen: set[str] = set()
        for op in self.ops:
            if op.name in seen:
                raise ValueError(f"workload {self.name!r}: two ops are named {op.name!r}")
            for producer in op.producers:
                if producer not in seen:
                    raise ValueError(
                        f"workload {self.name!r}: op {op.name!r} reads {producer!r}, which is not an "
                        "earlier op (ops must be in topological order)"
                    )
            seen.add(op.name)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    @cached_property
    def _by_name(self) -> dict[str, Op]:
        return {op.name: op for op in self.ops}

    @cached_property
    def _consumers(self) -> dict[str, tuple[Op, ...]]:
        found: dict[str, list[Op]] = {op.name: [] for op in self.ops}
        for op in self.ops:
            for producer in op.producers:
                found[producer].append(op)
        return {name: tuple(ops) for name, ops in found.items()}

    def op(self, name: str) -> Op:
        """The op called ``name``; KeyError naming it otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"workload {self.name!r} has no op {name!r}") from None

    def producers(self, name: str) -> tuple[Op, ...]:
        """The ops whose outputs op ``name`` reads."""
        return tuple(self._by_name[p] for p in self.op(name).producers)

    def consumers(self, name: str) -> tuple[Op, ...]:
        """The ops that read op ``name``'s output, in topological order."""
        self.op(name)
        return self._consumers[name]

    def of_kind(self, *kinds: str) -> tuple[Op, ...]:
        """The ops of the given kinds, in order."""
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; valid: {', '.join(KINDS)}")
        return tuple(op for op in self.ops if op.kind in kinds)

    def systolic_ops(self) -> tuple[Op, ...]:
        """The ops a systolic array runs (each has ``.gemm()``)."""
        return tuple(op for op in self.ops if op.is_systolic)

    def layers(self) -> tuple[GemmShape | ConvShape, ...]:
        """The systolic ops as hardware models take them, in order: a convolution's ``ConvShape``
        (its padded input sizes the buffers), any other op's ``GemmShape``."""
        return tuple(op.conv_shape or op.gemm() for op in self.systolic_ops())

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all GEMMs and convolutions."""
        return sum(op.macs for op in self.ops)

    @cached_property
    def params(self) -> tuple[Param, ...]:
        """Every stored tensor the ops read, once each (shared weights counted once)."""
        unique: dict[str, Param] = {}
        for op in self.ops:
            for param in op.params:
                unique.setdefault(param.name, param)
        return tuple(unique.values())

    @property
    def param_bytes(self) -> float:
        """Storage of all stored tensors in bytes, each at the format the op reads it in."""
        return sum(param.size_bytes for param in self.params)

    def to_rows(self) -> list[dict[str, object]]:
        """One flat dict per op for tables: shapes as ``AxBxC`` text, GEMM dims, MACs, bytes."""
        rows = []
        for op in self.ops:
            gemm = op.gemm_shape
            rows.append(
                {
                    "name": op.name,
                    "kind": op.kind,
                    "input": " ".join(_shape_text(shape) for shape in op.inputs),
                    "output": " ".join(_shape_text(shape) for shape in op.outputs),
                    "input_format": op.formats.input,
                    "weight_format": op.weight_format,
                    "output_format": op.formats.output,
                    "m": gemm.m if gemm else None,
                    "n": gemm.n if gemm else None,
                    "k": gemm.k if gemm else None,
                    "count": gemm.count if gemm else None,
                    "macs": op.macs,
                    "param_bytes": sum(param.size_bytes for param in op.params),
                    "producers": ",".join(op.producers),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain data with a schema version, as YAML and JSON files hold it."""
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "inputs": [list(shape) for shape in self.inputs],
            "ops": [op.to_dict() for op in self.ops],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "workload") -> Workload:
        """The workload ``to_dict`` gave; unknown, missing or malformed fields are ValueErrors
        naming the field (and the line, for mappings read by ``serialize``)."""
        fields = Fields(data, source, WORKLOAD_KEYS)
        version = fields.take("schema_version", int)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"{fields.where}: schema_version {version} is not supported "
                f"(this Tessera reads {SCHEMA_VERSION})"
            )
        name = fields.text("name")
        inputs = fields.shapes("inputs", required=False)
        ops = tuple(
            Op.from_dict(item, f"{source}: ops[{i}]") for i, item in enumerate(fields.take("ops", list))
        )
        return fields.build(cls, name=name, ops=ops, inputs=inputs)


def _shape_text(shape: Shape) -> str:
    return "x".join(str(size) for size in shape) or "scalar"
