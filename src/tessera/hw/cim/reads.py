"""The noise-free moments of every analog read of a layer: one matrix product per row tile.

A read of row tile ``t`` in phase ``p`` sums the driven cells' currents on each column, so its mean
and variance are ``drive @ moments`` over the tile's rows (``moments``: each cell's read mean in
µA, then, with cycle-to-cycle noise, its read variance in µA², as extra columns). Two structures of
the binary mappings halve that work without changing the result:

- one-hot row pairs (XNOR, four-cell): each input drives exactly one of rows ``2i`` and ``2i + 1``,
  so ``drive @ M = sum_i M[2i + 1] + b @ (M[2i] - M[2i + 1])`` with ``b`` the drive of the even rows;
- complementary phases (single cell): the second phase drives exactly the rows the first leaves
  idle, so its reads are the tile's column sums minus the first phase's.

Tiles are multiplied one at a time on their own rows, so a short last tile costs only its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tessera.hw.cim.mapping import Mapping


@dataclass(frozen=True)
class _Tile:
    """One moment's share of a row tile: the matrix the reduced drive multiplies, a constant row
    added to the product (one-hot pairs) and the tile's column sums (complementary phases)."""

    matrix: torch.Tensor
    offset: torch.Tensor | None
    total: torch.Tensor | None


class TileReads:
    """Read moments of a layer's input vectors from its mapping's ``read_drive``, tile by tile.

    Each of ``moments`` is (physical rows, C) in float32, one value per cell (e.g. read means in
    µA, read variances in µA²); ``tile_rows`` physical rows make a row tile.
    """

    def __init__(self, moments: list[torch.Tensor], tile_rows: int, mapping: Mapping) -> None:
        rows = moments[0].shape[0]
        self.pairs = mapping.one_hot_row_pairs
        self.complementary = mapping.complementary_phases
        if self.pairs and (rows % 2 or tile_rows % 2):
            raise ValueError(f"mapping {mapping.name!r} needs an even number of rows per tile and in all")
        starts = range(0, rows, tile_rows)
        per_input = 2 if self.pairs else 1  # physical rows per entry of the reduced drive
        self.bounds = [(start // per_input, min(start + tile_rows, rows) // per_input) for start in starts]
        self.tiles = [
            [self._tile(matrix[start : start + tile_rows]) for start in starts] for matrix in moments
        ]

    def _tile(self, block: torch.Tensor) -> _Tile:
        total = block.sum(dim=0) if self.complementary else None
        if self.pairs:
            return _Tile((block[0::2] - block[1::2]).contiguous(), block[1::2].sum(dim=0), total)
        return _Tile(block.contiguous(), None, total)

    def __call__(self, drive: torch.Tensor, phases: int) -> list[torch.Tensor]:
        """Each moment's sum over every read, (tiles, phases, B, C), for the mapping's
        ``read_drive`` (phases or 1, B, reduced rows) of a batch of B input vectors."""
        self._check(drive, phases)
        flat = drive.reshape(-1, drive.shape[-1])
        batch = drive.shape[1]
        inputs = [flat[:, start:stop].contiguous() for start, stop in self.bounds]
        return [self._products(inputs, phases, batch, tiles) for tiles in self.tiles]

    def driven_rows(self, drive: torch.Tensor, phases: int) -> torch.Tensor:
        """Physical rows each read phase drives, (phases, B), from the same ``read_drive``."""
        self._check(drive, phases)
        if self.pairs:  # one row of every pair
            return torch.full((phases, drive.shape[1]), float(drive.shape[2]))
        first = drive.sum(dim=2)
        return torch.cat([first, drive.shape[2] - first]) if self.complementary else first

    def _check(self, drive: torch.Tensor, phases: int) -> None:
        expected = 1 if self.complementary else phases
        if self.complementary and phases != 2:
            raise ValueError(f"complementary phases come in twos, got {phases} phases")
        rows = self.bounds[-1][1]
        if drive.dim() != 3 or drive.shape[0] != expected or drive.shape[2] != rows:
            raise ValueError(f"read drive must be ({expected}, batch, {rows}), got {tuple(drive.shape)}")

    def _products(
        self, inputs: list[torch.Tensor], phases: int, batch: int, tiles: list[_Tile]
    ) -> torch.Tensor:
        out = torch.empty(len(tiles), phases, batch, tiles[0].matrix.shape[1])
        computed = 1 if self.complementary else phases
        for index, (rows, tile) in enumerate(zip(inputs, tiles, strict=True)):
            target = out[index, :computed].view(-1, out.shape[-1])
            torch.mm(rows, tile.matrix, out=target)
            if tile.offset is not None:
                target.add_(tile.offset)
            if tile.total is not None:
                torch.sub(tile.total, out[index, 0], out=out[index, 1])
        return out
