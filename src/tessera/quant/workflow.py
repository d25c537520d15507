"""Whole jobs over zoo models: evaluate, quantize, evaluate again, save (what the CLI runs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tessera.quant.api import quantize_
from tessera.quant.config import QuantConfig
from tessera.quant.storage import load, read_metadata, save

Progress = Callable[[str], None]


@dataclass(frozen=True)
class QuantizeRun:
    """The metric before and after quantization, on the same examples, and where it was saved."""

    model: str
    metric: str
    higher_is_better: bool
    fp32: float
    quantized: float
    method: str
    weights: str | None
    activations: str | None
    attention: str | None
    layers_quantized: int
    left_in_place: list[tuple[str, str]]
    quantize_seconds: float
    seconds: float
    saved_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantize_model(
    model_name: str,
    config: QuantConfig,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> QuantizeRun:
    """Evaluate a zoo model in fp32, quantize it by ``config``, evaluate again, optionally save."""
    from tessera.zoo import get_model

    say = progress or (lambda message: None)
    start = time.perf_counter()
    spec = get_model(model_name)
    if out is not None and (Path(out) / "tessera.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a saved model; pass --force to replace it")
    say(f"building {model_name}")
    model = spec.build(data_dir)
    say(f"evaluating fp32 on {spec.dataset}")
    fp32 = spec.evaluate(model, data_dir, limit)
    calib = spec.calibration(data_dir, config.calibration_samples) if config.needs_calibration else None
    say(f"quantizing with {config.method}")
    report = quantize_(
        model, config, calib=calib, progress=lambda done, total, name: say(f"layer {done}/{total} {name}")
    )
    say("evaluating the quantized model")
    quantized = spec.evaluate(model, data_dir, limit)
    saved = (
        str(save(model, out, config, model_name=model_name, overwrite=overwrite)) if out is not None else None
    )
    return QuantizeRun(
        model_name,
        spec.metric,
        spec.higher_is_better,
        fp32,
        quantized,
        config.method,
        config.weights,
        config.activations,
        config.attention,
        len(report.layers),
        report.left_in_place,
        report.seconds,
        time.perf_counter() - start,
        saved,
    )


def evaluate_model(
    model: str | None = None,
    saved: str | Path | None = None,
    data_dir: str | Path | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The metric of a zoo model (fp32) or of a saved quantized model."""
    from tessera.zoo import get_model

    if (model is None) == (saved is None):
        raise ValueError("give exactly one of a model name or a saved folder")
    name = model if model is not None else read_metadata(Path(saved))["model"]
    if name is None:
        raise ValueError(f"{saved} does not record which zoo model it came from; load it with tessera.load")
    spec = get_model(name)
    net = spec.build(data_dir)
    if saved is not None:
        load(saved, net)
    value = spec.evaluate(net, data_dir, limit)
    return {
        "model": name,
        "saved": str(saved) if saved else None,
        "metric": spec.metric,
        "value": value,
        "examples": limit or "all",
    }
