"""Scores (accuracy, fraction of the best performance), top-k refinement and the baselines."""

import numpy as np
import pytest

from tessera.dse.airchitect import (
    GradientBoostedTrees,
    MajorityClass,
    NearestNeighbours,
    TrainConfig,
    compare,
    generate,
    refine,
    score,
)


@pytest.fixture(scope="module")
def data():
    return generate(1, 600, seed=0)


def test_perfect_predictions_score_one(data):
    s = score(data, data.labels)
    assert (s.accuracy, s.performance_fraction, s.worst_fraction, s.workloads) == (1.0, 1.0, 1.0, 600)


def test_performance_fraction_is_the_geomean_of_cycle_ratios(data):
    predicted = MajorityClass().fit(data).predict(data.inputs)
    cycles = data.space.cost_pairs(dict(data.inputs), predicted).total_cycles
    s = score(data, predicted)
    assert s.performance_fraction == pytest.approx(np.exp(np.mean(np.log(data.best_cycles / cycles))))
    assert s.accuracy == pytest.approx(np.mean(predicted == data.labels))
    assert 0 < s.worst_fraction <= s.performance_fraction < 1


def test_score_rejects_predictions_outside_the_budget(data):
    wrong = (data.labels + 3) % data.space.num_configs  # another budget's arrays
    with pytest.raises(ValueError, match="not allowed for their workloads"):
        score(data, wrong)
    with pytest.raises(ValueError, match="expected 600 predictions"):
        score(data, data.labels[:5])


def test_refine_with_every_allowed_configuration_finds_the_optimum(data):
    allowed = data.space.feasible(dict(data.inputs))
    width = allowed.sum(axis=1).max()
    candidates = np.stack([np.resize(np.flatnonzero(row), width) for row in allowed])
    chosen = refine(data.space, data.inputs, candidates)
    assert score(data, chosen).performance_fraction == 1.0


@pytest.mark.parametrize("baseline", [MajorityClass(), NearestNeighbours(), GradientBoostedTrees(max_iter=5)])
def test_baselines_predict_allowed_configurations(data, baseline):
    train, test = data.split(0.25, seed=0)
    predicted = baseline.fit(train).predict(test.inputs)
    assert score(test, predicted).workloads == len(test)  # score checks each is allowed


def test_majority_is_the_most_frequent_label_of_the_budget(data):
    predicted = MajorityClass().fit(data).predict(data.inputs)
    for budget in np.unique(data.inputs["mac_budget"]):
        rows = data.inputs["mac_budget"] == budget
        counts = np.bincount(data.labels[rows], minlength=data.space.num_configs)
        assert set(predicted[rows].tolist()) == {int(np.argmax(counts))}


def test_compare_scores_every_method(data):
    train, test = data.split(0.25, seed=0)
    names = []
    results = compare(
        train,
        test,
        TrainConfig(epochs=2),
        baselines=(MajorityClass(), NearestNeighbours(1)),
        top_k=(2, 4),
        progress=names.append,
    )
    assert [r.method for r in results] == ["mlp", "mlp_top2", "mlp_top4", "majority", "knn"]
    assert names == ["mlp", "majority", "knn"]
    by_name = {r.method: r.scores for r in results}
    assert by_name["mlp"].performance_fraction <= by_name["mlp_top2"].performance_fraction
    assert by_name["mlp_top2"].performance_fraction <= by_name["mlp_top4"].performance_fraction
    row = results[0].to_dict()
    assert {"method", "accuracy", "performance_fraction", "fit_seconds", "predict_seconds"} <= set(row)
