"""The exact Pareto front of a set of points: those no other point dominates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CHUNK = 256


def pareto_mask(values: np.ndarray | Sequence[Sequence[float]], minimize: Sequence[bool]) -> np.ndarray:
    """Which rows of ``values`` (points x objectives) are non-dominated.

    A point is dominated when another is at least as good in every objective and strictly better
    in one; equal points are all kept. ``minimize[j]`` says the direction of objective ``j``.
    Exact, in O(n² m) comparisons done in chunks.
    """
    points = np.asarray(values, dtype=float)
    if points.ndim != 2 or points.shape[1] != len(minimize):
        raise ValueError(f"values must be (points, {len(minimize)}) for {len(minimize)} objectives")
    if not np.all(np.isfinite(points)):
        raise ValueError("Pareto values must be finite (drop failed points first)")
    costs = np.where(np.asarray(minimize, dtype=bool), points, -points)
    keep = np.ones(len(costs), dtype=bool)
    for start in range(0, len(costs), _CHUNK):
        block = costs[start : start + _CHUNK, None, :]
        no_worse = np.all(costs[None, :, :] <= block, axis=2)
        better = np.any(costs[None, :, :] < block, axis=2)
        keep[start : start + _CHUNK] = ~np.any(no_worse & better, axis=1)
    return keep


class FrontTracker:
    """The size of the front of the points seen so far, kept exactly as points arrive (for progress
    bars); ``pareto_mask`` over the same points gives the same front."""

    def __init__(self, minimize: Sequence[bool]) -> None:
        self._sign = np.where(np.asarray(minimize, dtype=bool), 1.0, -1.0)
        self._front = np.empty((0, len(minimize)))

    def add(self, values: Sequence[float]) -> int:
        """Add one point; the front size after it."""
        cost = np.asarray(values, dtype=float) * self._sign
        front = self._front
        if len(front) and np.any(np.all(front <= cost, axis=1) & np.any(front < cost, axis=1)):
            return len(front)
        dominated = np.all(cost <= front, axis=1) & np.any(cost < front, axis=1)
        self._front = np.vstack([front[~dominated], cost[None, :]])
        return len(self._front)

    def __len__(self) -> int:
        return len(self._front)
