"""Post-training quantization methods: RTN, GPTQ and error diffusion, one handler each.

A handler takes a ``LayerTask`` (the layer, its formats, the calibration inputs it received
inside the already-quantized network) and returns the quantized weight, an optional new bias,
and a note for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from tessera.formats import quantize
from tessera.quant.capture import input_patches, patch_order, weight_columns, weight_from_columns
from tessera.quant.config import QuantConfig
from tessera.quant.grouping import ColumnQuantizer
from tessera.quant.layers import WEIGHT_AXIS, input_axis

MethodResult = tuple[torch.Tensor, torch.Tensor | None, str]


@dataclass
class LayerTask:
    """One layer to quantize and what calibration gathered for it."""

    name: str
    module: nn.Module
    kind: str
    weight_format: str | None
    input_format: str | None
    input_scale: torch.Tensor | None = None
    inputs: list[torch.Tensor] | None = None
    float_inputs: list[torch.Tensor] | None = None

    @property
    def float_weight(self) -> torch.Tensor:
        """The weight to quantize: the layer's, times the SmoothQuant scales when there are any."""
        weight = self.module.weight.detach().float()
        if self.input_scale is None:
            return weight
        shape = [1] * weight.dim()
        shape[WEIGHT_AXIS] = -1
        return weight * self.input_scale.reshape(shape)

    def input_transform(self, x: torch.Tensor) -> torch.Tensor:
        """What the layer's GEMM sees: inputs divided by the smoothing scales, then quantized."""
        if self.input_scale is not None:
            shape = [1] * x.dim()
            shape[input_axis(self.kind) % x.dim()] = -1
            x = x / self.input_scale.reshape(shape)
        return quantize(x, self.input_format, axis=input_axis(self.kind)) if self.input_format else x

    def gram(
        self, left: list[torch.Tensor], right: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """Sums over calibration rows of a^T a and a^T b (reduction x reduction, float64, weight-column
        order), a and b the GEMM rows of ``left`` and ``right`` (None without ``right``); accumulated
        per batch in float32. Also the row count."""
        left_total = right_total = None
        rows = 0
        for i, x in enumerate(left):
            a = input_patches(self.module, x.float())
            products = [a @ a.transpose(1, 2)]
            if right is not None:
                products.append(a @ input_patches(self.module, right[i].float()).transpose(1, 2))
            sums = [product.sum(dim=0) for product in products]
            left_total = sums[0] if left_total is None else left_total.add_(sums[0])
            if right is not None:
                right_total = sums[1] if right_total is None else right_total.add_(sums[1])
            rows += a.shape[0] * a.shape[2]
        order = patch_order(self.module, left_total.shape[0])

        def reorder(total: torch.Tensor | None) -> torch.Tensor | None:
            return None if total is None else total.double()[order][:, order]

        return reorder(left_total), reorder(right_total), rows

    def column_mean(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Mean GEMM row of the calibration inputs (float64, weight-column order)."""
        total, rows = 0.0, 0
        for x in inputs:
            a = input_patches(self.module, x.float()).double()
            total, rows = total + a.sum(dim=(0, 2)), rows + a.shape[0] * a.shape[2]
        return (total / rows)[patch_order(self.module, len(total))]

    def release(self) -> None:
        self.inputs = self.float_inputs = None


def rtn(task: LayerTask, config: QuantConfig) -> MethodResult:
    """Round to nearest: every weight block quantized on its own."""
    weight = task.float_weight
    if task.weight_format is None:
        return weight, None, ""
    return quantize(weight, task.weight_format, axis=WEIGHT_AXIS), None, ""


def gptq(task: LayerTask, config: QuantConfig) -> MethodResult:
    """GPTQ (Frantar et al. 2023) on the inputs of the already-quantized network."""
    if task.weight_format is None:
        return task.float_weight, None, ""
    if getattr(task.module, "groups", 1) != 1:
        return rtn(task, config)[0], None, "grouped convolution: RTN"
    options = config.gptq
    weight = weight_columns(task.float_weight).double()
    gram, _, rows = task.gram(task.inputs)
    hessian = 2.0 / rows * gram
    dead = torch.diagonal(hessian) == 0
    hessian[dead, dead] = 1.0
    weight[:, dead] = 0.0
    order = (
        torch.argsort(torch.diagonal(hessian), descending=True)
        if options.act_order
        else torch.arange(len(dead))
    )
    hessian = hessian[order][:, order]
    hessian += options.damp * torch.diagonal(hessian).mean() * torch.eye(len(dead), dtype=hessian.dtype)
    upper = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(hessian)), upper=True)
    quantizer = ColumnQuantizer(task.weight_format, weight.float(), channels=task.module.weight.shape[1])
    quantized = _gptq_columns(weight[:, order], upper, quantizer, order, options.batch_size)
    result = torch.empty_like(quantized)
    result[:, order] = quantized
    return weight_from_columns(result.float(), task.module.weight.shape), None, ""


def _gptq_columns(
    weight: torch.Tensor, upper: torch.Tensor, quantizer: ColumnQuantizer, order: torch.Tensor, batch: int
) -> torch.Tensor:
    """The GPTQ sweep in processing order with lazy batch updates; ``order`` maps to layout columns."""
    n = weight.shape[1]
    quantized = torch.zeros_like(weight)
    position = torch.empty_like(order)
    position[order] = torch.arange(n)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        errors = torch.zeros(weight.shape[0], stop - start, dtype=weight.dtype)
        for i in range(start, stop):
            column = int(order[i])
            if not quantizer.started(column):
                members = position[quantizer.group_columns(column)]
                current = weight[:, members] - errors[:, : i - start] @ upper[start:i, members]
                current[:, members < i] = quantized[:, members[members < i]]
                quantizer.start(column, current.float())
            w = weight[:, i] - errors[:, : i - start] @ upper[start:i, i]
            q = quantizer(column, w.float()).double()
            quantized[:, i] = q
            errors[:, i - start] = (w - q) / upper[i, i]
        weight[:, stop:] -= errors @ upper[start:stop, stop:]
    return quantized


def error_diffusion(task: LayerTask, config: QuantConfig) -> MethodResult:
    """Error diffusion, by ``config.ed.variant`` (see ``ErrorDiffusionOptions``)."""
    if task.weight_format is None:
        return task.float_weight, None, ""
    if getattr(task.module, "groups", 1) != 1:
        return rtn(task, config)[0], None, "grouped convolution: RTN"
    if config.ed.variant == "inter":
        return _bias_absorbing(task)
    return _column_diffusion(task), None, ""


LAZY_BATCH = 128  # columns per lazy update of error diffusion (speed only; results are the same)


def _column_diffusion(task: LayerTask, batch: int = LAZY_BATCH) -> torch.Tensor:
    """Quantize input columns in order; each column's target carries the output error left by the
    columns before it (measured on the quantized network's inputs x~ against the float network's
    inputs x): q_j = Q(<x~_j, u + w_j x_j> / |x~_j|^2), u += w_j x_j - q_j x~_j (GPFQ form).

    ``carried[:, m]`` = sum over quantized columns k of w_k <x~_m, x_k> - q_k <x~_m, x~_k>; it is
    updated lazily: within a batch of ``batch`` columns only for the batch, after it for the rest.
    """
    weight = weight_columns(task.float_weight).double()
    gram, cross, _ = task.gram(task.inputs, task.float_inputs)  # <x~_j, x~_k>, <x~_j, x_k>
    norms = torch.diagonal(gram)
    live = norms > 0
    targets_scale = torch.where(live, torch.diagonal(cross) / torch.where(live, norms, 1.0), 1.0)
    quantizer = ColumnQuantizer(task.weight_format, weight.float(), channels=task.module.weight.shape[1])
    carried = torch.zeros_like(weight)
    quantized = torch.zeros_like(weight)
    n = weight.shape[1]
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        for j in range(start, stop):
            if not quantizer.started(j):  # the alphabet comes from the float weights: targets saturate
                quantizer.start(j, weight[:, quantizer.group_columns(j)].float())
            target = weight[:, j] * targets_scale[j] + torch.where(live[j], carried[:, j] / norms[j], 0.0)
            quantized[:, j] = quantizer(j, target.float()).double()
            carried[:, j + 1 : stop] += torch.outer(weight[:, j], cross[j + 1 : stop, j]) - torch.outer(
                quantized[:, j], gram[j + 1 : stop, j]
            )
        done = slice(start, stop)
        carried[:, stop:] += weight[:, done] @ cross[stop:, done].T - quantized[:, done] @ gram[stop:, done].T
    return weight_from_columns(quantized.float(), task.module.weight.shape)


def _bias_absorbing(task: LayerTask) -> MethodResult:
    """RTN weights; the mean output error against the float network, W E[x] - Q E[x~], moves into
    the bias, so the next layer receives what the float network would have passed on."""
    weight = task.float_weight
    quantized = quantize(weight, task.weight_format, axis=WEIGHT_AXIS)
    mean_x = task.column_mean(task.float_inputs)
    mean_x_tilde = task.column_mean(task.inputs)
    shift = weight_columns(weight).double() @ mean_x - weight_columns(quantized).double() @ mean_x_tilde
    bias = task.module.bias.detach().double() if task.module.bias is not None else torch.zeros_like(shift)
    return quantized, (bias + shift).float(), ""


METHOD_HANDLERS: dict[str, Callable[[LayerTask, QuantConfig], MethodResult]] = {
    "rtn": rtn,
    "gptq": gptq,
    "ed": error_diffusion,
}
