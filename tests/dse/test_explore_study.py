"""Studies end to end on the digits CNN: grid, random and NSGA-II searches, stored points, resume,
cached accuracy, and the accuracy of a point against an independent evaluation."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path

import optuna
import pytest

from tessera.dse.explore import StudyError, explore, load_result, loads_space
from tessera.dse.explore.study import default_storage
from tessera.quant import QuantConfig, quantize_
from tessera.zoo import get_model

TINY = """
name: tiny
model: digits-cnn
eval_limit: 200
quantization:
  weights: [int8_channel, int4_g32, mxfp4]
  activations: [int8_channel]
  methods: [rtn]
hardware:
  - kind: systolic
    rows: [8, 16]
    cols: [8, 16]
  - kind: cim
    rows: [128]
objectives: [accuracy, latency_us, energy_pj]
constraints: {max_accuracy_drop: 5.0}
search: {method: SEARCH}
"""


def tiny(search: str = "grid") -> object:
    return loads_space(TINY.replace("SEARCH", search), "tiny.yaml")


def outcome(result) -> dict[str, list[float]]:
    """Each point's key and its objective values."""
    return {p.point.key: [p.metrics[n] for n in result.space.objectives] for p in result.points}


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory) -> tuple[object, Path]:
    out = tmp_path_factory.mktemp("grid")
    return explore(tiny(), out_dir=out, backend="process", workers=1), out


def test_grid_evaluates_every_runnable_point_once(grid_run) -> None:
    result, _ = grid_run
    # 3 weight formats x 5 designs, minus mxfp4 on the crossbar (float weights cannot run there)
    assert len(result.points) == 14
    assert result.skipped == 1
    assert result.evaluations == 3  # one accuracy evaluation per quantization, shared by its designs
    assert len({p.point.key for p in result.points}) == 14
    assert not result.failed


def test_every_point_is_in_the_sqlite_study(grid_run) -> None:
    _, out = grid_run
    with sqlite3.connect(out / "study.db") as db:
        states = dict(db.execute("SELECT state, count(*) FROM trials GROUP BY state").fetchall())
    assert states == {"COMPLETE": 14}


def test_point_accuracy_equals_an_independent_evaluation(grid_run) -> None:
    result, _ = grid_run
    spec = get_model("digits-cnn")
    model = copy.deepcopy(spec.build())
    quantize_(model, QuantConfig(weights="int4_g32", activations="int8_channel", method="rtn"))
    expected = spec.evaluate(model, limit=200)
    got = {p.metrics["accuracy"] for p in result.points if p.point.weights == "int4_g32"}
    assert got == {expected}
    assert result.baseline == spec.evaluate(spec.build(), limit=200)


def test_front_is_the_feasible_non_dominated_points(grid_run) -> None:
    result, _ = grid_run
    names = result.space.objectives
    sign = {"accuracy": -1.0, "latency_us": 1.0, "energy_pj": 1.0}

    def dominates(a, b) -> bool:
        pairs = [(sign[n] * a.metrics[n], sign[n] * b.metrics[n]) for n in names]
        return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)

    feasible = [p for p in result.points if p.feasible]
    expected = {p.number for p in feasible if not any(dominates(q, p) for q in feasible)}
    assert {p.number for p in result.front_points()} == expected
    assert all(p.metrics["accuracy_drop"] <= 5.0 for p in result.front_points())


def test_a_new_run_over_an_existing_study_is_refused(grid_run) -> None:
    _, out = grid_run
    with pytest.raises(StudyError, match=r"already exists.*--resume"):
        explore(tiny(), out_dir=out, backend="process", workers=1)


def test_resume_with_another_space_is_refused(grid_run) -> None:
    _, out = grid_run
    changed = loads_space(TINY.replace("SEARCH", "grid").replace("eval_limit: 200", "eval_limit: 100"))
    with pytest.raises(StudyError, match="another space"):
        explore(changed, out_dir=out, resume=True, backend="process", workers=1)


def test_resume_of_a_finished_study_evaluates_nothing(grid_run, tmp_path) -> None:
    result, out = grid_run
    again = explore(tiny(), out_dir=out, resume=True, backend="process", workers=1)
    assert again.evaluations == 0
    assert outcome(again) == outcome(result)
    assert outcome(load_result(tiny(), default_storage(out))) == outcome(result)


def test_resume_without_a_study_is_refused(tmp_path) -> None:
    with pytest.raises(StudyError, match="nothing to resume"):
        explore(tiny(), out_dir=tmp_path, resume=True, backend="process", workers=1)


def test_random_search_draws_distinct_points_reproducibly(tmp_path) -> None:
    space = loads_space(TINY.replace("SEARCH", "random, trials: 6, seed: 3"))
    first = explore(space, out_dir=tmp_path / "a", backend="process", workers=1)
    second = explore(space, out_dir=tmp_path / "b", backend="process", workers=1)
    assert len(first.points) == 6
    assert outcome(first) == outcome(second)


def test_nsga2_runs_its_budget_and_closes_trials_a_killed_run_left_open(tmp_path) -> None:
    space = loads_space(TINY.replace("SEARCH", "nsga2, trials: 10, population: 4, seed: 0"))
    first = explore(space, out_dir=tmp_path, backend="process", workers=1)
    storage = default_storage(tmp_path)
    study = optuna.load_study(study_name="tiny", storage=storage)
    complete = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(complete) == 10
    assert len(first.points) == len({json.dumps(t.params, sort_keys=True) for t in complete})
    assert first.evaluations <= 3
    # a run killed after asking for a trial leaves it RUNNING; resuming closes it as failed
    left_open = study.ask()
    resumed = explore(space, out_dir=tmp_path, resume=True, backend="process", workers=1)
    state = optuna.load_study(study_name="tiny", storage=storage).trials[left_open.number].state
    assert state.name == "FAIL"
    assert resumed.evaluations == 0
