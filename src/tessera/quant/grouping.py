"""Quantizing a weight one column at a time while keeping the format's real block layout.

Weights are handled as (outputs x reduction) matrices whose columns run (kernel position,
input channel) — see ``capture.weight_columns`` — so a format's block is a run of consecutive
columns within one kernel position. Sequential methods (GPTQ, error diffusion) fix a block's
scale when they reach its first column, from the weights as they are at that moment.
"""

from __future__ import annotations

import torch

from tessera.formats import BlockFormat, Format, get_format, quantize
from tessera.formats.scaling import choose_scales, dequantize_, scale_and_round, tensor_scale_of


def column_groups(n_columns: int, channels: int, fmt: Format) -> torch.Tensor:
    """Block id of every column: blocks split each run of ``channels`` columns (one kernel
    position); scalar formats put every column in its own group."""
    index = torch.arange(n_columns)
    if not isinstance(fmt, BlockFormat):
        return index
    block = fmt.block_size or channels
    position, channel = index // channels, index % channels
    blocks_per_position = -(-channels // block)
    return position * blocks_per_position + channel // block


class ColumnQuantizer:
    """Rounds single columns with the scales their block got when it was started."""

    def __init__(self, fmt: str, weight: torch.Tensor, channels: int) -> None:
        self.fmt = get_format(fmt)
        self.groups = column_groups(weight.shape[1], channels, self.fmt)
        self.blocked = isinstance(self.fmt, BlockFormat)
        self.tensor_scale = tensor_scale_of(weight, self.fmt, None)[1] if self.blocked else None
        self._scales: dict[int, object] = {}

    def started(self, column: int) -> bool:
        return not self.blocked or int(self.groups[column]) in self._scales

    def group_columns(self, column: int) -> torch.Tensor:
        return (self.groups == self.groups[column]).nonzero().flatten()

    def start(self, column: int, block_values: torch.Tensor) -> None:
        """Fix the scales of ``column``'s block from its current values (outputs x block columns)."""
        self._scales[int(self.groups[column])] = choose_scales(block_values, self.fmt, self.tensor_scale)

    def __call__(self, column: int, values: torch.Tensor) -> torch.Tensor:
        """``values`` (one per output) rounded onto the format with the block's fixed scales."""
        if not self.blocked:
            return quantize(values, self.fmt)
        scales = self._scales[int(self.groups[column])]
        rows = values.reshape(-1, 1)
        elements = scale_and_round(rows, scales, self.fmt, "nearest_even", None)
        return dequantize_(elements, scales).reshape(values.shape)
