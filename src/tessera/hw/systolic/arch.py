"""The systolic-array architecture: array shape, dataflow, SRAM buffers, DRAM bandwidth, number format."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from tessera.formats import get_format
from tessera.hw.systolic.energy import EnergyTable

DATAFLOWS = ("os", "ws", "is")
"""Output stationary, weight stationary, input stationary (SCALE-Sim's names)."""

BANDWIDTH_MODES = ("calc", "user")
"""SCALE-Sim's ``InterfaceBandwidth``: ``calc`` sizes DRAM bandwidth so reads never stall; ``user``
uses ``dram_bandwidth_words_per_cycle``."""

MIN_BUFFER_WORDS = 100
"""SCALE-Sim tracks each buffer in sets of 1/100 of its words; below 100 words its CALC-mode sets are
empty and nothing is ever evicted, so Tessera requires at least this many words per buffer."""


@dataclass(frozen=True)
class SystolicArray:
    """A ``rows x cols`` array of multiply-accumulate units fed by three double-buffered SRAMs.

    - ``dataflow``: ``os``, ``ws`` or ``is`` (what stays in the PEs: outputs, weights or inputs).
    - ``ifmap_sram_kb``, ``filter_sram_kb``, ``ofmap_sram_kb``: buffer capacities in kB (1024 bytes);
      each holds ``floor(kB * 8192 / bits_per_word)`` words and must hold at least one
      ``rows x cols`` tile and ``MIN_BUFFER_WORDS`` words.
    - ``bandwidth_mode``: ``calc`` (SCALE-Sim's CALC: bandwidth is whatever avoids read stalls; the
      output buffer drains ``cols`` words per cycle) or ``user`` (every operand moves at most
      ``dram_bandwidth_words_per_cycle`` words per cycle, an integer as in SCALE-Sim).
    - ``element_format``: the number format of every operand word, by name (``int8``, ``fp16``,
      ``mxfp4``...). Its storage bits set the word size (block formats include their shared scale);
      its element bits set the multiplier energy. SCALE-Sim always uses 1-byte words (``int8``).
    - ``clock_mhz``: clock frequency in MHz, for latencies in microseconds.
    - ``energy``: per-access and per-MAC energies (a model, see ``EnergyTable``).
    """

    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    ifmap_sram_kb: float = 64.0
    filter_sram_kb: float = 64.0
    ofmap_sram_kb: float = 64.0
    bandwidth_mode: str = "calc"
    dram_bandwidth_words_per_cycle: int | None = None
    element_format: str = "int8"
    clock_mhz: float = 1000.0
    energy: EnergyTable = field(default_factory=EnergyTable)

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SystolicArray.{name} must be a positive integer, got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise ValueError(
                f"SystolicArray.dataflow {self.dataflow!r} is not one of {', '.join(DATAFLOWS)} "
                "(output, weight, input stationary)"
            )
        if self.bandwidth_mode not in BANDWIDTH_MODES:
            raise ValueError(
                f"SystolicArray.bandwidth_mode {self.bandwidth_mode!r} is not one of "
                f"{', '.join(BANDWIDTH_MODES)}"
            )
        bw = self.dram_bandwidth_words_per_cycle
        if self.bandwidth_mode == "user":
            if not isinstance(bw, int) or isinstance(bw, bool) or bw < 1:
                raise ValueError(
                    "SystolicArray.dram_bandwidth_words_per_cycle must be a positive integer in "
                    f"bandwidth_mode='user', got {bw!r}"
                )
        elif bw is not None:
            raise ValueError(
                "SystolicArray.dram_bandwidth_words_per_cycle is computed in bandwidth_mode='calc'; "
                f"leave it None (got {bw!r}) or use bandwidth_mode='user'"
            )
        if not (isinstance(self.clock_mhz, (int, float)) and self.clock_mhz > 0):
            raise ValueError(f"SystolicArray.clock_mhz must be positive, got {self.clock_mhz!r}")
        bits = self.bits_per_word  # validates the format name
        tile = self.rows * self.cols
        for name in ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb"):
            kb = getattr(self, name)
            if not isinstance(kb, (int, float)) or isinstance(kb, bool) or not kb > 0:
                raise ValueError(f"SystolicArray.{name} must be a positive number of kB, got {kb!r}")
            words = buffer_words(kb, bits)
            if words < max(tile, MIN_BUFFER_WORDS):
                raise ValueError(
                    f"SystolicArray.{name}={kb} holds {words} words of {bits:g} bits, fewer than one "
                    f"{self.rows}x{self.cols} tile ({tile} words) or the {MIN_BUFFER_WORDS}-word minimum"
                )

    @property
    def pe_count(self) -> int:
        """Multiply-accumulate units."""
        return self.rows * self.cols

    @cached_property
    def bits_per_word(self) -> float:
        """Storage bits of one operand word: the format's ``bits_per_element`` (block formats, scale
        included) or ``bits``."""
        try:
            fmt = get_format(self.element_format)
        except (ValueError, TypeError) as err:
            raise ValueError(f"SystolicArray.element_format: {err}") from None
        return float(getattr(fmt, "bits_per_element", fmt.bits))

    @cached_property
    def element_bits(self) -> int:
        """Bits of one element as the multiplier sees it (no shared scale), sign included."""
        return get_format(self.element_format).bits

    @property
    def word_bytes(self) -> float:
        """Bytes per operand word (``bits_per_word / 8``; fractional for block formats)."""
        return self.bits_per_word / 8

    @cached_property
    def ifmap_sram_words(self) -> int:
        return buffer_words(self.ifmap_sram_kb, self.bits_per_word)

    @cached_property
    def filter_sram_words(self) -> int:
        return buffer_words(self.filter_sram_kb, self.bits_per_word)

    @cached_property
    def ofmap_sram_words(self) -> int:
        return buffer_words(self.ofmap_sram_kb, self.bits_per_word)

    @property
    def ofmap_drain_words_per_cycle(self) -> int:
        """Words per cycle the output buffer drains to DRAM (SCALE-Sim: ``cols`` in CALC mode)."""
        if self.bandwidth_mode == "calc":
            return self.cols
        return self.dram_bandwidth_words_per_cycle  # type: ignore[return-value]


def buffer_words(kb: float, bits_per_word: float) -> int:
    """Whole words of ``bits_per_word`` bits in ``kb`` kB (1 kB = 1024 bytes)."""
    return math.floor(kb * 8192 / bits_per_word)
