"""The exact Pareto front: ``pareto_mask`` against a brute-force double loop, hand cases, input checks,
and ``FrontTracker`` agreeing with ``pareto_mask`` as points arrive."""

import numpy as np
import pytest

from tessera.dse.explore.pareto import FrontTracker, pareto_mask


def brute_force_front(points: np.ndarray, minimize: list[bool]) -> np.ndarray:
    """Keep a point unless another is no worse in every objective and strictly better in one."""
    n, m = points.shape
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            no_worse, better = True, False
            for k in range(m):
                a, b = points[j, k], points[i, k]  # does j dominate i?
                j_better = a < b if minimize[k] else a > b
                j_worse = a > b if minimize[k] else a < b
                if j_worse:
                    no_worse = False
                    break
                better = better or j_better
            if no_worse and better:
                keep[i] = False
                break
    return keep


def random_case(seed: int, n: int = 200) -> tuple[np.ndarray, list[bool]]:
    """Integer points in 0..4 (many ties) with 2-4 objectives in mixed directions."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 5))
    minimize = [bool(b) for b in rng.integers(0, 2, size=m)]
    minimize[0], minimize[-1] = True, False  # always mixed
    return rng.integers(0, 5, size=(n, m)).astype(float), minimize


@pytest.mark.parametrize("seed", range(6))
def test_pareto_mask_equals_a_brute_force_double_loop(seed):
    points, minimize = random_case(seed)
    expected = brute_force_front(points, minimize)
    assert np.array_equal(pareto_mask(points, minimize), expected)


def test_pareto_mask_equals_brute_force_across_chunks():
    """More points than one comparison chunk (256), so the chunked loop is exercised."""
    rng = np.random.default_rng(42)
    points = rng.integers(0, 8, size=(600, 2)).astype(float)
    minimize = [True, False]
    assert np.array_equal(pareto_mask(points, minimize), brute_force_front(points, minimize))


def test_a_single_point_is_its_own_front():
    assert pareto_mask([[3.0, -1.0, 7.0]], [True, False, True]).tolist() == [True]


def test_equal_points_are_all_kept():
    assert pareto_mask([[1.0, 2.0]] * 4, [True, True]).tolist() == [True] * 4


def test_a_strictly_dominated_point_is_removed():
    mask = pareto_mask([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0]], [True, True])
    assert mask.tolist() == [True, False, True]


def test_a_point_worse_in_one_objective_and_equal_elsewhere_is_removed():
    assert pareto_mask([[1.0, 1.0], [1.0, 2.0]], [True, True]).tolist() == [True, False]


def test_maximize_direction_is_respected():
    points = [[1.0, 1.0], [2.0, 2.0]]
    assert pareto_mask(points, [False, False]).tolist() == [False, True]
    assert pareto_mask(points, [True, True]).tolist() == [True, False]
    assert pareto_mask(points, [True, False]).tolist() == [True, True]


def test_pareto_mask_returns_a_boolean_array_of_the_points():
    mask = pareto_mask(np.zeros((5, 2)), [True, False])
    assert mask.dtype == bool and mask.shape == (5,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise(bad):
    with pytest.raises(ValueError, match="must be finite"):
        pareto_mask([[1.0, 2.0], [bad, 0.0]], [True, True])


@pytest.mark.parametrize(
    ("values", "minimize"),
    [
        ([1.0, 2.0, 3.0], [True]),  # one-dimensional
        ([[1.0, 2.0], [3.0, 4.0]], [True, True, False]),  # too few columns
        ([[1.0, 2.0, 3.0]], [True, True]),  # too many columns
        (np.zeros((2, 2, 2)), [True, True]),  # three-dimensional
    ],
)
def test_values_of_the_wrong_shape_raise(values, minimize):
    with pytest.raises(ValueError, match=r"values must be \(points, \d+\)"):
        pareto_mask(values, minimize)


@pytest.mark.parametrize("seed", range(6))
def test_front_tracker_size_matches_pareto_mask_at_every_step(seed):
    points, minimize = random_case(100 + seed, n=120)
    tracker = FrontTracker(minimize)
    for i, point in enumerate(points):
        size = tracker.add(point)
        expected = int(pareto_mask(points[: i + 1], minimize).sum())
        assert (size, len(tracker)) == (expected, expected), f"after point {i}"


def test_front_tracker_starts_empty_and_keeps_equal_points():
    tracker = FrontTracker([True, False])
    assert len(tracker) == 0
    assert [tracker.add([1.0, 1.0]) for _ in range(3)] == [1, 2, 3]
    assert tracker.add([0.0, 2.0]) == 1  # dominates all three
    assert tracker.add([5.0, 0.0]) == 1  # dominated
