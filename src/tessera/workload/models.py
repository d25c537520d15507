"""Workloads of the models in ``tessera.zoo``, captured on their own calibration data."""

from __future__ import annotations

from pathlib import Path

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
