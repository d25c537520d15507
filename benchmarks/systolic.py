"""Benchmark Tessera's systolic model against SCALE-Sim v3 on the same (layer, configuration) pairs.

For each pair prints one JSON line with the wall time, in seconds per (layer, configuration), of

- ``model_s``: Tessera's closed form, one call (``tessera.hw.systolic.cost``), median of repeats;
- ``batch_s``: the vectorized closed form (``cost_batch``) on every pair 20 000 times in one call,
  total time / evaluations: its throughput on these shapes;
- ``trace_s``: Tessera's request-by-request replay (``fidelity="trace"``), one call;
- ``scalesim_s``: SCALE-Sim v3 on the same layer and config, measured in this run in a fresh process
  of the interpreter given by ``--scalesim-python`` (one with ``scalesim==3.0.0`` installed; the time
  is ``run_scale()`` alone, not the interpreter start). Without it, ``scalesim_s`` is null and
  ``scalesim`` says why;

and the speedups ``scalesim_s / model_s`` (and for ``batch_s``, ``trace_s``), with whether Tessera's
numbers equal SCALE-Sim's (``trace``: every reported count; ``model``: cycles and SRAM accesses).
A last line times a design-space labelling job: ``--dse-workloads`` random GEMMs on every
configuration of a 1024-MAC family (array shapes x dataflows x buffer sizes), closed form, CALC and
USER mode. Example::

    python benchmarks/systolic.py --scalesim-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import tessera
from tessera.hw.systolic import SystolicArray, cost, cost_batch, ifmap_footprint_words, trace_cost
from tessera.hw.systolic.api import ifmap_tap_words
from tessera.workload.shapes import ConvShape, GemmShape

# (name, layer, configuration); convolutions are given padded, as SCALE-Sim's topology files are
PAIRS: list[tuple[str, GemmShape | ConvShape, SystolicArray]] = [
    ("inc5b_3x3", ConvShape(7, 7, 3, 3, 192, 384), SystolicArray(32, 32, "ws", 64, 64, 64)),
    ("gemm_200x150x300", GemmShape(200, 150, 300), SystolicArray(16, 16, "os", 8, 8, 8, "user", 4)),
    ("r18_l3_downsample", ConvShape(27, 27, 1, 1, 128, 256, 2, 2), SystolicArray(32, 32, "is", 64, 64, 64)),
    ("gemm_64x96x40", GemmShape(64, 96, 40), SystolicArray(8, 32, "ws", 4, 4, 4, "user", 2)),
    ("r18_l2_3x3_s2", ConvShape(57, 57, 3, 3, 64, 128, 2, 2), SystolicArray(128, 128, "ws", 256, 256, 256)),
]

_SCALESIM_DRIVER = """
import contextlib, io, json, sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
with contextlib.redirect_stdout(io.StringIO()):
    sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
                   input_type_gemm=gemm == "gemm")
    start = time.perf_counter()
    sim.run_scale(top_path=out)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scalesim-python", type=Path, help="interpreter with scalesim==3.0.0 installed")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per Tessera path (default 7)")
    parser.add_argument(
        "--dse-workloads", type=int, default=100_000, help="GEMMs in the labelling job (default 100000)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after one warm-up call, in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scalesim_config(arch: SystolicArray, name: str) -> str:
    """A SCALE-Sim 3.0.0 config for ``arch`` (every bandwidth field set to the same value)."""
    bw = arch.dram_bandwidth_words_per_cycle or 10
    mode = arch.bandwidth_mode.upper()
    return (
        f"[general]\nrun_name = {name}\n\n[architecture_presets]\nArrayHeight: {arch.rows}\n"
        f"ArrayWidth: {arch.cols}\nIfmapSramSzkB: {arch.ifmap_sram_kb:g}\n"
        f"FilterSramSzkB: {arch.filter_sram_kb:g}\n"
        f"OfmapSramSzkB: {arch.ofmap_sram_kb:g}\nIfmapOffset: 0\nFilterOffset: 10000000\n"
        f"OfmapOffset: 20000000\nBandwidth: {bw}\nDataflow: {arch.dataflow}\nMemoryBanks: 1\n"
        "ReadRequestBuffer: 512\nWriteRequestBuffer: 512\n\n[layout]\nIfmapCustomLayout: False\n"
        f"IfmapSRAMBankBandwidth: {bw}\nIfmapSRAMBankNum: 1\nIfmapSRAMBankPort: 2\n"
        f"FilterCustomLayout: False\nFilterSRAMBankBandwidth: {bw}\nFilterSRAMBankNum: 1\n"
        "FilterSRAMBankPort: 2\n\n[sparsity]\nSparsitySupport: false\nSparseRep: ellpack_block\n"
        "OptimizedMapping: false\nBlockSize: 8\nRandomNumberGeneratorSeed: 40\n\n[run_presets]\n"
        f"InterfaceBandwidth: {mode}\nUseRamulatorTrace: False\n"
    )


def scalesim_topology(layer: GemmShape | ConvShape) -> tuple[str, str]:
    """(kind, topology CSV) in SCALE-Sim's format: a trailing comma on every row."""
    if isinstance(layer, GemmShape):
        return "gemm", f"Layer, M, N, K,\nL0, {layer.m}, {layer.n}, {layer.k},\n"
    if layer.stride_h != layer.stride_w or layer.groups != 1 or layer.batch != 1:
        raise ValueError("SCALE-Sim's topology has one stride, no groups and no batch")
    row = [layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels, layer.filters]
    header = (
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
    )
    return "conv", header + "\nL0, " + ", ".join(str(v) for v in [*row, layer.stride_h]) + ",\n"


def run_scalesim(python: Path, layer: GemmShape | ConvShape, arch: SystolicArray) -> dict[str, float]:
    """SCALE-Sim's run time and report for one pair, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kind, topology = scalesim_topology(layer)
        (root / "scale.cfg").write_text(scalesim_config(arch, "bench"))
        (root / "topology.csv").write_text(topology)
        (root / "layout.csv").write_text("Layer name,\n")
        (root / "driver.py").write_text(_SCALESIM_DRIVER)
        args = [str(root / n) for n in ("driver.py", "scale.cfg", "topology.csv", "layout.csv")]
        done = subprocess.run(
            [str(python), *args, str(root / "out"), kind], capture_output=True, text=True, check=True
        )
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        compute = (root / "out" / "bench" / "COMPUTE_REPORT.csv").read_text().splitlines()[1].split(",")
        detail = (
            (root / "out" / "bench" / "DETAILED_ACCESS_REPORT.csv").read_text().splitlines()[1].split(",")
        )
    return {
        "seconds": seconds,
        "total_cycles": int(compute[2]),
        "stall_cycles": int(compute[3]),
        "sram": (int(float(detail[3])), int(float(detail[6])), int(float(detail[9]))),
        "dram": (int(float(detail[12])), int(float(detail[15])), int(float(detail[18]))),
    }


def pairs_batch(copies: int):
    """Every pair ``copies`` times in one vectorized call (a 1-D batch, pairs side by side)."""
    gemms = [layer if isinstance(layer, GemmShape) else layer.gemm() for _, layer, _ in PAIRS]
    footprint = [
        g.m * g.k if isinstance(layer, GemmShape) else ifmap_footprint_words(layer)
        for g, (_, layer, _) in zip(gemms, PAIRS)
    ]
    taps = [
        g.m * g.k if isinstance(layer, GemmShape) else ifmap_tap_words(layer)
        for g, (_, layer, _) in zip(gemms, PAIRS)
    ]
    archs = [arch for _, _, arch in PAIRS]

    def tile(values: list) -> np.ndarray:
        return np.tile(np.asarray(values), copies)

    return cost_batch(
        tile([g.m for g in gemms]),
        tile([g.n for g in gemms]),
        tile([g.k for g in gemms]),
        count=tile([g.count for g in gemms]),
        ifmap_words=tile(footprint),
        tap_words=tile(taps),
        rows=tile([a.rows for a in archs]),
        cols=tile([a.cols for a in archs]),
        dataflow=tile([a.dataflow for a in archs]),
        ifmap_sram_kb=tile([a.ifmap_sram_kb for a in archs]),
        filter_sram_kb=tile([a.filter_sram_kb for a in archs]),
        ofmap_sram_kb=tile([a.ofmap_sram_kb for a in archs]),
        bandwidth_mode=tile([a.bandwidth_mode for a in archs]),
        dram_bandwidth_words_per_cycle=tile([a.dram_bandwidth_words_per_cycle or 1 for a in archs]),
    )


def scalesim_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('scalesim'))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def dse_job(workloads: int, seed: int) -> dict[str, object]:
    """Label ``workloads`` random GEMMs on every configuration of a 1024-MAC family."""
    rng = np.random.default_rng(seed)
    m, n, k = (np.exp(rng.uniform(0, np.log(4096), workloads)).astype(np.int64) + 1 for _ in range(3))
    shapes = [(8, 128), (16, 64), (32, 32), (64, 16), (128, 8)]
    configs = [(r, c, df, kb) for r, c in shapes for df in ("os", "ws", "is") for kb in (64, 256, 1024)]
    col = np.asarray(configs, dtype=object).T
    rows, cols = (np.asarray(col[i], dtype=np.int64)[:, None] for i in (0, 1))
    dataflow = np.asarray(col[2], dtype=str)[:, None]
    kb = np.asarray(col[3], dtype=float)[:, None]
    out: dict[str, object] = {"workloads": workloads, "configurations": len(configs)}
    for mode in ("calc", "user"):
        start = time.perf_counter()
        grid = cost_batch(
            m[None, :],
            n[None, :],
            k[None, :],
            rows=rows,
            cols=cols,
            dataflow=dataflow,
            ifmap_sram_kb=kb,
            filter_sram_kb=kb,
            ofmap_sram_kb=kb,
            bandwidth_mode=mode,
            dram_bandwidth_words_per_cycle=16,
        )
        best = np.argmin(grid.total_cycles, axis=0)  # the label of each workload
        seconds = time.perf_counter() - start
        out[f"{mode}_seconds"] = round(seconds, 2)
        out[f"{mode}_us_per_evaluation"] = round(seconds / grid.macs.size * 1e6, 3)
        out[f"{mode}_distinct_labels"] = len(np.unique(best))
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common = {
        "units": "seconds per (layer, configuration)",
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tessera": tessera.__version__,
    }
    scalesim_note = None
    if args.scalesim_python is None:
        scalesim_note = "not measured: pass --scalesim-python with an interpreter that has scalesim==3.0.0"
    elif not args.scalesim_python.exists():
        scalesim_note = f"not measured: {args.scalesim_python} does not exist"
    else:
        common["scalesim"] = scalesim_version(args.scalesim_python)

    def emit(**row: object) -> None:
        print(json.dumps({"benchmark": "systolic", **common, **row}), flush=True)

    batch_s = median_seconds(lambda: pairs_batch(20_000), max(1, args.repeats // 2)) / (20_000 * len(PAIRS))
    first = pairs_batch(1)
    for i, (name, layer, arch) in enumerate(PAIRS):
        model = cost(layer, arch)
        assert first.item(i) == model  # the vectorized path computes the same numbers
        model_s = median_seconds(lambda layer=layer, arch=arch: cost(layer, arch), args.repeats)
        trace_s = median_seconds(lambda layer=layer, arch=arch: trace_cost(arch, layer), 1)
        config = f"{arch.rows}x{arch.cols} {arch.dataflow} {arch.ifmap_sram_kb:g}kB {arch.bandwidth_mode}"
        if arch.dram_bandwidth_words_per_cycle:
            config += f" bw{arch.dram_bandwidth_words_per_cycle}"
        row: dict[str, object] = {
            "layer": name,
            "config": config,
            "compute_cycles": model.compute_cycles,
            "model_s": model_s,
            "batch_s": batch_s,
            "trace_s": round(trace_s, 4),
        }
        if scalesim_note:
            row.update(scalesim_s=None, scalesim=scalesim_note)
        else:
            ref = run_scalesim(args.scalesim_python, layer, arch)
            replay, _ = trace_cost(arch, layer)
            sram = (model.ifmap_sram_reads, model.filter_sram_reads, model.ofmap_sram_writes)
            dram = (
                replay.dram_ifmap_reads_words,
                replay.dram_filter_reads_words,
                replay.dram_ofmap_writes_words,
            )
            cycles = (replay.total_cycles, replay.stall_cycles)
            row.update(
                scalesim_s=round(ref["seconds"], 3),
                speedup_model=round(ref["seconds"] / model_s),
                speedup_batch=round(ref["seconds"] / batch_s),
                speedup_trace=round(ref["seconds"] / trace_s, 1),
                model_cycles_and_sram_equal=model.compute_cycles == ref["total_cycles"] - ref["stall_cycles"]
                and sram == ref["sram"],
                trace_equal=cycles == (ref["total_cycles"], ref["stall_cycles"]) and dram == ref["dram"],
            )
        emit(**row)
    emit(layer="dse_labelling", units="seconds per job", **dse_job(args.dse_workloads, args.seed))


if __name__ == "__main__":
    sys.exit(main())
