"""Joint design-space exploration: number formats x PTQ methods x hardware, with Pareto fronts.

``explore(space)`` evaluates the points of an ``ExploreSpace`` (grid, random or Optuna's
NSGA-II), stores each one in a database as it finishes (SQLite by default), resumes after a
crash, fans accuracy evaluations out to processes or Ray, and returns every point with the exact
Pareto front; ``tessera.report.explore_report.write_report`` turns that into HTML, CSV and JSON.
"""

from tessera.dse.explore.objectives import OBJECTIVES, Objective
from tessera.dse.explore.pareto import pareto_mask
from tessera.dse.explore.points import ExploreResult, FailedPoint, Point, PointResult
from tessera.dse.explore.space import (
    CIMSpace,
    Constraint,
    ExploreSpace,
    QuantSpace,
    SearchSettings,
    SystolicSpace,
    load_space,
    loads_space,
    shipped_space,
    shipped_spaces,
)
from tessera.dse.explore.study import StudyError, explore, load_result

__all__ = [
    "OBJECTIVES",
    "CIMSpace",
    "Constraint",
    "ExploreResult",
    "ExploreSpace",
    "FailedPoint",
    "Objective",
    "Point",
    "PointResult",
    "QuantSpace",
    "SearchSettings",
    "StudyError",
    "SystolicSpace",
    "explore",
    "load_result",
    "load_space",
    "loads_space",
    "pareto_mask",
    "shipped_space",
    "shipped_spaces",
]
