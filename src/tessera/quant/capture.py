"""Calibration inputs and weights as GEMM operands: im2col columns in the order weight blocks use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def input_patches(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Inputs as GEMM operands (batch, reduction, positions) without copying where possible.

    Linear: (1, features, rows). Convolutions: im2col patches (batch, channels x kernel
    positions, output positions) in unfold's channel-major order; ``patch_order`` maps that order
    to the column order of ``weight_columns``.
    """
    if isinstance(layer, nn.Linear):
        return x.reshape(-1, x.shape[-1]).T.unsqueeze(0)
    if isinstance(layer, nn.Conv1d):
        x, kernel = x.unsqueeze(2), (1, layer.kernel_size[0])
        stride, padding, dilation = (1, layer.stride[0]), (0, layer.padding[0]), (1, layer.dilation[0])
    else:
        kernel, stride, padding, dilation = layer.kernel_size, layer.stride, layer.padding, layer.dilation
    return F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)


def patch_order(layer: nn.Module, reduction: int) -> torch.Tensor:
    """Index of each ``weight_columns`` column (kernel position, channel) in ``input_patches``'
    reduction order (channel, kernel position)."""
    if isinstance(layer, nn.Linear):
        return torch.arange(reduction)
    channels = layer.in_channels
    positions = reduction // channels
    column = torch.arange(reduction)
    return (column % channels) * positions + column // channels


def weight_columns(weight: torch.Tensor) -> torch.Tensor:
    """A weight as (outputs x reduction), columns ordered (kernel position, input channel), so that
    consecutive columns are the channels one weight block spans."""
    if weight.dim() == 2:
        return weight
    return weight.movedim(1, -1).reshape(weight.shape[0], -1)


def weight_from_columns(columns: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of ``weight_columns``."""
    if len(shape) == 2:
        return columns.reshape(shape)
    moved = (shape[0], *shape[2:], shape[1])
    return columns.reshape(moved).movedim(-1, 1).contiguous()
