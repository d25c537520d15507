"""Calibration inputs and weights as GEMM operands: im2col columns in the order weight blocks use."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
