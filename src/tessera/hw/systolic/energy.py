"""Energy per MAC and per memory access: a published-figure model, not a measurement.

Every default comes from one source, M. Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, Figure 1.1.9 (45 nm CMOS, 0.9 V):

- integer multiply: 0.2 pJ at 8 bits, 3.1 pJ at 32 bits (about quadratic in the width, so the model
  is ``0.2 pJ * (bits / 8) ** 2``); a 32-bit integer add (the accumulator): 0.1 pJ;
- SRAM read of 64 bits: 10 pJ from an 8 kB array, 20 pJ from 32 kB, 100 pJ from 1 MB (the model
  interpolates pJ per bit linearly in log(size) - log(energy) between those points and extends the
  end segments);
- DRAM access of 64 bits: 1.3 to 2.6 nJ (the model uses the low end, 1300 / 64 = 20.3 pJ per bit).

What the model leaves out: PE registers and wires, leakage, technology scaling, and the extra cost of
float multipliers (Horowitz lists 1.1 pJ for a 16-bit float multiply, where the integer model gives
0.8 pJ). Replace any figure by building an ``EnergyTable`` with other values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class EnergyTable:
    """Energies in pJ. ``sram_points`` pairs an SRAM size in kB with pJ per 64-bit access."""

    mult_8bit_pj: float = 0.2
    accumulate_pj: float = 0.1
    sram_points: tuple[tuple[float, float], ...] = ((8.0, 10.0), (32.0, 20.0), (1024.0, 100.0))
    dram_pj_per_bit: float = 1300.0 / 64

    def __post_init__(self) -> None:
        sizes = [kb for kb, _ in self.sram_points]
        if len(sizes) < 2 or sizes != sorted(sizes) or len(set(sizes)) != len(sizes):
            raise ValueError("EnergyTable.sram_points needs two or more (kB, pJ) pairs with rising kB")
        values = [self.mult_8bit_pj, self.accumulate_pj, self.dram_pj_per_bit]
        values += [v for point in self.sram_points for v in point]
        if min(values) <= 0:
            raise ValueError("EnergyTable energies and sizes must be positive")

    def mac_pj(self, element_bits: float) -> float:
        """One multiply (``element_bits`` wide) plus one accumulate, in pJ."""
        return self.mult_8bit_pj * (element_bits / 8) ** 2 + self.accumulate_pj

    def sram_pj_per_bit(self, kb: float | np.ndarray) -> float | np.ndarray:
        """pJ per bit read or written in an SRAM of ``kb`` kB (log-log interpolation)."""
        if np.ndim(kb) == 0:
            return _sram_pj_per_bit(self, float(kb))
        return self._sram_pj_per_bit(kb)

    def _sram_pj_per_bit(self, kb: float | np.ndarray) -> float | np.ndarray:
        log_kb = np.log(np.asarray([p[0] for p in self.sram_points]))
        log_pj = np.log(np.asarray([p[1] / 64 for p in self.sram_points]))
        x = np.log(np.asarray(kb, dtype=float))
        slope_lo = (log_pj[1] - log_pj[0]) / (log_kb[1] - log_kb[0])
        slope_hi = (log_pj[-1] - log_pj[-2]) / (log_kb[-1] - log_kb[-2])
        y = np.interp(x, log_kb, log_pj)
        y = np.where(x < log_kb[0], log_pj[0] + slope_lo * (x - log_kb[0]), y)
        y = np.where(x > log_kb[-1], log_pj[-1] + slope_hi * (x - log_kb[-1]), y)
        out = np.exp(y)
        return float(out) if out.ndim == 0 else out


@lru_cache(maxsize=1024)
def _sram_pj_per_bit(table: EnergyTable, kb: float) -> float:
    """``EnergyTable.sram_pj_per_bit`` of one size, remembered (the scalar model asks often)."""
    return float(table._sram_pj_per_bit(kb))
