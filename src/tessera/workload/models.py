"""Workloads of the models in ``tessera.zoo`` (captured on their own calibration data) and of the
untrained reference architectures in ``tessera.workload.architectures``."""

from __future__ import annotations

from pathlib import Path

from tessera.workload.architectures import ARCHITECTURES, build_architecture
from tessera.workload.capture import capture
from tessera.workload.graph import Workload


def capture_model(name: str, data_dir: str | Path | None = None, batch_size: int = 1) -> Workload:
    """The workload of zoo model ``name`` (``tessera.zoo.model_names()``) on its first
    calibration batch of ``batch_size`` examples, named after the model. ValueError for an
    unknown name or a batch size below 1."""
    from tessera.zoo import get_model

    spec = get_model(name)
    model = spec.build(data_dir)
    batch = spec.calibration(data_dir, batch_size, batch_size)[0]
    return capture(model, batch, name=name)


def workload_names() -> tuple[str, ...]:
    """Names ``load_named_workload`` accepts: zoo models, then reference architectures."""
    from tessera.zoo import model_names

    return (*model_names(), *ARCHITECTURES)


def load_named_workload(name: str, data_dir: str | Path | None = None) -> Workload:
    """The batch-1 workload of a zoo model or a reference architecture; ValueError listing the
    valid names otherwise."""
    if name in ARCHITECTURES:
        model, example = build_architecture(name)
        return capture(model, example, name=name)
    if name not in workload_names():
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(workload_names())}")
    return capture_model(name, data_dir)
