"""Design points and their outcomes: what one evaluation chose and what it measured."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tessera.dse.explore.space import ExploreSpace

PARAMS = ("weights", "activations", "method", "hardware")


@dataclass(frozen=True)
class Point:
    """One configuration: weight and activation formats (``None``: float), PTQ method, and the
    label of a hardware design of the space."""

    weights: str | None
    activations: str | None
    method: str
    hardware: str

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PARAMS}

    @property
    def key(self) -> str:
        return json.dumps(self.params(), sort_keys=True)


@dataclass(frozen=True)
class PointResult:
    """A finished point. ``metrics`` holds every objective the point's hardware defines (units in
    the names; ``accuracy`` in the model's metric), ``violations`` the constraints it breaks,
    ``layers`` one row per layer (formats, weight SQNR in dB, hardware cost)."""

    number: int
    point: Point
    kind: str
    metrics: dict[str, float]
    violations: tuple[str, ...] = ()
    layers: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        return not self.violations

    def row(self) -> dict[str, Any]:
        """A flat row for CSV and JSON."""
        return {
            "number": self.number,
            **self.point.params(),
            "kind": self.kind,
            **self.metrics,
            "feasible": self.feasible,
            "violations": "; ".join(self.violations),
        }


@dataclass(frozen=True)
class FailedPoint:
    """A point that could not be evaluated, with why (kept in the study, never on the front)."""

    number: int
    point: Point
    reason: str


@dataclass(frozen=True)
class ExploreResult:
    """Everything a study holds: each point once, the failures, the exact Pareto front (indices
    into ``points``) over the feasible points, and where the study lives."""

    space: ExploreSpace
    metric: str
    higher_is_better: bool
    baseline: float
    points: tuple[PointResult, ...]
    front: tuple[int, ...]
    failed: tuple[FailedPoint, ...] = ()
    skipped: int = 0
    storage: str = ""
    seconds: float = 0.0
    evaluations: int = 0

    def front_points(self) -> list[PointResult]:
        return [self.points[i] for i in self.front]

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space.to_dict(),
            "model": self.space.model,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "baseline": self.baseline,
            "storage": self.storage,
            "seconds": self.seconds,
            "accuracy_evaluations": self.evaluations,
            "skipped_combinations": self.skipped,
            "points": [p.row() for p in self.points],
            "front": [self.points[i].number for i in self.front],
            "failed": [{"number": f.number, **f.point.params(), "reason": f.reason} for f in self.failed],
        }
