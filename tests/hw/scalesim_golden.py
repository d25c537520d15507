"""Read the SCALE-Sim v3 golden runs in ``tests/data/scalesim`` as Tessera architectures and layers."""

from __future__ import annotations

import configparser
import csv
from dataclasses import dataclass
from pathlib import Path

from tessera.hw.systolic import SystolicArray
from tessera.workload.shapes import ConvShape, GemmShape

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "data" / "scalesim"

# Tolerances of the closed form against SCALE-Sim, by metric (cycles and access counts are exact):
OFMAP_WRITES_REL = 0.005
"""DRAM output writes: SCALE-Sim counts the empty slots of a half-filled line it pushes out to drain
(observed at most 0.25 % on the golden rows); the model counts outputs written."""
USER_TOTAL_CYCLES_REL = 0.10
"""USER-mode total cycles where SCALE-Sim's prefetch ring does not wrap (its refill count equals the
model's): the model's stalls assume the array asks for data at an even pace, SCALE-Sim's come from a
per-cycle replay (observed at most 8.2 % on the golden rows)."""
USER_TOTAL_CYCLES_REL_TINY = 0.20
"""The same on tiny configurations (1-16 PEs a side, 0.25-2 kB buffers), where outputs come in bursts
that the even-pace assumption smooths over (observed at most 15.2 % on 212 random GEMMs)."""
CONV_IFMAP_REL_OS_IS = 0.10
"""CALC-mode DRAM ifmap reads of a convolution whose input footprint exceeds the window, OS and IS:
the model's one footprint per pass (observed -8.4 % to -1.5 %)."""
CONV_IFMAP_FACTOR_WS = 2.0
"""The same in WS: one footprint per pass if a tap's input slab fits the window, else every im2col
word (observed 0.58x to 1.73x)."""
RATIO_REL = 1e-9
"""Utilization and efficiency percentages: SCALE-Sim averages over folds in another order."""


@dataclass(frozen=True)
class GoldenRow:
    """One layer of one SCALE-Sim run: its inputs in Tessera's terms and the reported numbers."""

    run: str
    layer_name: str
    arch: SystolicArray
    layer: GemmShape | ConvShape
    total_cycles: int
    stall_cycles: int
    utilization_pct: float
    mapping_efficiency_pct: float
    compute_utilization_pct: float
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int
    dram_ifmap_reads_words: int
    dram_filter_reads_words: int
    dram_ofmap_writes_words: int

    @property
    def id(self) -> str:
        return f"{self.run}/{self.layer_name}"


def read_arch(cfg_path: Path) -> SystolicArray:
    """The SystolicArray a SCALE-Sim config describes (1-byte words: ``int8``)."""
    cfg = configparser.ConfigParser()
    cfg.read(cfg_path)
    arch = cfg["architecture_presets"]
    user = cfg["run_presets"]["InterfaceBandwidth"].strip() == "USER"
    bandwidths = {
        int(arch["Bandwidth"]),
        int(cfg["layout"]["IfmapSRAMBankBandwidth"]),
        int(cfg["layout"]["FilterSRAMBankBandwidth"]),
    }
    assert len(bandwidths) == 1, f"{cfg_path}: one bandwidth for all operands expected"
    return SystolicArray(
        rows=int(arch["ArrayHeight"]),
        cols=int(arch["ArrayWidth"]),
        dataflow=arch["Dataflow"].strip(),
        ifmap_sram_kb=int(arch["IfmapSramSzkB"]),
        filter_sram_kb=int(arch["FilterSramSzkB"]),
        ofmap_sram_kb=int(arch["OfmapSramSzkB"]),
        bandwidth_mode="user" if user else "calc",
        dram_bandwidth_words_per_cycle=bandwidths.pop() if user else None,
        element_format="int8",
    )


def read_layers(topology: Path) -> list[tuple[str, GemmShape | ConvShape]]:
    """A SCALE-Sim topology CSV (GEMM ``M, N, K`` rows or convolution rows) as Tessera shapes."""
    rows = [[v.strip() for v in row if v.strip()] for row in csv.reader(topology.read_text().splitlines())]
    header, body = rows[0], [r for r in rows[1:] if r]
    if header[1:] == ["M", "N", "K"]:
        return [(r[0], GemmShape(m=int(r[1]), n=int(r[2]), k=int(r[3]))) for r in body]
    layers: list[tuple[str, GemmShape | ConvShape]] = []
    for r in body:
        h, w, fh, fw, c, f, s = (int(v) for v in r[1:8])
        layers.append((r[0], ConvShape(h, w, fh, fw, c, f, stride_h=s, stride_w=s)))
    return layers


def _report(path: Path) -> list[list[str]]:
    return [[v.strip() for v in row] for row in csv.reader(path.read_text().splitlines()[1:]) if row]


def load_goldens(root: Path = GOLDEN_DIR) -> list[GoldenRow]:
    """Every layer of every run folder under ``root``."""
    out = []
    for run_dir in sorted(p for p in root.iterdir() if (p / "COMPUTE_REPORT.csv").exists()):
        arch = read_arch(run_dir / "scale.cfg")
        layers = read_layers(run_dir / "topology.csv")
        compute = _report(run_dir / "COMPUTE_REPORT.csv")
        detail = _report(run_dir / "DETAILED_ACCESS_REPORT.csv")
        assert len(compute) == len(detail) == len(layers), f"{run_dir}: report rows != layers"
        for (name, layer), c, d in zip(layers, compute, detail):
            out.append(
                GoldenRow(
                    run=run_dir.name,
                    layer_name=name,
                    arch=arch,
                    layer=layer,
                    total_cycles=int(c[2]),
                    stall_cycles=int(c[3]),
                    utilization_pct=float(c[4]),
                    mapping_efficiency_pct=float(c[5]),
                    compute_utilization_pct=float(c[6]),
                    ifmap_sram_reads=int(float(d[3])),
                    filter_sram_reads=int(float(d[6])),
                    ofmap_sram_writes=int(float(d[9])),
                    dram_ifmap_reads_words=int(float(d[12])),
                    dram_filter_reads_words=int(float(d[15])),
                    dram_ofmap_writes_words=int(float(d[18])),
                )
            )
    return out
