"""Calibration: what a layer receives when the (partly quantized) model runs on sample batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _CapturedError(Exception):
    """Raised by the capture hook to end a forward pass once the layer's input is seen."""


def batch_size_of(batch: Any) -> int:
    """Examples in a batch: a tensor's first dimension, or that of a mapping's first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, torch.Tensor):
                return value.shape[0]
    if isinstance(batch, (tuple, list)) and batch:
        return batch_size_of(batch[0])
    raise TypeError(f"cannot tell the batch size of a {type(batch).__name__}")


def limit_batches(batches: Iterable[Any], samples: int) -> list[Any]:
    """The first batches holding at least ``samples`` examples in total."""
    kept, seen = [], 0
    for batch in batches:
        if seen >= samples:
            break
        kept.append(batch)
        seen += batch_size_of(batch)
    if not kept:
        raise ValueError("the calibration data is empty")
    return kept


def run_model(model: nn.Module, batch: Any) -> Any:
    """Feed one batch as ``model(batch)`` (tuples are unpacked as positional arguments)."""
    return model(*batch) if isinstance(batch, tuple) else model(batch)


def capture_inputs(
    model: nn.Module,
    layer: nn.Module,
    batches: list[Any],
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """The first input ``layer`` receives on each batch (the forward stops there)."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        x = args[0].detach()
        captured.append(transform(x) if transform else x)
        raise _CapturedError

    handle = layer.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            for batch in batches:
                try:
                    run_model(model, batch)
                except _CapturedError:
                    continue
    finally:
        handle.remove()
    if len(captured) != len(batches):
        raise RuntimeError("the layer was not reached by a forward pass: is it used by the model?")
    return captured


def input_columns(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Inputs as GEMM rows (samples x reduction), columns ordered like ``weight_columns``.

    Linear: features. Convolutions: im2col patches ordered (kernel position, input channel), so
    consecutive columns are the channels one weight block spans.
    """
    if isinstance(layer, nn.Linear):
        return x.reshape(-1, x.shape[-1])
    if isinstance(layer, nn.Conv1d):
        x, kernel = x.unsqueeze(2), (1, layer.kernel_size[0])
        stride, padding, dilation = (1, layer.stride[0]), (0, layer.padding[0]), (1, layer.dilation[0])
    else:
        kernel, stride, padding, dilation = layer.kernel_size, layer.stride, layer.padding, layer.dilation
    patches = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)  # (B, C*k, L)
    channels = x.shape[1]
    b, _, positions = patches.shape
    patches = patches.reshape(b, channels, -1, positions).permute(0, 3, 2, 1)  # (B, L, k, C)
    return patches.reshape(b * positions, -1)


def weight_columns(weight: torch.Tensor) -> torch.Tensor:
    """A weight as (outputs x reduction) with the column order of ``input_columns``."""
    if weight.dim() == 2:
        return weight
    return weight.movedim(1, -1).reshape(weight.shape[0], -1)


def weight_from_columns(columns: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of ``weight_columns``."""
    if len(shape) == 2:
        return columns.reshape(shape)
    moved = (shape[0], *shape[2:], shape[1])
    return columns.reshape(moved).movedim(-1, 1).contiguous()
