"""``tessera.quantize_``: swap a model's linear and convolution layers for quantized ones."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from tessera.quant.attention import quantize_attention, restore_attention
from tessera.quant.calibration import CalibrationRunner, Group, limit_batches
from tessera.quant.config import QuantConfig
from tessera.quant.layers import QuantizedLayer, layer_kind
from tessera.quant.methods import METHOD_HANDLERS, LayerTask
from tessera.quant.smoothquant import smoothing_scales


@dataclass(frozen=True)
class LayerResult:
    """One quantized layer: its formats, the weight SQNR (dB) and the time its method took (s)."""

    name: str
    kind: str
    weight_format: str | None
    input_format: str | None
    weight_sqnr_db: float
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class QuantReport:
    """What ``quantize_`` did: the layers it quantized, those it left in place (with why), and
    the attention modules whose matmuls it quantized."""

    method: str
    layers: list[LayerResult] = field(default_factory=list)
    left_in_place: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    attention: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantize_(
    model: nn.Module,
    config: QuantConfig,
    calib: Iterable[Any] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> QuantReport:
    """Quantize ``model`` in place and return a report.

    Every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` that the config assigns a format becomes
    a ``QuantizedLayer``: weights quantized once by ``config.method``, inputs quantized on the fly.
    Other layers are left in place and listed in the report. ``calib`` is an iterable of batches,
    each fed as ``model(batch)``; data-aware methods and SmoothQuant need it. With calibration
    data, layers are processed in the order the model executes them, each calibrated on the
    inputs the already-quantized layers produce (see ``tessera.quant.calibration``).
    ``progress(done, total, layer_name)`` is called after each layer. ``config.attention``
    quantizes the attention matmuls first, so that calibration sees them. ``restore`` undoes it.
    If anything fails (e.g. calibration data that does not fit the model), the model is restored
    before the error propagates.
    """
    tasks, left = plan(model, config)
    try:
        return _quantize_tasks(model, config, tasks, left, calib, progress)
    except BaseException:
        restore(model)
        raise


def _quantize_tasks(
    model: nn.Module,
    config: QuantConfig,
    tasks: list[LayerTask],
    left: list[tuple[str, str]],
    calib: Iterable[Any] | None,
    progress: Callable[[int, int, str], None] | None,
) -> QuantReport:
    start = time.perf_counter()
    batches = None
    if config.needs_calibration:
        if calib is None:
            raise ValueError(f"method {config.method!r} (or smoothquant) needs calibration data: pass calib=")
        batches = limit_batches(calib, config.calibration_samples)
    scales = smoothing_scales(model, tasks, batches, config.smoothquant) if config.smoothquant else {}
    float_model = copy.deepcopy(model) if config.method == "ed" and batches is not None else None
    attention = quantize_attention(model, config.attention) if config.attention else []
    float_runner = CalibrationRunner(float_model, batches) if float_model is not None else None
    runner = CalibrationRunner(model, batches) if batches is not None else None
    handler = METHOD_HANDLERS[config.method]
    results = []
    for done, (task, group) in enumerate(_calibration_order(tasks, runner), start=1):
        task_start = time.perf_counter()
        task.input_scale = scales.get(task.name)
        if group is not None:
            task.inputs = [task.input_transform(x) for x in group.inputs]
            if float_runner is not None:
                leader = float_model.get_submodule(group.names[0])
                task.float_inputs = float_runner.first_reached({leader: group.names[0]}).inputs
        weight, bias, note = handler(task, config)
        layer = QuantizedLayer(
            task.module, task.name, weight, task.weight_format, task.input_format, task.input_scale
        )
        if bias is not None:
            layer.bias = nn.Parameter(bias, requires_grad=False)
        _replace(model, task.name, layer)
        task.release()
        results.append(
            LayerResult(
                task.name,
                task.kind,
                task.weight_format,
                task.input_format,
                _sqnr_db(task.float_weight, weight),
                time.perf_counter() - task_start,
                note,
            )
        )
        if progress:
            progress(done, len(tasks), task.name)
    return QuantReport(config.method, results, left, time.perf_counter() - start, attention)


def _calibration_order(
    tasks: list[LayerTask], runner: CalibrationRunner | None
) -> Iterator[tuple[LayerTask, Group | None]]:
    """Tasks in the order the model executes them, each with the calibration inputs its group of
    siblings received (registration order and no inputs when there is no calibration data)."""
    if runner is None:
        yield from ((task, None) for task in tasks)
        return
    pending = {task.module: task for task in tasks}
    while pending:
        group = runner.first_reached({module: task.name for module, task in pending.items()})
        members = [task for task in pending.values() if task.name in group.names]
        for task in members:
            del pending[task.module]
        for task in sorted(members, key=lambda t: group.names.index(t.name)):
            yield task, group


def plan(model: nn.Module, config: QuantConfig) -> tuple[list[LayerTask], list[tuple[str, str]]]:
    """The layers to quantize (in registration order) and those left in place, with the reason."""
    tasks, left = [], []
    for name, module in model.named_modules():
        if isinstance(module, QuantizedLayer):
            raise ValueError(f"{name} is already quantized: call tessera.restore(model) first")
        kind = layer_kind(module)
        if kind is None:
            if _has_matrix_weight(module):
                left.append((name, f"unsupported layer type {type(module).__name__}"))
            continue
        formats = config.formats_for(name, kind)
        if formats is None:
            left.append((name, "skipped by a rule"))
        elif formats == (None, None):
            left.append((name, "no format assigned"))
        else:
            tasks.append(LayerTask(name, module, kind, *formats))
    return tasks, left


def restore(model: nn.Module) -> int:
    """Put the original layers back in place of every ``QuantizedLayer`` and the attention matmuls
    back in floating point; returns how many layers were swapped back."""
    swapped = [(name, m) for name, m in model.named_modules() if isinstance(m, QuantizedLayer)]
    for name, layer in swapped:
        _replace(model, name, layer.original)
    restore_attention(model)
    return len(swapped)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def _has_matrix_weight(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.dim() >= 2 and not list(module.children())


def _sqnr_db(reference: torch.Tensor, approx: torch.Tensor) -> float:
    noise = (reference.double() - approx.double()).pow(2).sum()
    if noise == 0:
        return float("inf")
    return float(10 * torch.log10(reference.double().pow(2).sum() / noise))
