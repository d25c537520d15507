"""Fake-quantized layers: weights quantized once, inputs quantized on the fly.

Blocks run along the GEMM reduction dimension for both operands: the input features of a
linear layer, the input channels of a convolution (its weights are blocked along their input
channel axis at every kernel position, matching the activations' channel blocks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tessera.formats import quantize

SUPPORTED = {nn.Linear: "linear", nn.Conv1d: "conv1d", nn.Conv2d: "conv2d"}


def layer_kind(module: nn.Module) -> str | None:
    """'linear', 'conv1d', 'conv2d' for supported layers (exact types), else None."""
    return SUPPORTED.get(type(module))


WEIGHT_AXIS = 1  # input features of a linear weight, input channels of a convolution weight


def input_axis(kind: str) -> int:
    """The input axis blocks run along: features last (linear) or channels (conv, NC...)."""
    return -1 if kind == "linear" else 1


class QuantizedLayer(nn.Module):
    """A linear or convolution layer computing with quantized weights and (optionally) inputs.

    ``weight`` holds the quantized weights (float tensor on the format's grid); the original
    module is kept, unregistered, so ``restore`` can put it back. ``input_scale`` (SmoothQuant)
    divides the inputs per channel before they are quantized; the weights were multiplied by it.
    """

    def __init__(
        self,
        original: nn.Module,
        name: str,
        weight: torch.Tensor,
        weight_format: str | None,
        input_format: str | None,
        input_scale: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.kind = layer_kind(original)
        if self.kind is None:
            raise TypeError(f"{type(original).__name__} is not a supported layer")
        self.__dict__["original"] = original
        self.name = name
        self.weight_format = weight_format
        self.input_format = input_format
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = (
            None
            if original.bias is None
            else nn.Parameter(original.bias.detach().clone(), requires_grad=False)
        )
        self.register_buffer("input_scale", input_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_scale is not None:
            shape = [1] * x.dim()
            shape[input_axis(self.kind) % x.dim()] = -1
            x = x / self.input_scale.reshape(shape)
        if self.input_format is not None:
            x = quantize(x, self.input_format, axis=input_axis(self.kind))
        if self.kind == "linear":
            return F.linear(x, self.weight, self.bias)
        conv = self.original
        conv_fn = F.conv1d if self.kind == "conv1d" else F.conv2d
        if conv.padding_mode != "zeros":
            x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
            return conv_fn(x, self.weight, self.bias, conv.stride, 0, conv.dilation, conv.groups)
        return conv_fn(x, self.weight, self.bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def extra_repr(self) -> str:
        return f"{self.name}: {self.kind}, weights={self.weight_format}, inputs={self.input_format}"
