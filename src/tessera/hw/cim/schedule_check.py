"""An independent check of a crossbar schedule against its workload.

The scheduler walks back from each set to the producer sets it needs; the checker goes forward
instead, one output row at a time: a row of a digital op is ready when every producer row it reads
is ready, a row of a crossbar layer when the slot computing it ends. A schedule is valid when:
every set of every layer runs exactly once for its full time on an existing copy; no copy of a
layer runs two sets at once; the copies fit in the architecture's crossbars; and no set starts
before every row it reads is ready.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from tessera.hw.cim.rows import output_height, producer_rows
from tessera.hw.cim.schedule import Schedule
from tessera.workload import Workload

TOLERANCE_US = 1e-9


class ScheduleError(ValueError):
    """A schedule breaks a rule; ``problems`` lists every violation found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        super().__init__(f"invalid schedule ({len(problems)} problems): {shown}")


def check_schedule(schedule: Schedule, workload: Workload) -> None:
    """Raise ``ScheduleError`` unless ``schedule`` is a valid schedule of ``workload``."""
    problems = _resource_problems(schedule)
    if not problems:
        problems = _dependency_problems(schedule, workload)
    if problems:
        raise ScheduleError(problems)


def _resource_problems(schedule: Schedule) -> list[str]:
    problems = []
    if schedule.crossbars > schedule.capacity:
        problems.append(f"{schedule.crossbars} crossbars in use, only {schedule.capacity} exist")
    runs: dict[tuple[int, int], list[int]] = defaultdict(list)
    per_copy: dict[tuple[int, int], list[tuple[float, float, int]]] = defaultdict(list)
    for slot in schedule.slots:
        layer = schedule.layers[slot.layer]
        runs[(slot.layer, slot.index)].append(slot.copy)
        if not 0 <= slot.copy < layer.copies:
            problems.append(f"{layer.name} set {slot.index} runs on copy {slot.copy} of {layer.copies}")
        if slot.start_us < 0 or abs(slot.end_us - slot.start_us - layer.set_us(slot.index)) > TOLERANCE_US:
            problems.append(f"{layer.name} set {slot.index} runs {slot.start_us}..{slot.end_us} µs")
        per_copy[(slot.layer, slot.copy)].append((slot.start_us, slot.end_us, slot.index))
    for i, layer in enumerate(schedule.layers):
        for s in range(layer.sets):
            count = len(runs.get((i, s), []))
            if count != 1:
                problems.append(f"{layer.name} set {s} runs {count} times")
    for (i, copy), intervals in per_copy.items():
        intervals.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(intervals):
            if start < end - TOLERANCE_US:
                name = schedule.layers[i].name
                problems.append(f"{name} copy {copy} runs sets {first} and {second} at once")
    return problems


def _dependency_problems(schedule: Schedule, workload: Workload) -> list[str]:
    layer_index = {layer.name: i for i, layer in enumerate(schedule.layers)}
    slot_of = {(slot.layer, slot.index): slot for slot in schedule.slots}
    ready: dict[str, list[float]] = {}
    problems = []
    for op in workload:
        rows = output_height(op)
        needs = [
            max(
                (
                    max(ready[producer.name][first : last + 1])
                    for producer in workload.producers(op.name)
                    for first, last in [producer_rows(op, producer, (r, r))]
                ),
                default=0.0,
            )
            for r in range(rows)
        ]
        if op.name not in layer_index:
            ready[op.name] = needs
            continue
        i = layer_index[op.name]
        layer = schedule.layers[i]
        ready[op.name] = []
        for r in range(rows):
            slot = slot_of[(i, r // layer.rows_per_set)]
            if slot.start_us < needs[r] - TOLERANCE_US:
                problems.append(
                    f"{layer.name} set {slot.index} starts at {slot.start_us:.3f} µs before its input row "
                    f"for output row {r} is ready at {needs[r]:.3f} µs"
                )
            ready[op.name].append(slot.end_us)
    return problems
