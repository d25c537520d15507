"""Layer-by-layer and cross-layer (CLSA-CIM) schedules of a CNN on a tiled crossbar accelerator.

All weights stay resident: every convolution and linear layer gets its crossbars (``layer_cost``)
once, programmed before inference. The crossbars of one copy of a layer work together on one input
vector at a time; a vector takes ``ceil(input_bits / arch.input_bits)`` bit-serial phases of
``arch.execute_us``. Each layer's output feature map is split into sets of ``rows_per_set`` output
rows, run in row order. The ops between crossbar layers (norms, activations, residual adds,
poolings) run digitally beside the crossbars and take no time.

- ``layer-by-layer``: a layer starts when every earlier layer has finished.
- ``cross-layer``: each set starts as soon as the sets of the producer layers it reads
  (``tessera.hw.cim.rows``) have finished and a copy of its layer is free.

With ``duplicate=True``, spare crossbars hold extra copies of the slowest layers: repeatedly, the
layer with the longest time per copy that still fits gets one more copy (never more copies than
sets). Latency excludes the one-time programming (reported as ``write_us``); utilization is the
busy crossbar time over all crossbars of the architecture times the latency.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera.hw.cim.latency import CIMArch, workload_cost
from tessera.hw.cim.rows import RowRange, crossbar_rows, output_height
from tessera.report.plots import pyplot
from tessera.workload import Workload

MODES = ("layer-by-layer", "cross-layer")


@dataclass(frozen=True)
class LayerPlan:
    """One crossbar layer: ``crossbars`` per copy, ``copies``, its output ``rows`` split into sets
    of ``rows_per_set``, and the time of one output vector (µs)."""

    name: str
    crossbars: int
    copies: int
    rows: int
    vectors_per_row: int
    rows_per_set: int
    vector_us: float

    @property
    def sets(self) -> int:
        return math.ceil(self.rows / self.rows_per_set)

    def set_rows(self, index: int) -> RowRange:
        first = index * self.rows_per_set
        return first, min(self.rows, first + self.rows_per_set) - 1

    def set_us(self, index: int) -> float:
        first, last = self.set_rows(index)
        return (last - first + 1) * self.vectors_per_row * self.vector_us

    @property
    def busy_us(self) -> float:
        """Time of all this layer's vectors on one copy (µs)."""
        return self.rows * self.vectors_per_row * self.vector_us


@dataclass(frozen=True)
class Slot:
    """One set of output rows of layer ``layer`` (an index into ``Schedule.layers``) on copy
    ``copy`` from ``start_us`` to ``end_us``."""

    layer: int
    index: int
    copy: int
    start_us: float
    end_us: float


@dataclass(frozen=True)
class Schedule:
    """A schedule: its layers, its slots, and the crossbars of the architecture."""

    workload: str
    mode: str
    duplicate: bool
    layers: tuple[LayerPlan, ...]
    slots: tuple[Slot, ...]
    capacity: int
    crossbars_per_tile: int
    write_us: float

    @property
    def latency_us(self) -> float:
        return max(slot.end_us for slot in self.slots)

    @property
    def crossbars(self) -> int:
        """Crossbars holding weights, copies included."""
        return sum(layer.crossbars * layer.copies for layer in self.layers)

    @property
    def utilization(self) -> float:
        """Busy crossbar time over all crossbars of the architecture times the latency."""
        busy = sum(self.layers[s.layer].crossbars * (s.end_us - s.start_us) for s in self.slots)
        return busy / (self.capacity * self.latency_us)

    @property
    def utilization_in_use(self) -> float:
        """Busy crossbar time over the crossbars holding weights times the latency."""
        return self.utilization * self.capacity / self.crossbars

    def summary(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "mode": self.mode,
            "duplicate": self.duplicate,
            "latency_us": self.latency_us,
            "utilization": self.utilization,
            "utilization_in_use": self.utilization_in_use,
            "crossbars_used": self.crossbars,
            "crossbars": self.capacity,
            "tiles": self.capacity // self.crossbars_per_tile,
            "sets": len(self.slots),
            "write_us": self.write_us,
        }


def plan_layers(
    workload: Workload,
    arch: CIMArch,
    bits: Mapping[str, tuple[int, int]] | None = None,
    rows_per_set: int = 1,
) -> tuple[LayerPlan, ...]:
    """One ``LayerPlan`` (one copy) per convolution and linear layer, in workload order; ``bits``
    maps layer names to (weight bits, input bits), 8/8 otherwise."""
    if not isinstance(rows_per_set, int) or isinstance(rows_per_set, bool) or rows_per_set < 1:
        raise ValueError(f"rows_per_set must be a positive integer, got {rows_per_set!r}")
    plans = []
    for cost in workload_cost(workload, arch, bits).layers:
        op = workload.op(cost.name)
        rows = output_height(op)
        plans.append(
            LayerPlan(
                name=op.name,
                crossbars=cost.crossbars,
                copies=1,
                rows=rows,
                vectors_per_row=math.ceil(cost.vectors / rows),
                rows_per_set=rows_per_set,
                vector_us=cost.phases * arch.execute_us,
            )
        )
    return tuple(plans)


def duplicate_slowest(layers: tuple[LayerPlan, ...], capacity: int) -> tuple[LayerPlan, ...]:
    """Give spare crossbars to extra copies of the slowest layers, greedily (see module doc)."""
    copies = [layer.copies for layer in layers]
    spare = capacity - sum(layer.crossbars * layer.copies for layer in layers)
    while True:
        candidates = [
            (-(layer.busy_us / copies[i]), i)
            for i, layer in enumerate(layers)
            if layer.crossbars <= spare and copies[i] < layer.sets
        ]
        if not candidates:
            break
        _, chosen = min(candidates)
        copies[chosen] += 1
        spare -= layers[chosen].crossbars
    return tuple(replace(layer, copies=count) for layer, count in zip(layers, copies))


def set_dependencies(workload: Workload, layers: tuple[LayerPlan, ...]) -> list[list[list[tuple[int, int]]]]:
    """For every layer and set, the (layer, set) pairs of producer layers it reads."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    crossbar_names = frozenset(index)
    found = []
    for layer in layers:
        op = workload.op(layer.name)
        per_set = []
        for s in range(layer.sets):
            needs = []
            for name, (first, last) in crossbar_rows(workload, op, layer.set_rows(s), crossbar_names).items():
                producer = layers[index[name]]
                first_set, last_set = first // producer.rows_per_set, last // producer.rows_per_set
                needs += [(index[name], t) for t in range(first_set, last_set + 1)]
            per_set.append(needs)
        found.append(per_set)
    return found


def schedule(
    workload: Workload,
    arch: CIMArch,
    tiles: int,
    mode: str = "cross-layer",
    duplicate: bool = False,
    bits: Mapping[str, tuple[int, int]] | None = None,
    rows_per_set: int = 1,
) -> Schedule:
    """Schedule ``workload`` on ``tiles`` tiles of ``arch.crossbars_per_tile`` crossbars.
    ValueError when the weights do not fit (saying how many crossbars are missing) or for an
    unknown mode."""
    if mode not in MODES:
        raise ValueError(f"unknown schedule mode {mode!r}; valid: {', '.join(MODES)}")
    if not isinstance(tiles, int) or isinstance(tiles, bool) or tiles < 1:
        raise ValueError(f"tiles must be a positive integer, got {tiles!r}")
    layers = plan_layers(workload, arch, bits, rows_per_set)
    capacity = tiles * arch.crossbars_per_tile
    needed = sum(layer.crossbars for layer in layers)
    if needed > capacity:
        raise ValueError(
            f"{workload.name!r} needs {needed} crossbars ({math.ceil(needed / arch.crossbars_per_tile)} "
            f"tiles of {arch.crossbars_per_tile}) to hold its weights; {tiles} tiles have {capacity}: "
            f"{needed - capacity} crossbars missing"
        )
    if duplicate:
        layers = duplicate_slowest(layers, capacity)
    dependencies = set_dependencies(workload, layers)
    ends: list[list[float]] = []
    slots = []
    previous_end = 0.0
    for i, layer in enumerate(layers):
        free = [(previous_end if mode == "layer-by-layer" else 0.0, copy) for copy in range(layer.copies)]
        heapq.heapify(free)
        layer_ends = []
        for s in range(layer.sets):
            ready = max((ends[j][t] for j, t in dependencies[i][s]), default=0.0)
            copy_free, copy = heapq.heappop(free)
            start = max(ready, copy_free)
            end = start + layer.set_us(s)
            heapq.heappush(free, (end, copy))
            slots.append(Slot(i, s, copy, start, end))
            layer_ends.append(end)
        ends.append(layer_ends)
        previous_end = max(previous_end, max(layer_ends))
    return Schedule(
        workload=workload.name,
        mode=mode,
        duplicate=duplicate,
        layers=layers,
        slots=tuple(slots),
        capacity=capacity,
        crossbars_per_tile=arch.crossbars_per_tile,
        write_us=sum(layer.crossbars * layer.copies for layer in layers) * arch.write_us,
    )


def minimum_tiles(
    workload: Workload, arch: CIMArch, bits: Mapping[str, tuple[int, int]] | None = None
) -> int:
    """The fewest tiles that hold every layer's weights once."""
    needed = sum(layer.crossbars for layer in plan_layers(workload, arch, bits))
    return math.ceil(needed / arch.crossbars_per_tile)


def compare_schedules(
    workload: Workload,
    arch: CIMArch,
    tiles: int,
    duplicate: bool | None = None,
    bits: Mapping[str, tuple[int, int]] | None = None,
    rows_per_set: int = 1,
) -> list[tuple[Schedule, dict[str, Any]]]:
    """Layer-by-layer and cross-layer schedules (without and with duplication, or only as
    ``duplicate`` says), each with its summary and its speedup and utilization gain over
    layer-by-layer without duplication."""
    baseline = schedule(workload, arch, tiles, "layer-by-layer", False, bits, rows_per_set)
    choices = (False, True) if duplicate is None else (duplicate,)
    others = [
        (mode, copies) for copies in choices for mode in MODES if (mode, copies) != ("layer-by-layer", False)
    ]
    results = []
    for result in [baseline] + [schedule(workload, arch, tiles, m, c, bits, rows_per_set) for m, c in others]:
        row = result.summary()
        row["speedup"] = baseline.latency_us / result.latency_us
        row["utilization_gain"] = result.utilization / baseline.utilization
        results.append((result, row))
    return results


def plot_gantt(result: Schedule, path: str | Path, max_layers: int = 40) -> Path:
    """A Gantt chart of ``result`` (one lane per layer copy, the first ``max_layers`` layers) as a
    PNG; needs matplotlib."""
    plt = pyplot()
    lanes = [(i, copy) for i, layer in enumerate(result.layers[:max_layers]) for copy in range(layer.copies)]
    lane_of = {lane: n for n, lane in enumerate(lanes)}
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.12 * len(lanes) + 1.5)))
    colors = plt.get_cmap("tab20")
    for slot in result.slots:
        lane = lane_of.get((slot.layer, slot.copy))
        if lane is not None:
            width = (slot.end_us - slot.start_us) / 1000
            axes.broken_barh(
                [(slot.start_us / 1000, width)], (lane - 0.4, 0.8), color=colors(slot.layer % 20)
            )
    ticks = [lane_of[(i, 0)] for i in range(min(max_layers, len(result.layers)))]
    axes.set_yticks(ticks, [result.layers[i].name for i in range(len(ticks))], fontsize=6)
    axes.invert_yaxis()
    axes.set_xlabel("time (ms)")
    title = f"{result.workload}: {result.mode}{', duplicated' if result.duplicate else ''}"
    axes.set_title(f"{title} — {result.latency_us / 1000:.2f} ms, utilization {result.utilization:.1%}")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
