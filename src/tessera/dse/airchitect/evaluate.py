"""How good a predictor is on labelled workloads: accuracy, and the fraction of the best performance
its predictions reach (AIRCHITECT's two metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from tessera.dse.airchitect.baselines import Baseline, GradientBoostedTrees, MajorityClass, NearestNeighbours
from tessera.dse.airchitect.dataset import Dataset
from tessera.dse.airchitect.model import TrainConfig, train
from tessera.dse.airchitect.spaces import DesignSpace


@dataclass(frozen=True)
class Scores:
    """``accuracy``: the fraction of workloads whose predicted configuration id is the label;
    ``performance_fraction``: the geometric mean over workloads of best total cycles / total cycles
    of the predicted configuration (1.0 when every prediction is optimal, ties included);
    ``worst_fraction``: the smallest such ratio; ``workloads``: how many were scored."""

    accuracy: float
    performance_fraction: float
    worst_fraction: float
    workloads: int

    def to_dict(self) -> dict[str, float]:
        """The fields as JSON-ready values."""
        return asdict(self)


def score(dataset: Dataset, predicted: np.ndarray) -> Scores:
    """Score configuration ids ``predicted`` (one per workload of ``dataset``); the cycles of each
    prediction come from the space's cost model. ValueError if one is not allowed for its workload."""
    space = dataset.space
    predicted = np.asarray(predicted, dtype=np.int64)
    if predicted.shape != dataset.labels.shape:
        raise ValueError(f"expected {len(dataset)} predictions, got shape {predicted.shape}")
    if ((predicted < 0) | (predicted >= space.num_configs)).any():
        raise ValueError(f"predictions must be configuration ids 0..{space.num_configs - 1}")
    allowed = space.feasible(dict(dataset.inputs))[np.arange(len(dataset)), predicted]
    if not allowed.all():
        raise ValueError(f"{int((~allowed).sum())} predictions are not allowed for their workloads")
    cycles = space.cost_pairs(dict(dataset.inputs), predicted).total_cycles
    ratio = dataset.best_cycles / cycles
    return Scores(
        accuracy=float(np.mean(predicted == dataset.labels)),
        performance_fraction=float(np.exp(np.mean(np.log(ratio)))),
        worst_fraction=float(ratio.min()),
        workloads=len(dataset),
    )


def refine(space: DesignSpace, inputs: Mapping[str, object], candidates: np.ndarray) -> np.ndarray:
    """For each workload, the candidate configuration (a row of ``candidates``, ``(workloads, k)``)
    with the fewest total cycles by the cost model, the earlier one on ties: a prediction checked
    with ``k`` model evaluations instead of a search over every configuration."""
    x = space.check(dict(inputs))
    candidates = np.asarray(candidates, dtype=np.int64)
    rows = np.repeat(np.arange(len(candidates)), candidates.shape[1])
    cycles = space.cost_pairs({name: v[rows] for name, v in x.items()}, candidates.ravel()).total_cycles
    best = np.argmin(cycles.reshape(candidates.shape), axis=1)
    return candidates[np.arange(len(candidates)), best]


@dataclass(frozen=True)
class MethodResult:
    """One method's test ``scores`` and the seconds it took to fit (``fit_seconds``) and to predict
    the test set (``predict_seconds``)."""

    method: str
    scores: Scores
    fit_seconds: float
    predict_seconds: float

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values."""
        return {
            "method": self.method,
            **self.scores.to_dict(),
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
        }


def compare(
    train_set: Dataset,
    test_set: Dataset,
    config: TrainConfig | None = None,
    baselines: tuple[Baseline, ...] | None = None,
    top_k: tuple[int, ...] = (3,),
    progress: Callable[[str], None] | None = None,
) -> list[MethodResult]:
    """Train the classifier on ``train_set`` and score it on ``test_set`` beside ``baselines``
    (default: majority class, nearest neighbours, gradient-boosted trees). For each ``k`` in
    ``top_k`` also scores ``mlp_top{k}``: the classifier's ``k`` most likely configurations checked
    with the cost model (``refine``). ``progress`` receives the name of each method as it starts."""
    if train_set.case != test_set.case:
        raise ValueError(f"train set is case {train_set.case}, test set case {test_set.case}")
    baselines = (
        baselines if baselines is not None else (MajorityClass(), NearestNeighbours(), GradientBoostedTrees())
    )
    results = []

    def timed(fn: Callable[[], object]) -> tuple[object, float]:
        start = time.perf_counter()
        value = fn()
        return value, time.perf_counter() - start

    if progress is not None:
        progress("mlp")
    model, fit_s = timed(lambda: train(train_set, config))
    predicted, predict_s = timed(lambda: model.predict(test_set.inputs))
    results.append(MethodResult("mlp", score(test_set, predicted), fit_s, predict_s))
    for k in top_k:
        chosen, predict_s = timed(
            lambda k=k: refine(test_set.space, test_set.inputs, model.ranked(test_set.inputs, k))
        )
        results.append(MethodResult(f"mlp_top{k}", score(test_set, chosen), fit_s, predict_s))
    for baseline in baselines:
        if progress is not None:
            progress(baseline.name)
        _, fit_s = timed(lambda baseline=baseline: baseline.fit(train_set))
        predicted, predict_s = timed(lambda baseline=baseline: baseline.predict(test_set.inputs))
        results.append(MethodResult(baseline.name, score(test_set, predicted), fit_s, predict_s))
    return results
