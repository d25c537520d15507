"""Accuracy of a quantized model on its real evaluation data: the expensive objective.

``evaluate_accuracy`` runs in worker processes (or Ray tasks): it builds the model once per
process, quantizes a copy with the point's ``QuantConfig`` and scores it with the model's own
evaluator. Results are plain dicts so that any executor can carry them.
"""

from __future__ import annotations

import copy
import json
import math
import time
from functools import lru_cache
from typing import Any

from torch import nn

from tessera.quant import QuantConfig, quantize_


def accuracy_key(model: str, config: QuantConfig, eval_limit: int | None) -> str:
    """The cache key of one accuracy evaluation: everything the number depends on."""
    return json.dumps([model, config.to_dict(), eval_limit], sort_keys=True)


@lru_cache(maxsize=2)
def _fp32_model(model: str, data_dir: str | None) -> nn.Module:
    from tessera.zoo import get_model

    return get_model(model).build(data_dir)


def evaluate_baseline(model: str, eval_limit: int | None, data_dir: str | None) -> float:
    """The fp32 model's metric."""
    from tessera.zoo import get_model

    return get_model(model).evaluate(_fp32_model(model, data_dir), data_dir, eval_limit)


def evaluate_accuracy(
    model: str, config: QuantConfig, eval_limit: int | None, data_dir: str | None
) -> dict[str, Any]:
    """Quantize a copy of ``model`` with ``config`` and score it: ``{"value", "seconds", "layers"}``,
    ``layers`` holding each quantized layer's weight SQNR in dB (``None`` when exact)."""
    from tessera.zoo import get_model

    start = time.perf_counter()
    spec = get_model(model)
    clone = copy.deepcopy(_fp32_model(model, data_dir))
    calib = None
    if config.needs_calibration:
        calib = spec.calibration(data_dir, n_samples=config.calibration_samples)
    report = quantize_(clone, config, calib)
    value = spec.evaluate(clone, data_dir, eval_limit)
    layers = [
        {
            "layer": layer.name,
            "weight_sqnr_db": layer.weight_sqnr_db if math.isfinite(layer.weight_sqnr_db) else None,
        }
        for layer in report.layers
    ]
    return {"value": float(value), "seconds": time.perf_counter() - start, "layers": layers}
