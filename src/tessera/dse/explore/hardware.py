"""Hardware objectives of explore points: every layer of the workload on every design, in batches.

Systolic points that share their layers' formats are costed together with the vectorized closed
form (``tessera.hw.systolic.cost_grid``): one call per operand format covers every array design.
Each layer's operand words take the wider of its weight and activation formats (a float operand
is fp32). CIM points run each layer at its integer formats' bit widths
(``tessera.hw.cim.latency.workload_cost``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tessera.dse.explore.area import crossbar_area_mm2, systolic_area_mm2
from tessera.dse.explore.space import CIMSpace, HardwareDesign, HardwareSpace, SystolicSpace, storage_bits
from tessera.formats import get_format
from tessera.hw.cim.latency import WEIGHT_KINDS, workload_cost
from tessera.hw.systolic import cost_grid
from tessera.quant.config import QuantConfig
from tessera.workload import Workload

FLOAT_WORD = "fp32"
_LAYER_KINDS = {"gemm": "linear", "conv2d": "conv2d", "conv1d": "conv1d"}


@dataclass(frozen=True)
class LayerFormats:
    """The formats one workload op runs in (``None``: float)."""

    name: str
    kind: str
    weights: str | None
    activations: str | None

    @property
    def word_format(self) -> str:
        """The wider of the two operand formats by storage bits (float operands: fp32)."""
        names = [self.weights or FLOAT_WORD, self.activations or FLOAT_WORD]
        return max(names, key=lambda name: storage_bits(name))


def integer_bits(name: str | None) -> int | None:
    """Element bits of an integer, binary or ternary format (block scales aside); None otherwise."""
    if name is None:
        return None
    fmt = get_format(name)
    element = getattr(fmt, "element", fmt)
    return element.bits if element.kind in ("int", "binary", "ternary") else None


def layer_formats(workload: Workload, config: QuantConfig) -> tuple[LayerFormats, ...]:
    """Each op's formats under ``config`` (attention matmuls take ``config.attention``)."""
    out = []
    for op in workload.systolic_ops():
        if op.kind == "matmul":
            out.append(LayerFormats(op.name, op.kind, config.attention, config.attention))
            continue
        chosen = config.formats_for(op.name, _LAYER_KINDS[op.kind])
        weights, activations = chosen if chosen is not None else (None, None)
        out.append(LayerFormats(op.name, op.kind, weights, activations))
    return tuple(out)


def cim_incompatibility(formats: Sequence[LayerFormats]) -> str | None:
    """Why a CIM design cannot run these layers (a float operand), or None when it can."""
    for layer in formats:
        if layer.kind not in WEIGHT_KINDS:
            continue
        for operand, name in (("weights", layer.weights), ("activations", layer.activations)):
            if integer_bits(name) is None:
                return f"layer {layer.name!r} has {operand} in {name or 'float'}, not an integer format"
    return None


def memory_bytes(workload: Workload, formats: Sequence[LayerFormats]) -> float:
    """Bytes of every stored weight in its format (float weights: 4 bytes)."""
    by_name = {layer.name: layer for layer in formats}
    total_bytes = 0.0
    for op in workload.systolic_ops():
        if op.kind in WEIGHT_KINDS:
            gemm = op.conv_shape.gemm() if op.conv_shape else op.gemm()
            weights = by_name[op.name].weights or FLOAT_WORD
            total_bytes += gemm.k * gemm.n * gemm.count * storage_bits(weights) / 8
    return total_bytes


@dataclass(frozen=True)
class HardwareResult:
    """A point's hardware objectives and its per-layer rows (units in the keys)."""

    metrics: dict[str, float]
    layers: tuple[dict[str, Any], ...]


def cost_designs(
    workload: Workload,
    formats: Sequence[LayerFormats],
    designs: Sequence[tuple[HardwareSpace, HardwareDesign]],
) -> list[HardwareResult]:
    """The hardware objectives of one format assignment on each design, in order. Systolic designs
    are costed in one vectorized grid per operand format; CIM designs one by one (a closed form)."""
    results: list[HardwareResult | None] = [None] * len(designs)
    systolic = [
        (i, space, design) for i, (space, design) in enumerate(designs) if isinstance(space, SystolicSpace)
    ]
    if systolic:
        for (i, _, _), result in zip(systolic, _systolic(workload, formats, systolic)):
            results[i] = result
    for i, (space, design) in enumerate(designs):
        if isinstance(space, CIMSpace):
            results[i] = _cim(workload, formats, space, design)
    return results  # type: ignore[return-value]


def _systolic(
    workload: Workload,
    formats: Sequence[LayerFormats],
    items: list[tuple[int, SystolicSpace, HardwareDesign]],
) -> list[HardwareResult]:
    """Designs x layers as arrays: one ``cost_grid`` per operand format fills its layers' columns;
    totals are sums over layers (as ``SystolicCost`` addition), ratios derived from them."""
    ops = {op.name: op for op in workload.systolic_ops()}
    by_word: dict[str, list[int]] = defaultdict(list)
    for j, layer in enumerate(formats):
        by_word[layer.word_format].append(j)
    shape = (len(items), len(formats))
    cycles, energy, macs = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for word, indices in by_word.items():
        archs = [space.array(design, word) for _, space, design in items]
        grid = cost_grid(
            archs, [ops[formats[j].name].conv_shape or ops[formats[j].name].gemm() for j in indices]
        )
        cycles[:, indices] = grid.total_cycles
        energy[:, indices] = grid.energy_pj
        macs[:, indices] = grid.macs
    clock = np.array([[space.clock_mhz] for _, space, _ in items])
    pes = np.array([[space.array(design).pe_count] for _, space, design in items])
    latency = cycles / clock
    utilization = macs / (pes * cycles)
    total_utilization = macs.sum(axis=1) / (pes[:, 0] * cycles.sum(axis=1))
    widest = max(by_word, key=storage_bits)
    weight_bytes = memory_bytes(workload, formats)
    out = []
    for d, (_, space, design) in enumerate(items):
        metrics = {
            "latency_us": float(cycles[d].sum() / clock[d, 0]),
            "energy_pj": float(energy[d].sum()),
            "area_mm2": systolic_area_mm2(space.array(design, widest)),
            "memory_bytes": weight_bytes,
            "utilization": float(total_utilization[d]),
        }
        layers = tuple(
            {
                "layer": layer.name,
                "weights": layer.weights,
                "activations": layer.activations,
                "word_format": layer.word_format,
                "latency_us": lat,
                "energy_pj": pj,
                "utilization": util,
            }
            for layer, lat, pj, util in zip(
                formats, latency[d].tolist(), energy[d].tolist(), utilization[d].tolist()
            )
        )
        out.append(HardwareResult(metrics, layers))
    return out


def _cim(
    workload: Workload, formats: Sequence[LayerFormats], space: CIMSpace, design: HardwareDesign
) -> HardwareResult:
    reason = cim_incompatibility(formats)
    if reason is not None:
        raise ValueError(f"{design.label} cannot run this point: {reason}")
    arch = space.arch(design)
    bits = {
        layer.name: (integer_bits(layer.weights), integer_bits(layer.activations))
        for layer in formats
        if layer.kind in WEIGHT_KINDS
    }
    cost = workload_cost(workload, arch, bits)
    metrics = {
        "latency_us": cost.latency_us,
        "energy_pj": cost.energy_pj,
        "area_mm2": cost.crossbars * crossbar_area_mm2(arch),
        "memory_bytes": memory_bytes(workload, formats),
        "crossbars": float(cost.crossbars),
    }
    by_name = {layer.name: layer for layer in formats}
    layers = tuple(
        {
            "layer": c.name,
            "weights": by_name[c.name].weights,
            "activations": by_name[c.name].activations,
            "weight_bits": c.weight_bits,
            "input_bits": c.input_bits,
            "crossbars": c.crossbars,
            "latency_us": c.latency_us,
            "energy_pj": c.energy_pj,
        }
        for c in cost.layers
    )
    return HardwareResult(metrics, layers)
