"""Baselines for the classifier, fitted and scored on the same split: the majority class, nearest
neighbours and gradient-boosted trees (scikit-learn) on the inputs' log2. Like the classifier, each
predicts the best-scoring configuration among those the workload allows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np

from tessera.dse.airchitect.dataset import Dataset
from tessera.dse.airchitect.spaces import DesignSpace


def log_features(space: DesignSpace, inputs: Mapping[str, object]) -> np.ndarray:
    """``(workloads, inputs)`` float array of log2 of each checked input (octaves, one scale for all)."""
    x = space.check(dict(inputs))
    return np.stack([np.log2(x[name]) for name in space.feature_names], axis=1)


def masked_argmax(space: DesignSpace, inputs: Mapping[str, object], scores: np.ndarray) -> np.ndarray:
    """The allowed configuration with the highest score for each workload (the lowest id on ties)."""
    allowed = space.feasible(space.check(dict(inputs)))
    return np.where(allowed, scores, -np.inf).argmax(axis=1)


class Baseline(ABC):
    """A classifier fitted on a training ``Dataset``; ``scores`` gives one number per workload and
    configuration (higher is better), ``predict`` the best allowed configuration."""

    name: str

    @abstractmethod
    def fit(self, train: Dataset) -> Baseline:
        """Fit on the workloads and labels of ``train``; returns self."""

    @abstractmethod
    def scores(self, inputs: Mapping[str, object]) -> np.ndarray:
        """``(workloads, configurations)`` scores, higher is better (allowed or not)."""

    def predict(self, inputs: Mapping[str, object]) -> np.ndarray:
        """The allowed configuration with the highest score for each workload."""
        return masked_argmax(self.space, inputs, self.scores(inputs))


class MajorityClass(Baseline):
    """The configuration most frequent in training among those the workload allows (for case 1, the
    most frequent label of its MAC budget; for case 2, of those within its SRAM budget)."""

    name = "majority"

    def fit(self, train: Dataset) -> MajorityClass:
        self.space = train.space
        self.counts = np.bincount(train.labels, minlength=self.space.num_configs).astype(float)
        return self

    def scores(self, inputs: Mapping[str, object]) -> np.ndarray:
        n = len(self.space.check(dict(inputs))[self.space.feature_names[0]])
        return np.broadcast_to(self.counts, (n, len(self.counts)))


class _SklearnBaseline(Baseline):
    """A scikit-learn classifier on ``log_features``, run on ``threads`` native threads (one by
    default: on a busy machine, more spin against each other)."""

    threads: int = 1

    @abstractmethod
    def _make(self):
        """A fresh, unfitted scikit-learn classifier."""

    def fit(self, train: Dataset) -> _SklearnBaseline:
        from threadpoolctl import threadpool_limits

        self.space = train.space
        with threadpool_limits(limits=self.threads):
            self.model = self._make().fit(log_features(self.space, train.inputs), train.labels)
        return self

    def scores(self, inputs: Mapping[str, object]) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads):
            proba = self.model.predict_proba(log_features(self.space, inputs))
        out = np.zeros((len(proba), self.space.num_configs))
        out[:, self.model.classes_] = proba
        return out


class NearestNeighbours(_SklearnBaseline):
    """``KNeighborsClassifier(n_neighbors)`` on the log2 inputs (Euclidean distance in octaves)."""

    name = "knn"

    def __init__(self, n_neighbors: int = 5) -> None:
        self.n_neighbors = n_neighbors

    def _make(self):
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=self.n_neighbors)


class GradientBoostedTrees(_SklearnBaseline):
    """``HistGradientBoostingClassifier`` on the log2 inputs: ``max_iter`` boosting rounds of one tree
    per class (no early stopping), ``l2_regularization`` on the leaf values (without it, classes
    seen a few times get huge leaves and the fit diverges), seeded. Its time grows with the number
    of classes: case 2's ~400 labels take minutes at 10^5 workloads."""

    name = "gbt"

    def __init__(self, max_iter: int = 100, l2_regularization: float = 1.0, seed: int = 0) -> None:
        self.max_iter, self.l2_regularization, self.seed = max_iter, l2_regularization, seed

    def _make(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.seed,
        )
