"""An RRAM crossbar: array size, cell currents and their variability, the column ADC, wire resistance.

Currents are read currents in µA at the read voltage ``v_read`` (V). A cell programmed to level
``g`` in [0, 1] (``g = level / (2**cell_bits - 1)``) draws ``g * (i_lrs - i_hrs) + i_hrs`` µA; device-to-
device variability adds a Gaussian of ``sigma_d2d_ua`` once per programming, cycle-to-cycle
variability one of ``sigma_c2c_ua`` at every read; the sum is clipped at 0 µA.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

ADC_MODES = ("symmetric", "positive", "calibrated")
"""How the ADC's input range is set: ``symmetric``: ±rows·(i_lrs − i_hrs); ``positive``:
[0, rows·i_lrs]; ``calibrated``: the range of the layer's noise-free signals on calibration data."""

MAX_ADC_BITS = 16


@dataclass(frozen=True)
class Crossbar:
    """One ``rows x cols`` RRAM crossbar with an ADC per column (or per differential column pair).

    - ``cell_bits``: bits one cell stores (levels ``2**cell_bits``), used by integer mappings;
      binary and ternary mappings program two levels (HRS, LRS).
    - ``i_hrs_ua``, ``i_lrs_ua``: read currents of the high- and low-resistance states (µA).
    - ``sigma_d2d_ua``, ``sigma_c2c_ua``: standard deviations of device-to-device and
      cycle-to-cycle current variability (µA).
    - ``adc_bits``: ADC resolution, ``None`` for an ideal readout; ``adc_mode``: see ``ADC_MODES``.
    - ``wire_resistance_ohm``: resistance of each column wire segment between two rows (Ω);
      ``None`` ignores IR drop. ``v_read``: read voltage (V), used with it.
    """

    rows: int = 256
    cols: int = 256
    cell_bits: int = 1
    i_hrs_ua: float = 5.0
    i_lrs_ua: float = 50.0
    sigma_d2d_ua: float = 0.0
    sigma_c2c_ua: float = 0.0
    adc_bits: int | None = None
    adc_mode: str = "symmetric"
    wire_resistance_ohm: float | None = None
    v_read: float = 0.2

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "cell_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Crossbar.{name} must be a positive integer, got {value!r}")
        if self.cell_bits > 8:
            raise ValueError(f"Crossbar.cell_bits must be at most 8, got {self.cell_bits}")
        if not self.i_hrs_ua >= 0:
            raise ValueError(f"Crossbar.i_hrs_ua must be >= 0 µA, got {self.i_hrs_ua!r}")
        if not self.i_lrs_ua > self.i_hrs_ua:
            raise ValueError(
                f"Crossbar.i_lrs_ua ({self.i_lrs_ua!r} µA) must exceed i_hrs_ua ({self.i_hrs_ua!r} µA): "
                "the low-resistance state conducts more"
            )
        for name in ("sigma_d2d_ua", "sigma_c2c_ua"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Crossbar.{name} must be >= 0 µA, got {getattr(self, name)!r}")
        if self.adc_bits is not None and (
            not isinstance(self.adc_bits, int)
            or isinstance(self.adc_bits, bool)
            or not 1 <= self.adc_bits <= MAX_ADC_BITS
        ):
            raise ValueError(
                f"Crossbar.adc_bits must be an integer in 1..{MAX_ADC_BITS} or None (ideal), "
                f"got {self.adc_bits!r}"
            )
        if self.adc_mode not in ADC_MODES:
            raise ValueError(f"Crossbar.adc_mode {self.adc_mode!r} is not one of {', '.join(ADC_MODES)}")
        if self.wire_resistance_ohm is not None and not self.wire_resistance_ohm >= 0:
            raise ValueError(
                f"Crossbar.wire_resistance_ohm must be >= 0 Ω or None, got {self.wire_resistance_ohm!r}"
            )
        if not self.v_read > 0:
            raise ValueError(f"Crossbar.v_read must be > 0 V, got {self.v_read!r}")

    @property
    def delta_ua(self) -> float:
        """Current step between HRS and LRS (µA)."""
        return self.i_lrs_ua - self.i_hrs_ua

    @property
    def max_level(self) -> int:
        """The highest programmable level, ``2**cell_bits - 1``."""
        return (1 << self.cell_bits) - 1

    @property
    def ideal(self) -> bool:
        """True when reads are exact: no variability, no ADC, no IR drop."""
        return (
            self.sigma_d2d_ua == 0
            and self.sigma_c2c_ua == 0
            and self.adc_bits is None
            and not self.wire_resistance_ohm
        )

    def with_(self, **changes: object) -> Crossbar:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


PRESETS: dict[str, Crossbar] = {
    "default": Crossbar(),
    "hrs5-lrs50": Crossbar(i_hrs_ua=5.0, i_lrs_ua=50.0),
    "hrs5-lrs30": Crossbar(i_hrs_ua=5.0, i_lrs_ua=30.0),
    "hrs0.5-lrs4": Crossbar(i_hrs_ua=0.5, i_lrs_ua=4.0),
}
"""Named crossbars: 256 x 256 with the three HRS/LRS current pairs of CIM-Explorer (µA at 0.2 V;
5/50 µA is about 40 kΩ / 4 kΩ), ideal ADC and no variability; change fields with ``with_``."""


def preset(name: str) -> Crossbar:
    """The named crossbar of ``PRESETS``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown crossbar preset {name!r}; valid: {', '.join(PRESETS)}") from None
