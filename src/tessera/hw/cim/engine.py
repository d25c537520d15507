"""One layer's integer matrix-vector products on RRAM crossbars, digital (exact) or analog.

The mapped weight matrix occupies ``row_factor * in`` physical rows and ``planes * out`` columns (two
per output for differential planes). Rows are split into row tiles of ``crossbar.rows``: each tile's
column signal is read (and digitized) on its own and the tiles' partial sums are added digitally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tessera.hw.cim.analog import C2C_SAMPLING, adc_codes_, ir_drop_loss, rectified_moments
from tessera.hw.cim.device import Crossbar
from tessera.hw.cim.mapping import Mapping
from tessera.hw.cim.reads import TileReads

CHUNK_ELEMENTS = 1 << 24
"""Input vectors are processed in chunks of about this many column signals (bounds memory)."""


@dataclass(frozen=True)
class Footprint:
    """Where a layer lives: physical rows and columns, row and column tiles, crossbars, ADC reads."""

    physical_rows: int
    physical_cols: int
    row_tiles: int
    col_tiles: int
    phases: int
    adc_reads_per_vector: int

    @property
    def crossbars(self) -> int:
        return self.row_tiles * self.col_tiles


class CrossbarLayer:
    """An integer weight matrix (out, in) programmed on crossbars with a mapping.

    Device-to-device variability is drawn once here from ``generator``; cycle-to-cycle noise at each
    ``forward`` from the same generator. ``adc_range`` (low, high) in µA is set from the crossbar's
    ADC mode, or by ``widen_adc_range`` on calibration inputs in ``calibrated`` mode.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        mapping: Mapping,
        crossbar: Crossbar,
        generator: torch.Generator | None = None,
        c2c_sampling: str = "column",
    ) -> None:
        if weight.dim() != 2:
            raise ValueError(f"weight must be (out, in), got shape {tuple(weight.shape)}")
        if c2c_sampling not in C2C_SAMPLING:
            raise ValueError(f"c2c_sampling {c2c_sampling!r} is not one of {', '.join(C2C_SAMPLING)}")
        if mapping.row_factor == 2 and crossbar.rows % 2:
            raise ValueError(f"Crossbar.rows must be even for mapping {mapping.name!r} (rows come in pairs)")
        if mapping.differential and crossbar.cols % 2:
            raise ValueError(f"Crossbar.cols must be even for mapping {mapping.name!r} (column pairs)")
        mapping.check_weights(weight)
        self.mapping, self.crossbar, self.c2c_sampling = mapping, crossbar, c2c_sampling
        self.weight = weight.detach().to(torch.float64)
        self.out_features, self.in_features = weight.shape
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        planes = mapping.weight_planes(weight.detach().long(), crossbar.cell_bits)
        self.weight_coefs = torch.tensor([p.coef for p in planes], dtype=torch.float64)
        self.max_level = mapping.max_level(crossbar.cell_bits)
        self.physical_rows = planes[0].plus.shape[0]
        self.row_tiles = math.ceil(self.physical_rows / crossbar.rows)
        plus = torch.cat([p.plus for p in planes], dim=1)
        minus = torch.cat([p.minus for p in planes], dim=1) if mapping.differential else None
        self.levels = plus if minus is None else plus - minus
        # float32 sums of integer levels are exact below 2**24
        exact_dtype = torch.float32 if self.physical_rows * self.max_level < 1 << 24 else torch.float64
        self.levels_exact = self.levels.to(exact_dtype)
        self._program(plus, minus)
        self.adc_range = self._default_adc_range()
        self._noise: torch.Tensor | None = None

    @property
    def footprint(self) -> Footprint:
        columns = self.levels.shape[1] * (2 if self.mapping.differential else 1)
        phases = len(self.mapping.input_coefs(torch.zeros(1, 1)))
        return Footprint(
            physical_rows=self.physical_rows,
            physical_cols=columns,
            row_tiles=self.row_tiles,
            col_tiles=math.ceil(columns / self.crossbar.cols),
            phases=phases,
            adc_reads_per_vector=phases * self.row_tiles * self.levels.shape[1],
        )

    @property
    def tile_rows(self) -> int:
        """Rows per row tile as simulated: the crossbar's rows, or fewer if one tile holds them all."""
        return min(self.crossbar.rows, self.physical_rows)

    def _tiles(self, matrix: torch.Tensor) -> torch.Tensor:
        """(R, C) -> (T, tile_rows, C), zero-padded rows."""
        padded = torch.zeros(self.row_tiles * self.tile_rows, matrix.shape[1], dtype=matrix.dtype)
        padded[: matrix.shape[0]] = matrix
        return padded.view(self.row_tiles, self.tile_rows, -1)

    def _program(self, plus: torch.Tensor, minus: torch.Tensor | None) -> None:
        """Cell currents after programming (µA, d2d variability drawn) and their read moments."""
        xbar = self.crossbar
        cell_mu = []
        for levels in (plus, minus) if minus is not None else (plus,):
            nominal = levels.to(torch.float32) / self.max_level * xbar.delta_ua + xbar.i_hrs_ua
            if xbar.sigma_d2d_ua:
                nominal = nominal + xbar.sigma_d2d_ua * torch.randn(nominal.shape, generator=self.generator)
            cell_mu.append(nominal)
        moments = [rectified_moments(mu, xbar.sigma_c2c_ua) for mu in cell_mu]
        self.cell_mu = [self._tiles(mu) for mu in cell_mu]
        self.cell_mean = [self._tiles(mean) for mean, _ in moments]
        if minus is None:
            self.signal_mean, signal_var = moments[0]
        else:
            self.signal_mean = moments[0][0] - moments[1][0]
            signal_var = moments[0][1] + moments[1][1]
        moments = [self.signal_mean, signal_var] if xbar.sigma_c2c_ua else [self.signal_mean]
        self.reads = TileReads(moments, self.tile_rows, self.mapping)

    def _default_adc_range(self) -> tuple[float, float]:
        xbar = self.crossbar
        if xbar.adc_mode == "symmetric":
            return -xbar.rows * xbar.delta_ua, xbar.rows * xbar.delta_ua
        if xbar.adc_mode == "positive":
            return 0.0, xbar.rows * xbar.i_lrs_ua
        return math.inf, -math.inf  # calibrated: an empty range until widen_adc_range sees inputs

    @property
    def needs_calibration(self) -> bool:
        return self.crossbar.adc_bits is not None and self.adc_range[0] > self.adc_range[1]

    def forward(self, x: torch.Tensor, digital: bool | None = None) -> torch.Tensor:
        """Outputs (batch, out) for integer inputs (batch, in): exact (float64) if ``digital``, else
        through the analog read path (float32); ``None``: digital when the crossbar is ideal."""
        self.mapping.check_inputs(x)
        exact = digital or (digital is None and self.crossbar.ideal)
        per_vector = len(self.mapping.input_coefs(x)) * self.row_tiles * self.levels.shape[1]
        chunk = max(1, CHUNK_ELEMENTS // per_vector)
        if len(x) <= chunk:
            return self._products(x, exact)
        return torch.cat(
            [self._products(x[start : start + chunk], exact) for start in range(0, len(x), chunk)]
        )

    def _products(self, x: torch.Tensor, exact: bool) -> torch.Tensor:
        coefs = self.mapping.input_coefs(x)
        dtype = torch.float64 if exact else torch.float32
        # (P, B, Q * out) summed levels per read phase and weight plane
        if exact:
            signals = self.mapping.physical_drive(x).to(self.levels_exact.dtype) @ self.levels_exact
        else:
            signals = self._analog_signals(x, len(coefs))
        signals = signals.to(dtype).view(len(coefs), x.shape[0], len(self.weight_coefs), self.out_features)
        input_coefs = torch.tensor(coefs, dtype=dtype)
        y = torch.einsum("p,q,pbqo->bo", input_coefs, self.weight_coefs.to(dtype), signals)
        return y + self.mapping.correction(x, self.weight).to(dtype)

    def _analog_signals(self, x: torch.Tensor, phases: int) -> torch.Tensor:
        """Per-plane signals in level units (P, B, Q * out), summed over row tiles after the ADC."""
        xbar = self.crossbar
        drive = self.mapping.read_drive(x)
        current = self._read(x, drive, phases)  # (T, PB, C), µA
        to_levels = self.max_level / xbar.delta_ua
        if xbar.adc_bits is not None:
            if self.needs_calibration:
                raise RuntimeError("the ADC range is calibrated per layer: map with calibration inputs first")
            low = self.adc_range[0]
            step = adc_codes_(current, *self.adc_range, xbar.adc_bits)
            levels = current.sum(dim=0).mul_(step * to_levels).add_(len(current) * low * to_levels)
        else:
            levels = current.sum(dim=0).mul_(to_levels)
        if not self.mapping.differential:  # subtract the HRS current of the driven rows
            driven = self.reads.driven_rows(drive, phases)
            levels.sub_(driven.view(-1, 1).mul_(xbar.i_hrs_ua * to_levels))
        return levels.view(phases, x.shape[0], -1)

    def _tile_drive(self, drive: torch.Tensor) -> torch.Tensor:
        """(P, B, R) row drives -> (T, P * B, tile_rows), zero-padded rows, tile-major in memory."""
        flat = drive.reshape(-1, drive.shape[-1])
        tiled = torch.zeros(self.row_tiles, flat.shape[0], self.tile_rows)
        for tile in range(self.row_tiles):
            rows = flat[:, tile * self.tile_rows : (tile + 1) * self.tile_rows]
            tiled[tile, :, : rows.shape[1]] = rows
        return tiled

    def _read(self, x: torch.Tensor, drive: torch.Tensor, phases: int) -> torch.Tensor:
        """Column currents (or column-pair differences) in µA, (T, PB, C), with noise and IR drop;
        ``drive`` is the mapping's ``read_drive(x)``."""
        xbar = self.crossbar
        if xbar.sigma_c2c_ua and self.c2c_sampling == "cell":
            current = self._sampled_cells(self._tile_drive(self.mapping.physical_drive(x)))
        else:
            moments = [m.flatten(1, 2) for m in self.reads(drive, phases)]  # (T, PB, C): mean, variance
            current = moments[0]
            if xbar.sigma_c2c_ua:
                current.addcmul_(moments[1].sqrt_(), self._standard_normal(current.shape))
        if xbar.wire_resistance_ohm:
            tiled = self._tile_drive(self.mapping.physical_drive(x))
            ohm, volts = xbar.wire_resistance_ohm, xbar.v_read
            losses = [ir_drop_loss(tiled, mean, ohm, volts) for mean in self.cell_mean]
            current = current - (losses[0] if len(losses) == 1 else losses[0] - losses[1])
        return current

    def _standard_normal(self, shape: torch.Size) -> torch.Tensor:
        """Fresh standard normal samples, drawn into a buffer kept between reads (in-place sampling
        is faster than allocating)."""
        if self._noise is None or self._noise.shape != shape:
            self._noise = torch.empty(shape)
        return self._noise.normal_(generator=self.generator)

    def _sampled_cells(self, tiled: torch.Tensor) -> torch.Tensor:
        """Cycle-to-cycle noise drawn for every cell and read (slow; for validation)."""
        sigma = self.crossbar.sigma_c2c_ua
        sums = []
        for mu in self.cell_mu:
            noise = torch.randn((tiled.shape[1], *mu.shape), generator=self.generator)  # (PB, T, rows, C)
            cells = (mu + sigma * noise).clamp(min=0).transpose(0, 1)  # (T, PB, rows, C)
            sums.append(torch.einsum("tnr,tnrc->tnc", tiled, cells))
        return sums[0] if len(sums) == 1 else sums[0] - sums[1]

    def reset_adc_range(self) -> None:
        """Forget the ADC range before ``widen_adc_range`` calls (calibrated mode)."""
        self.adc_range = (math.inf, -math.inf)

    def widen_adc_range(self, x: torch.Tensor) -> None:
        """Widen ``adc_range`` to cover the noise-free column signals of integer inputs ``x``."""
        self.mapping.check_inputs(x)
        current = self.reads(self.mapping.read_drive(x), len(self.mapping.input_coefs(x)))[0]
        low, high = self.adc_range
        self.adc_range = (min(low, float(current.min())), max(high, float(current.max())))
