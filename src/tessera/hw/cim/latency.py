"""Crossbar latency and ADC energy of a workload on a tiled RRAM CIM accelerator, per layer.

The model of the mixed-precision CIM compilation paper (REFERENCES §3): a layer with ``in`` inputs,
``out`` outputs and weights of ``w`` bits needs ``ceil(w / cell_bits)`` slices per weight, so
``columns = out * slices`` (twice that with differential columns) and ``rows = in`` (twice with
differential rows), on ``crossbars = ceil(columns / cols) * ceil(rows / rows_per_crossbar)``
crossbars. Every input vector (an output pixel of a convolution) is fed bit-serially in
``ceil(a / input_bits)`` phases to every crossbar: ``executes = vectors * crossbars * phases``.
Crossbars are programmed once and executed one after another:
``latency = crossbars * write_us + executes * execute_us``. Each execute converts the crossbar's
used columns (one conversion per differential pair) with an ADC of ``adc_bits`` bits, and costs
one array read: ``energy = conversions * conversion_pj + executes * read_pj``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from tessera.workload import Workload
from tessera.workload.shapes import ConvShape, GemmShape

MAX_BITS = 16
WEIGHT_KINDS = ("gemm", "conv2d", "conv1d")
"""Workload ops with stored weights (``matmul`` multiplies two activations: not on crossbars)."""


@dataclass(frozen=True)
class CIMArch:
    """Timing and energy parameters of a tiled crossbar accelerator.

    ``write_us``: time to program one crossbar (µs); ``execute_us``: one crossbar read phase (µs);
    ``adc_energy_pj``: energy of one ``adc_bits`` conversion (pJ; default 1.6 pJ at 8 bits, ISAAC,
    scaled by ``2**(adc_bits - 8)``); ``read_energy_pj``: energy of one crossbar read phase (pJ;
    default ISAAC's 0.3 mW for eight 128 x 128 arrays over a 100 ns read, 3.75 pJ, scaled by
    ``rows * cols / 128**2``); ``crossbars_per_tile``: crossbars grouped in one tile.
    Defaults: 256 x 256 crossbars, 4-bit cells, 1-bit inputs, 56 µs write, 1.4 µs execute.
    """

    rows: int = 256
    cols: int = 256
    cell_bits: int = 4
    input_bits: int = 1
    differential_columns: bool = False
    differential_rows: bool = False
    write_us: float = 56.0
    execute_us: float = 1.4
    adc_bits: int = 8
    adc_energy_pj: float | None = None
    read_energy_pj: float | None = None
    crossbars_per_tile: int = 8

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "cell_bits", "input_bits", "adc_bits", "crossbars_per_tile"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CIMArch.{name} must be a positive integer, got {value!r}")
        for name in ("write_us", "execute_us"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"CIMArch.{name} must be >= 0 µs, got {getattr(self, name)!r}")
        for name in ("adc_energy_pj", "read_energy_pj"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"CIMArch.{name} must be >= 0 pJ, got {value!r}")

    @property
    def conversion_pj(self) -> float:
        """Energy of one ADC conversion (pJ)."""
        if self.adc_energy_pj is not None:
            return self.adc_energy_pj
        return 1.6 * 2.0 ** (self.adc_bits - 8)

    @property
    def read_pj(self) -> float:
        """Energy of one crossbar read phase (pJ)."""
        if self.read_energy_pj is not None:
            return self.read_energy_pj
        return 3.75 * self.rows * self.cols / 128**2


@dataclass(frozen=True)
class CIMLayerCost:
    """One layer's footprint, latency (µs) and ADC work."""

    name: str
    weight_bits: int
    input_bits: int
    vectors: int
    slices: int
    rows: int
    columns: int
    crossbars: int
    tiles: int
    phases: int
    executes: int
    write_us: float
    execute_us: float
    adc_conversions: int
    adc_energy_pj: float
    read_energy_pj: float

    @property
    def latency_us(self) -> float:
        return self.write_us + self.execute_us

    @property
    def energy_pj(self) -> float:
        """ADC conversions plus crossbar reads (pJ)."""
        return self.adc_energy_pj + self.read_energy_pj

    def to_dict(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["latency_us"] = self.latency_us
        row["energy_pj"] = self.energy_pj
        return row


def layer_cost(
    shape: GemmShape | ConvShape, weight_bits: int, input_bits: int, arch: CIMArch, name: str = ""
) -> CIMLayerCost:
    """Cost of one GEMM (M vectors of K inputs onto N outputs, ``count`` times) or convolution."""
    for what, bits in (("weight", weight_bits), ("input", input_bits)):
        if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= MAX_BITS:
            raise ValueError(f"layer {name!r}: {what} bits must be an integer in 1..{MAX_BITS}, got {bits!r}")
    gemm = shape.gemm() if isinstance(shape, ConvShape) else shape
    slices = math.ceil(weight_bits / arch.cell_bits)
    columns = gemm.n * slices * (2 if arch.differential_columns else 1)
    rows = gemm.k * (2 if arch.differential_rows else 1)
    row_tiles = math.ceil(rows / arch.rows)
    crossbars = gemm.count * math.ceil(columns / arch.cols) * row_tiles
    phases = math.ceil(input_bits / arch.input_bits)
    executes = gemm.m * crossbars * phases
    reads_per_pass = columns // (2 if arch.differential_columns else 1)
    conversions = gemm.count * gemm.m * phases * row_tiles * reads_per_pass
    return CIMLayerCost(
        name=name,
        weight_bits=weight_bits,
        input_bits=input_bits,
        vectors=gemm.m,
        slices=slices,
        rows=rows,
        columns=columns,
        crossbars=crossbars,
        tiles=math.ceil(crossbars / arch.crossbars_per_tile),
        phases=phases,
        executes=executes,
        write_us=crossbars * arch.write_us,
        execute_us=executes * arch.execute_us,
        adc_conversions=conversions,
        adc_energy_pj=conversions * arch.conversion_pj,
        read_energy_pj=executes * arch.read_pj,
    )


@dataclass(frozen=True)
class CIMWorkloadCost:
    """Per-layer costs of a workload and their totals."""

    workload: str
    layers: tuple[CIMLayerCost, ...]

    @property
    def latency_us(self) -> float:
        return sum(layer.latency_us for layer in self.layers)

    @property
    def crossbars(self) -> int:
        return sum(layer.crossbars for layer in self.layers)

    @property
    def adc_energy_pj(self) -> float:
        return sum(layer.adc_energy_pj for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        return sum(layer.energy_pj for layer in self.layers)


def workload_cost(
    workload: Workload,
    arch: CIMArch,
    bits: Mapping[str, tuple[int, int]] | None = None,
    default_bits: tuple[int, int] = (8, 8),
) -> CIMWorkloadCost:
    """Cost every weight layer (convolution or linear) of ``workload``; ``bits`` maps op names to
    (weight bits, input bits), others get ``default_bits``. Attention matmuls (no stored weights)
    are not crossbar layers and are skipped."""
    layers = [op for op in workload.systolic_ops() if op.kind in WEIGHT_KINDS]
    if not layers:
        raise ValueError(f"workload {workload.name!r} has no convolution or linear layer")
    chosen = dict(bits or {})
    unknown = set(chosen) - {op.name for op in layers}
    if unknown:
        names = ", ".join(op.name for op in layers)
        raise ValueError(f"bit widths given for unknown layers {sorted(unknown)}; layers: {names}")
    costs = tuple(
        layer_cost(op.conv_shape or op.gemm(), *chosen.get(op.name, default_bits), arch, name=op.name)
        for op in layers
    )
    return CIMWorkloadCost(workload.name, costs)
