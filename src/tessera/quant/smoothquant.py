"""SmoothQuant (Xiao et al. 2023): move activation outliers into the weights before quantizing.

Per input channel j: s_j = max|X_j|^alpha / max|W_j|^(1 - alpha); the layer computes
(X / s)(s W), so inputs get easier to quantize and the product is unchanged. Tessera keeps the
division inside the quantized layer instead of folding it into the previous operation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tessera.quant.calibration import run_model
from tessera.quant.layers import WEIGHT_AXIS, input_axis


def smoothing_scales(
    model: nn.Module, tasks: list, batches: list[Any], alpha: float
) -> dict[str, torch.Tensor]:
    """Scales per input channel for every task whose inputs are quantized (one calibration pass)."""
    wanted = [task for task in tasks if task.input_format is not None]
    maxima: dict[str, torch.Tensor] = {}

    def recorder(task):
        def hook(_module: nn.Module, args: tuple) -> None:
            x = args[0].detach()
            axis = input_axis(task.kind) % x.dim()
            per_channel = x.abs().movedim(axis, 0).reshape(x.shape[axis], -1).amax(dim=1)
            maxima[task.name] = (
                torch.maximum(maxima[task.name], per_channel) if task.name in maxima else per_channel
            )

        return hook

    handles = [task.module.register_forward_pre_hook(recorder(task)) for task in wanted]
    try:
        with torch.no_grad():
            for batch in batches:
                run_model(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    scales = {}
    for task in wanted:
        weight = task.module.weight.detach().abs()
        weight_max = weight.movedim(WEIGHT_AXIS, 0).reshape(weight.shape[WEIGHT_AXIS], -1).amax(dim=1)
        act_max = maxima[task.name]
        scale = act_max.pow(alpha) / weight_max.pow(1 - alpha)
        usable = (act_max > 0) & (weight_max > 0) & torch.isfinite(scale)
        scales[task.name] = torch.where(usable, scale.clamp(min=1e-5), torch.ones_like(scale))
    return scales
