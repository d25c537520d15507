"""How a layer's integer weights and inputs become cell levels, row drives and digital recombination.

A mapping turns a weight matrix ``W`` (out, in) into weight planes (cell levels on ``row_factor * in``
physical rows and ``out`` columns each; a differential plane has a second, subtracted column per
output) and an input batch ``x`` (batch, in) into input planes (rows driven or not, one read phase
each). With ``S[p, q]`` the signal of input plane ``p`` on weight plane ``q`` in level units (summed
levels of driven cells; the difference of the two columns for differential planes), the layer's
output is exactly

    y = sum_pq input_coef[p] * weight_coef[q] * S[p, q] + correction(x)

where ``correction`` is computed digitally. Binary mappings (weights and inputs ±1) and ternary
mappings ({-1, 0, 1}) follow CIM-Explorer; integer mappings slice weights over cells of
``cell_bits`` and feed inputs bit-serially (two's complement when signed).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

KINDS = ("binary", "ternary", "integer")
BINARY = (-1, 1)
TERNARY = (-1, 0, 1)


@dataclass(frozen=True)
class WeightPlane:
    """Cell levels (``row_factor * in``, out), int64 in [0, max_level]; ``minus`` for differential."""

    coef: int
    plus: torch.Tensor
    minus: torch.Tensor | None = None


@dataclass(frozen=True)
class InputPlane:
    """One read phase: which physical rows are driven (batch, ``row_factor * in``), 0 or 1."""

    coef: int
    drive: torch.Tensor


class Mapping(ABC):
    """A way to store a layer on crossbars. ``row_factor``: physical rows per input;
    ``differential``: whether each output reads the difference of two columns;
    ``one_hot_row_pairs``: each input drives exactly one of its rows ``2i``, ``2i + 1``;
    ``complementary_phases``: two read phases, the second driving exactly the rows the first leaves
    idle. The analog simulation uses the last two to halve its work (``tessera.hw.cim.reads``)."""

    name: str
    kind: str
    row_factor: int = 1
    differential: bool = False
    one_hot_row_pairs: bool = False
    complementary_phases: bool = False
    description: str

    @abstractmethod
    def check_weights(self, weight: torch.Tensor) -> None:
        """Raise ``ValueError`` if ``weight`` is outside this mapping's domain."""

    @abstractmethod
    def check_inputs(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` if ``x`` is outside this mapping's input domain."""

    @abstractmethod
    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        """The weight planes of an integer-valued ``weight`` (out, in)."""

    @abstractmethod
    def input_planes(self, x: torch.Tensor) -> list[InputPlane]:
        """The read phases of an integer-valued input batch ``x`` (batch, in)."""

    def physical_drive(self, x: torch.Tensor) -> torch.Tensor:
        """Every read phase's 0/1 drive of the physical rows, (phases, batch, rows)."""
        drives = [plane.drive for plane in self.input_planes(x)]
        return drives[0][None] if len(drives) == 1 else torch.stack(drives)

    def input_coefs(self, x: torch.Tensor) -> list[int]:
        """The read phases' coefficients for inputs like ``x`` (its first row is enough)."""
        return [plane.coef for plane in self.input_planes(x[:1])]

    def read_drive(self, x: torch.Tensor) -> torch.Tensor:
        """The 0/1 drives the analog reads multiply (``tessera.hw.cim.reads``), (phases, batch,
        rows): every input plane's, but only the first of complementary phases and only the even
        rows of one-hot row pairs (the rest follows from them)."""
        drive = self.physical_drive(x)
        if self.complementary_phases:
            drive = drive[:1]
        return drive[..., 0::2] if self.one_hot_row_pairs else drive

    @abstractmethod
    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The digital term added to the recombined signals, broadcastable to (batch, out)."""

    def max_level(self, cell_bits: int) -> int:
        """Highest level the planes use: binary and ternary cells hold only HRS (0) and LRS (1)."""
        return 1

    def cells_per_weight(self, cell_bits: int) -> int:
        """Cells one weight occupies."""
        planes = self.weight_planes(torch.zeros(1, 1, dtype=torch.int64), cell_bits)
        return self.row_factor * len(planes) * (2 if self.differential else 1)


def _require_values(tensor: torch.Tensor, allowed: tuple[int, ...], what: str, mapping: str) -> None:
    """Raise unless every value is in ``allowed``: ``BINARY`` or ``TERNARY``."""
    magnitude = tensor.abs()
    # float arithmetic is faster than comparing with each value; NaN fails both tests
    bad = tensor * tensor != magnitude if 0 in allowed else magnitude != 1
    if bool(bad.any()):
        examples = sorted({float(v) for v in tensor[bad].flatten()[:5].tolist()})
        raise ValueError(
            f"mapping {mapping!r} needs {what} in {set(allowed)}; found {examples[:5]} "
            f"({int(bad.sum())} of {tensor.numel()} values)"
        )


def _interleave_rows(a: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
    """Stack ``a`` and ``b`` so that row ``2i`` comes from ``a[i]`` and row ``2i+1`` from ``b[i]``."""
    shape = list(a.shape)
    shape.insert(dim + 1, 2)
    out = a.new_empty(shape)
    out.select(dim + 1, 0).copy_(a)
    out.select(dim + 1, 1).copy_(b)
    return out.flatten(dim, dim + 1)


def _is_plus(x: torch.Tensor) -> torch.Tensor:
    """0/1 float32 drive where ``x`` is +1, for ``x`` in {-1, 0, +1} (checked before)."""
    return x.to(torch.float32).clamp(min=0)


def _is_minus(x: torch.Tensor) -> torch.Tensor:
    """0/1 float32 drive where ``x`` is -1, for ``x`` in {-1, 0, +1} (checked before)."""
    return torch.neg(x.to(torch.float32)).clamp_(min=0)


def _bit(x: torch.Tensor, position: int) -> torch.Tensor:
    return (x >> position) & 1


class _PlusMinusOne(Mapping):
    kind = "binary"

    def check_weights(self, weight: torch.Tensor) -> None:
        _require_values(weight, BINARY, "weights", self.name)

    def check_inputs(self, x: torch.Tensor) -> None:
        _require_values(x, BINARY, "inputs", self.name)


class BinaryDifferential(_PlusMinusOne):
    """Weight ``g+ - g-`` on two columns; inputs ``x = 2b - 1`` drive rows where ``b = 1``; the
    digital row-sum correction ``-sum_i w_i`` restores the -1 inputs."""

    name = "bnn-differential"
    differential = True
    description = "binary: differential weight on two columns, one phase, row-sum correction"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        w = weight.t().long()
        return [WeightPlane(1, (w == 1).long(), (w == -1).long())]

    def input_planes(self, x: torch.Tensor) -> list[InputPlane]:
        return [InputPlane(2, _is_plus(x))]

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return -weight.sum(dim=1).to(torch.float64)


class BinarySingleCell(_PlusMinusOne):
    """Weight ``2g - 1`` in one cell; +1 inputs are read in a first phase and -1 inputs in a second;
    the HRS offset of driven rows is subtracted and the digital term is ``-sum_i x_i``."""

    name = "bnn-single-cell"
    complementary_phases = True
    description = "binary: one cell per weight, two-phase inputs, HRS-offset subtraction"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        return [WeightPlane(2, (weight.t() == 1).long())]

    def input_planes(self, x: torch.Tensor) -> list[InputPlane]:
        return [InputPlane(1, _is_plus(x)), InputPlane(-1, _is_minus(x))]

    def read_drive(self, x: torch.Tensor) -> torch.Tensor:
        return _is_plus(x)[None]  # the first phase

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return -x.sum(dim=1, keepdim=True).to(torch.float64)


class _PlusMinusRowPairs(_PlusMinusOne):
    """Binary inputs one-hot on a pair of rows: row ``2i`` driven where ``x_i = +1``, row
    ``2i + 1`` where ``x_i = -1``."""

    row_factor = 2
    one_hot_row_pairs = True

    def input_planes(self, x: torch.Tensor) -> list[InputPlane]:
        return [InputPlane(1, _interleave_rows(_is_plus(x), _is_minus(x), 1))]

    def read_drive(self, x: torch.Tensor) -> torch.Tensor:
        return _is_plus(x)[None]  # the even rows


class BinaryXnor(_PlusMinusRowPairs):
    """XNOR on two rows: each weight holds ``[w = +1]`` and ``[w = -1]`` on a pair of rows, the
    input drives one of the pair (one-hot); the column counts matches ``m`` and ``y = 2m - in``."""

    name = "bnn-xnor"
    description = "binary: XNOR on two rows, one-hot inputs, one column"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        w = weight.t()
        return [WeightPlane(2, _interleave_rows((w == 1).long(), (w == -1).long(), 0))]

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.tensor(-float(weight.shape[1]), dtype=torch.float64)


class BinaryFourCell(_PlusMinusRowPairs):
    """Differential in both: one-hot inputs on two rows and the weight on two columns (four cells),
    so the column-pair difference is ``sum_i x_i w_i`` with no correction."""

    name = "bnn-4cell"
    differential = True
    description = "binary: four cells per weight, differential rows and columns"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        w = weight.t()
        positive, negative = (w == 1).long(), (w == -1).long()
        return [
            WeightPlane(1, _interleave_rows(positive, negative, 0), _interleave_rows(negative, positive, 0))
        ]

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=torch.float64)


class _Ternary(Mapping):
    """Ternary inputs ``x = b0 - 2 b1`` (2-bit two's complement: -1 = 11, 0 = 00, 1 = 01) in two
    bit-serial phases."""

    kind = "ternary"

    def check_weights(self, weight: torch.Tensor) -> None:
        _require_values(weight, TERNARY, "weights", self.name)

    def check_inputs(self, x: torch.Tensor) -> None:
        _require_values(x, TERNARY, "inputs", self.name)

    def input_planes(self, x: torch.Tensor) -> list[InputPlane]:
        return [InputPlane(1, x.to(torch.float32).abs()), InputPlane(-2, _is_minus(x))]

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=torch.float64)


class TernaryDifferential(_Ternary):
    """Two cells per weight (``w = g+ - g-``), 2-bit bit-serial inputs."""

    name = "tnn-differential"
    differential = True
    description = "ternary: two cells per weight (differential), 2-bit bit-serial inputs"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        w = weight.t().long()
        return [WeightPlane(1, (w == 1).long(), (w == -1).long())]


class TernaryTwoBit(_Ternary):
    """The weight as 2-bit two's complement over two one-bit cells (``w = c0 - 2 c1``), 2-bit
    bit-serial inputs: four partial products, shift-and-add."""

    name = "tnn-2bit"
    description = "ternary: 2-bit weights over two cells, 2-bit bit-serial inputs"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        w = weight.t().long()
        return [WeightPlane(1, (w != 0).long()), WeightPlane(-2, (w == -1).long())]


@dataclass(frozen=True)
class _Integer(Mapping):
    """Signed ``weight_bits``-bit weights sliced over cells of ``cell_bits`` bits (least significant
    slice first); ``input_bits``-bit inputs fed one bit per phase, unsigned or two's complement."""

    weight_bits: int = 8
    input_bits: int = 8
    input_signed: bool = False

    kind = "integer"

    def __post_init__(self) -> None:
        for field_name in ("weight_bits", "input_bits"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 16:
                raise ValueError(f"{self.name}: {field_name} must be an integer in 2..16, got {value!r}")

    @property
    def weight_range(self) -> tuple[int, int]:
        half = 1 << (self.weight_bits - 1)
        return -half, half - 1

    @property
    def input_range(self) -> tuple[int, int]:
        if self.input_signed:
            half = 1 << (self.input_bits - 1)
            return -half, half - 1
        return 0, (1 << self.input_bits) - 1

    def check_weights(self, weight: torch.Tensor) -> None:
        _require_integers(weight, self.weight_range, "weights", self.name)

    def check_inputs(self, x: torch.Tensor) -> None:
        _require_integers(x, self.input_range, "inputs", self.name)

    def max_level(self, cell_bits: int) -> int:
        return (1 << cell_bits) - 1

    def slices(self, cell_bits: int) -> int:
        """Cells per weight magnitude: ``ceil(weight_bits / cell_bits)``."""
        return math.ceil(self.weight_bits / cell_bits)

    def input_planes(self, x: torch.Tensor) -> list[InputPlane]:
        code = x.long() & ((1 << self.input_bits) - 1)  # two's complement when signed
        planes = []
        for position in range(self.input_bits):
            coef = 1 << position
            if self.input_signed and position == self.input_bits - 1:
                coef = -coef
            planes.append(InputPlane(coef, _bit(code, position).float()))
        return planes

    def _sliced(self, magnitude: torch.Tensor, cell_bits: int) -> list[tuple[int, torch.Tensor]]:
        mask = (1 << cell_bits) - 1
        shifts = [s * cell_bits for s in range(self.slices(cell_bits))]
        return [(1 << shift, (magnitude >> shift) & mask) for shift in shifts]


def _require_integers(tensor: torch.Tensor, bounds: tuple[int, int], what: str, mapping: str) -> None:
    low, high = bounds
    integral = bool((tensor == torch.round(tensor)).all())
    if not integral or (tensor.numel() and (float(tensor.min()) < low or float(tensor.max()) > high)):
        raise ValueError(f"mapping {mapping!r} needs integer {what} in [{low}, {high}]")


@dataclass(frozen=True)
class IntegerOffset(_Integer):
    """Offset encoding: cells store ``w + 2**(weight_bits-1)`` (unsigned); the digital term
    subtracts ``2**(weight_bits-1) * sum_i x_i``."""

    name = "int-offset"
    description = "integer: offset-encoded weights bit-sliced over cells, bit-serial inputs"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        shifted = weight.t().long() - self.weight_range[0]
        return [WeightPlane(coef, levels) for coef, levels in self._sliced(shifted, cell_bits)]

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self.weight_range[0] * x.sum(dim=1, keepdim=True).to(torch.float64)


@dataclass(frozen=True)
class IntegerDifferential(_Integer):
    """Differential encoding: ``max(w, 0)`` and ``max(-w, 0)`` bit-sliced on paired columns."""

    name = "int-differential"
    differential = True
    description = "integer: differential column pairs, bit-sliced magnitudes, bit-serial inputs"

    def weight_planes(self, weight: torch.Tensor, cell_bits: int) -> list[WeightPlane]:
        w = weight.t().long()
        plus = self._sliced(w.clamp(min=0), cell_bits)
        minus = self._sliced((-w).clamp(min=0), cell_bits)
        return [WeightPlane(coef, p, m) for (coef, p), (_, m) in zip(plus, minus, strict=True)]

    def correction(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=torch.float64)


FIXED_MAPPINGS: dict[str, Mapping] = {
    m.name: m
    for m in (
        BinaryDifferential(),
        BinarySingleCell(),
        BinaryXnor(),
        BinaryFourCell(),
        TernaryDifferential(),
        TernaryTwoBit(),
    )
}
INTEGER_MAPPINGS: dict[str, type[_Integer]] = {m.name: m for m in (IntegerOffset, IntegerDifferential)}
MAPPING_NAMES = (*FIXED_MAPPINGS, *INTEGER_MAPPINGS)


def get_mapping(name: str, **integer_options: object) -> Mapping:
    """The mapping called ``name``; integer mappings take ``weight_bits``, ``input_bits``,
    ``input_signed``."""
    if name in FIXED_MAPPINGS:
        if integer_options:
            raise ValueError(f"mapping {name!r} takes no options, got {', '.join(integer_options)}")
        return FIXED_MAPPINGS[name]
    if name in INTEGER_MAPPINGS:
        return INTEGER_MAPPINGS[name](**integer_options)  # type: ignore[arg-type]
    raise ValueError(f"unknown mapping {name!r}; valid: {', '.join(MAPPING_NAMES)}")


def mappings_of_kind(kind: str) -> tuple[str, ...]:
    """Names of the mappings for ``binary``, ``ternary`` or ``integer`` networks."""
    if kind not in KINDS:
        raise ValueError(f"unknown network kind {kind!r}; valid: {', '.join(KINDS)}")
    return tuple(
        name
        for name in MAPPING_NAMES
        if (FIXED_MAPPINGS[name].kind if name in FIXED_MAPPINGS else "integer") == kind
    )
