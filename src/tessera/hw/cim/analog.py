"""The analog read path: cell currents with variability, IR drop on the column wire, the ADC.

Cycle-to-cycle noise is per cell and per read. Summing it cell by cell costs a random number per
cell per input vector; instead, by default, each column current is drawn from a Gaussian with the
exact mean and variance of the sum of the driven cells' clipped currents (each cell's current
``max(0, mu + sigma * z)`` is a rectified Gaussian whose moments are known in closed form). The sum
over tens to hundreds of independent cells is Gaussian to a very good approximation (central limit
theorem); ``c2c_sampling="cell"`` draws every cell instead, for validation.
"""

from __future__ import annotations

import math

import torch

C2C_SAMPLING = ("column", "cell")


def rectified_moments(mu: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``max(0, mu + sigma * z)``, ``z`` standard normal (elementwise)."""
    if sigma == 0:
        return mu.clamp(min=0), torch.zeros_like(mu)
    a = mu / sigma
    cdf = 0.5 * torch.erfc(-a / math.sqrt(2.0))
    pdf = torch.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    mean = mu * cdf + sigma * pdf
    second = (mu * mu + sigma * sigma) * cdf + mu * sigma * pdf
    return mean, (second - mean * mean).clamp(min=0)


def ir_drop_loss(drive: torch.Tensor, currents: torch.Tensor, ohm: float, v_read: float) -> torch.Tensor:
    """Column current lost to the wire (µA), first order: (T, n, R) drives on (T, R, C) cell currents.

    Row ``R - 1`` is next to the sense amplifier; the segment below row ``k`` carries the current
    ``c_k`` of rows ``0..k``, so row ``i`` sits at ``V_i = r * sum_{k >= i} c_k`` and its cell loses
    the fraction ``V_i / v_read`` of its current: in total ``r / v_read * sum_k c_k**2``.
    """
    scale = ohm * 1e-6 / v_read  # Ω · µA = µV; per volt of read voltage
    tiles, n, rows = drive.shape
    columns = currents.shape[-1]
    chunk = max(1, int(2e7 // max(1, rows * columns * tiles)))
    losses = []
    for start in range(0, n, chunk):
        part = drive[:, start : start + chunk, :, None] * currents[:, None]  # (T, n', R, C)
        losses.append(scale * part.cumsum(dim=2).square().sum(dim=2))
    return torch.cat(losses, dim=1)


def adc_codes_(signal: torch.Tensor, low: float, high: float, bits: int) -> float:
    """Uniform ADC with clipping, in place: ``signal`` becomes output codes ``0 .. 2**bits - 1`` of
    the range ``low`` to ``high`` (the signal's units); returns the step (signal units per code), so
    code ``k`` stands for ``low + k * step``."""
    if high <= low:
        signal.zero_()
        return 0.0
    step = (high - low) / ((1 << bits) - 1)
    signal.sub_(low).div_(step).round_().clamp_(0, (1 << bits) - 1)
    return step


def adc_(signal: torch.Tensor, low: float, high: float, bits: int) -> torch.Tensor:
    """Uniform ADC with clipping, in place: ``2**bits`` levels from ``low`` to ``high`` (the signal's
    units); returns ``signal``."""
    step = adc_codes_(signal, low, high, bits)
    return signal.mul_(step).add_(low)
