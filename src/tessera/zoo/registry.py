"""The model registry: each entry says how to build a model, feed it calibration data and score it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tessera.zoo.files import resolve_data_dir

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with counts of evaluated examples."""


@dataclass(frozen=True)
class ModelSpec:
    """A model with its data: what it scores and how.

    ``metric`` names the number ``evaluate`` returns (``top1_pct``: top-1 accuracy in percent;
    ``spearman_x100``: Spearman rank correlation times 100; ``perplexity``: exp of the mean
    per-token cross-entropy in nats). ``needs_data``: whether the data folder is required.
    """

    name: str
    metric: str
    higher_is_better: bool
    dataset: str
    description: str
    needs_data: bool
    builder: Callable[[Path | None], nn.Module]
    calibrator: Callable[[Path | None, int, int], list[Any]]
    evaluator: Callable[[nn.Module, Path | None, int | None, Progress | None], float]

    def build(self, data_dir: str | Path | None = None) -> nn.Module:
        """The fp32 model in eval mode, pretrained (or trained by Tessera and cached)."""
        return self.builder(self._data_dir(data_dir))

    def calibration(
        self, data_dir: str | Path | None = None, n_samples: int = 128, batch_size: int = 32
    ) -> list[Any]:
        """Model inputs from a training split (stories260k: WikiText-2 validation), each fed as
        ``model(batch)``: the split's first ``n_samples`` examples (fewer if it is smaller), in
        batches of ``batch_size``, always the same ones.
        """
        if n_samples < 1 or batch_size < 1:
            raise ValueError(f"n_samples and batch_size must be positive, got {n_samples}, {batch_size}")
        return self.calibrator(self._data_dir(data_dir), n_samples, batch_size)

    def evaluate(
        self,
        model: nn.Module,
        data_dir: str | Path | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> float:
        """The metric on the test split, or on its first ``limit`` examples; no gradients."""
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number of examples or None, got {limit}")
        return self.evaluator(model, self._data_dir(data_dir), limit, progress)

    def _data_dir(self, data_dir: str | Path | None) -> Path | None:
        return resolve_data_dir(data_dir) if self.needs_data else None


_MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry; returns it."""
    if spec.name in _MODELS:
        raise ValueError(f"model name {spec.name!r} is already registered")
    _MODELS[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """The registered model called ``name``; unknown names raise ValueError listing the valid ones."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}. Models: {', '.join(model_names())}")
    return _MODELS[name]


def model_names() -> list[str]:
    """Names of all registered models, in registration order."""
    return list(_MODELS)
