"""The objectives ``tessera.explore`` can optimize, with their units, directions and the hardware
kinds that define them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tessera.dse.explore.space import Constraint

ALL_KINDS = ("systolic", "cim")


@dataclass(frozen=True)
class Objective:
    """``minimize``: ``None`` for ``accuracy``, whose direction is the model metric's."""

    name: str
    unit: str
    minimize: bool | None
    kinds: tuple[str, ...]
    description: str


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("accuracy", "metric", None, ALL_KINDS, "the model's metric on its test split, quantized"),
        Objective(
            "accuracy_drop",
            "metric points",
            True,
            ALL_KINDS,
            "how much worse than fp32 the metric is (positive = worse), in the metric's own points",
        ),
        Objective("latency_us", "µs", True, ALL_KINDS, "one inference, layers one after another"),
        Objective(
            "energy_pj",
            "pJ",
            True,
            ALL_KINDS,
            "systolic: MAC + SRAM + DRAM; cim: crossbar reads + ADC conversions (a model)",
        ),
        Objective("area_mm2", "mm²", True, ALL_KINDS, "a 45 nm area proxy (see tessera.dse.explore.area)"),
        Objective("memory_bytes", "bytes", True, ALL_KINDS, "weight storage in the chosen formats"),
        Objective("utilization", "fraction", False, ("systolic",), "MACs / (PEs x total cycles)"),
        Objective("crossbars", "crossbars", True, ("cim",), "crossbars holding the weights"),
    )
}


def check_objectives(
    objectives: Iterable[str], constraints: Iterable[Constraint], kinds: Iterable[str]
) -> None:
    """ValueError unless every objective and constrained quantity exists and is defined for every
    hardware kind in the space (checked before any work starts)."""
    objectives, kinds = list(objectives), list(kinds)
    if not objectives:
        raise ValueError("objectives: give at least one objective")
    if len(set(objectives)) != len(objectives):
        raise ValueError(f"objectives: repeated names in {objectives}")
    named = [("objectives", name) for name in objectives]
    named += [(f"constraints.{c.key}", c.objective) for c in constraints]
    for where, name in named:
        if name not in OBJECTIVES:
            raise ValueError(f"{where}: unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
        missing = [kind for kind in kinds if kind not in OBJECTIVES[name].kinds]
        if missing:
            raise ValueError(
                f"{where}: objective {name!r} is not defined for hardware kind {missing[0]!r} "
                f"(defined for: {', '.join(OBJECTIVES[name].kinds)})"
            )


def minimizes(name: str, metric_higher_is_better: bool) -> bool:
    """Whether smaller values of objective ``name`` are better."""
    minimize = OBJECTIVES[name].minimize
    return (not metric_higher_is_better) if minimize is None else minimize
