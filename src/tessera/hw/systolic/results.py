"""What costing a layer returns: counts that add across layers, and the ratios derived from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

# Fields that describe the array, not the work: equal in both operands of ``+``, never summed.
_ARRAY_FIELDS = ("pe_count", "clock_mhz")
# Not multiplied by ``scaled``: the copies of one layer are still one layer.
_PER_LAYER = (*_ARRAY_FIELDS, "layers")


@dataclass(frozen=True)
class SystolicCost:
    """The cost of one or more layers on one ``SystolicArray``.

    Counts (every field but ``pe_count`` and ``clock_mhz``) add across layers; ``utilization``,
    ``mapping_efficiency``, ``compute_utilization``, ``total_cycles``, ``energy_pj`` and
    ``latency_us`` are derived from them, so they stay right for a sum. Word counts are operand
    words (see ``SystolicArray.bits_per_word``); SRAM counts are SCALE-Sim's (accesses made by the
    array, each one word).
    """

    pe_count: int
    clock_mhz: float
    layers: int
    macs: int
    folds: int
    compute_cycles: int
    stall_cycles: int
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int
    dram_ifmap_reads_words: int
    dram_filter_reads_words: int
    dram_ofmap_writes_words: int
    mapped_pe_folds: int
    """Sum over folds of the PEs holding work (mapping efficiency's numerator)."""
    busy_fold_fraction: float
    """Sum over folds of MACs / (PEs x cycles of that fold) (compute utilization's numerator)."""
    mac_energy_pj: float
    sram_energy_pj: float
    dram_energy_pj: float

    def __add__(self, other: SystolicCost) -> SystolicCost:
        if not isinstance(other, SystolicCost):
            return NotImplemented
        for name in _ARRAY_FIELDS:
            if getattr(self, name) != getattr(other, name):
                raise ValueError(
                    f"cannot add costs of different arrays: {name} {getattr(self, name)} != "
                    f"{getattr(other, name)}"
                )
        summed = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in _ARRAY_FIELDS
        }
        return replace(self, **summed)

    def scaled(self, times: int) -> SystolicCost:
        """The cost of ``times`` identical, independent copies of this work (e.g. conv groups)."""
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, got {times!r}")
        if times == 1:
            return self
        return replace(
            self, **{f.name: getattr(self, f.name) * times for f in fields(self) if f.name not in _PER_LAYER}
        )

    @property
    def total_cycles(self) -> int:
        """Compute plus stall cycles (SCALE-Sim's "Total Cycles" column)."""
        return self.compute_cycles + self.stall_cycles

    @property
    def latency_us(self) -> float:
        """``total_cycles`` at ``clock_mhz``, in microseconds."""
        return self.total_cycles / self.clock_mhz

    @property
    def utilization(self) -> float:
        """MACs / (PEs x total cycles), a fraction (SCALE-Sim's "Overall Util %" / 100)."""
        return self.macs / (self.pe_count * self.total_cycles)

    @property
    def mapping_efficiency(self) -> float:
        """Mean over folds of the fraction of PEs mapped (SCALE-Sim's "Mapping Efficiency %" / 100)."""
        return self.mapped_pe_folds / (self.pe_count * self.folds)

    @property
    def compute_utilization(self) -> float:
        """Mean over folds of MACs / (PEs x fold cycles) (SCALE-Sim's "Compute Util %" / 100)."""
        return self.busy_fold_fraction / self.folds

    @property
    def energy_pj(self) -> float:
        """MAC + SRAM + DRAM energy, in pJ (a model: see ``tessera.hw.systolic.energy``)."""
        return self.mac_energy_pj + self.sram_energy_pj + self.dram_energy_pj

    @property
    def dram_words(self) -> int:
        """DRAM words read and written, all operands."""
        return self.dram_ifmap_reads_words + self.dram_filter_reads_words + self.dram_ofmap_writes_words

    def to_dict(self) -> dict[str, float | int]:
        """Every field and derived quantity, by name (one row of a table)."""
        row: dict[str, float | int] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in (
            "total_cycles",
            "latency_us",
            "utilization",
            "mapping_efficiency",
            "compute_utilization",
            "energy_pj",
            "dram_words",
        ):
            row[name] = getattr(self, name)
        return row


def total(costs: Iterable[SystolicCost]) -> SystolicCost:
    """The sum of one or more costs on the same array."""
    costs = list(costs)
    if not costs:
        raise ValueError("total() needs at least one cost")
    out = costs[0]
    for cost in costs[1:]:
        out = out + cost
    return out
