"""Regenerate the SCALE-Sim v3 golden reports in this folder.

Run with an interpreter that has ``scalesim==3.0.0`` installed (it needs numpy<2, pandas<2.3,
numba<0.61), one configuration at a time::

    python generate.py                 # every run (about 11 minutes on one core)
    python generate.py --only user_    # the runs whose name contains "user_"
    python generate.py --list          # names and estimated simulated cycles

Each run writes ``<run>/scale.cfg``, ``<run>/topology.csv`` and the two reports the tests read,
``<run>/COMPUTE_REPORT.csv`` and ``<run>/DETAILED_ACCESS_REPORT.csv``; ``runs.csv`` records the
wall time of each run. This script does not import Tessera.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (M, N, K) for GEMM layers; (ifmap_h, ifmap_w, filter_h, filter_w, channels, filters, stride)
# for convolutions. Convolution inputs are given padded and trimmed to the rows and columns the
# filter reads, so that SCALE-Sim's output size ceil((H - R + S) / S) equals PyTorch's.
GEMMS = {
    "g_odd": (7, 13, 5),
    "g_small": (64, 96, 40),
    "g_mid": (200, 150, 300),
    "g_tall": (300, 24, 77),
}
CONVS = {
    "c_test": (7, 7, 3, 3, 192, 384, 1),  # SCALE-Sim's shipped test layer (Inception 5b 3x3)
    "r18_conv1": (229, 229, 7, 7, 3, 64, 2),  # ResNet-18 stem: 224 padded to 230, trimmed to 229
    "r18_l1": (58, 58, 3, 3, 64, 64, 1),  # layer1 3x3, 56 padded to 58
    "r18_l2_s2": (57, 57, 3, 3, 64, 128, 2),  # layer2 first 3x3 stride 2, 58 trimmed to 57
    "r18_l3": (16, 16, 3, 3, 256, 256, 1),  # layer3 3x3, 14 padded to 16
    "r18_l3_ds": (27, 27, 1, 1, 128, 256, 2),  # layer3 1x1 stride-2 downsample, 28 trimmed to 27
    "r18_l4_ds": (13, 13, 1, 1, 256, 512, 2),  # layer4 1x1 stride-2 downsample, 14 trimmed to 13
}
SMALL_GEMMS = ("g_odd", "g_small", "g_tall")


def _run(name, rows, cols, kb, dataflow, mode="CALC", bandwidth=10, gemms=(), convs=()):
    return {
        "name": name,
        "rows": rows,
        "cols": cols,
        "kb": kb,
        "dataflow": dataflow,
        "mode": mode,
        "bandwidth": bandwidth,
        "gemms": tuple(gemms),
        "convs": tuple(convs),
    }


def _runs() -> list[dict]:
    runs = []
    for df in ("os", "ws", "is"):
        runs += [
            _run(
                f"calc_32x32_{df}_64kB",
                32,
                32,
                (64, 64, 64),
                df,
                gemms=(*SMALL_GEMMS, "g_mid"),
                convs=("c_test", "r18_l3_ds", "r18_l4_ds") + (("r18_l2_s2",) if df == "os" else ()),
            ),
            _run(
                f"calc_16x16_{df}_8kB",
                16,
                16,
                (8, 8, 8),
                df,
                gemms=(*SMALL_GEMMS, "g_mid"),
                convs=("r18_l3_ds",),
            ),
            _run(
                f"calc_8x32_{df}_16kB",
                8,
                32,
                (16, 16, 16),
                df,
                gemms=SMALL_GEMMS,
                convs=("r18_l3_ds", "r18_l4_ds"),
            ),
            _run(f"calc_32x8_{df}_mixed", 32, 8, (4, 2, 8), df, gemms=(*SMALL_GEMMS, "g_mid")),
            _run(
                f"calc_128x128_{df}_256kB",
                128,
                128,
                (256, 256, 256),
                df,
                gemms=("g_mid",),
                convs=("c_test", "r18_l2_s2", "r18_l3", "r18_l4_ds")
                + (("r18_l1", "r18_conv1") if df != "is" else ()),
            ),
            _run(
                f"user_32x32_{df}_64kB_bw10",
                32,
                32,
                (64, 64, 64),
                df,
                "USER",
                10,
                gemms=("g_mid",),
                convs=("c_test",),
            ),
            _run(f"user_16x16_{df}_8kB_bw4", 16, 16, (8, 8, 8), df, "USER", 4, gemms=(*SMALL_GEMMS, "g_mid")),
            _run(
                f"user_128x128_{df}_256kB_bw16",
                128,
                128,
                (256, 256, 256),
                df,
                "USER",
                16,
                gemms=("g_mid",),
                convs=("c_test", "r18_l3", "r18_l4_ds"),
            ),
        ]
    runs += [
        _run(
            "user_8x32_ws_4kB_bw2", 8, 32, (4, 4, 4), "ws", "USER", 2, gemms=SMALL_GEMMS, convs=("r18_l3_ds",)
        ),
        _run(
            "user_32x8_os_4kB_bw2", 32, 8, (4, 4, 4), "os", "USER", 2, gemms=SMALL_GEMMS, convs=("r18_l3_ds",)
        ),
        _run("user_8x32_is_2kB_bw1", 8, 32, (2, 2, 2), "is", "USER", 1, gemms=SMALL_GEMMS),
    ]
    return runs


def _gemm_of(layer: str) -> tuple[int, int, int]:
    if layer in GEMMS:
        return GEMMS[layer]
    h, w, fh, fw, c, f, s = CONVS[layer]
    oh, ow = -(-(h - fh + s) // s), -(-(w - fw + s) // s)
    return oh * ow, f, fh * fw * c


def estimated_cycles(run: dict) -> int:
    """Stall-free cycles SCALE-Sim will simulate for ``run`` (its run time is about proportional)."""
    r, c, total = run["rows"], run["cols"], 0
    for layer in run["gemms"] + run["convs"]:
        m, n, k = _gemm_of(layer)
        sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[run["dataflow"]]
        skew = r + c + t - 2 + (r if run["dataflow"] != "os" else 0)
        total += -(-sr // r) * -(-sc // c) * skew
    return total


def config_text(run: dict, kind: str) -> str:
    """The SCALE-Sim config file of one run: every bandwidth field set to the same words per cycle."""
    ifmap_kb, filter_kb, ofmap_kb = run["kb"]
    bw = run["bandwidth"]
    return f"""[general]
run_name = {run["name"]}_{kind}

[architecture_presets]
ArrayHeight: {run["rows"]}
ArrayWidth: {run["cols"]}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bw}
Dataflow: {run["dataflow"]}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: {run["mode"]}
UseRamulatorTrace: False
"""


def topology_text(run: dict, kind: str) -> str:
    """SCALE-Sim topology CSV (its format: a trailing comma on every row)."""
    if kind == "gemm":
        rows = ["Layer, M, N, K,"] + [
            f"{n}, {m}, {nn}, {k}," for n, (m, nn, k) in ((name, GEMMS[name]) for name in run["gemms"])
        ]
    else:
        rows = [
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,"
        ]
        rows += [f"{name}, " + ", ".join(str(v) for v in CONVS[name]) + "," for name in run["convs"]]
    return "\n".join(rows) + "\n"


def simulate(run_dir: Path, kind: str) -> None:
    """Run SCALE-Sim in this process on ``run_dir``'s config and topology; keep two reports."""
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout.csv"
        layout.write_text("Layer name,\n")  # read but unused without custom layouts
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(
                save_disk_space=True,
                verbose=False,
                config=str(run_dir / "scale.cfg"),
                topology=str(run_dir / "topology.csv"),
                layout=str(layout),
                input_type_gemm=kind == "gemm",
            )
            sim.run_scale(top_path=tmp)
        (report_dir,) = [p for p in Path(tmp).iterdir() if p.is_dir()]
        for report in ("COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
            shutil.copy(report_dir / report, run_dir / report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the run folders")
    parser.add_argument("--only", default="", help="run only the runs whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the runs and exit")
    parser.add_argument("--simulate", nargs=2, metavar=("RUN_DIR", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.simulate:
        simulate(Path(args.simulate[0]), args.simulate[1])
        return
    runs = [r for r in _runs() if args.only in r["name"]]
    if args.list:
        for run in runs:
            print(f"{run['name']:32s} {estimated_cycles(run):>9d} cycles")
        print(f"{'total':32s} {sum(estimated_cycles(r) for r in runs):>9d} cycles")
        return
    log = args.out / "runs.csv"
    if not log.exists():
        log.write_text("run,seconds,estimated_cycles\n")
    for run in runs:
        for kind, layers in (("gemm", run["gemms"]), ("conv", run["convs"])):
            if not layers:
                continue
            run_dir = args.out / f"{run['name']}_{kind}"
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "scale.cfg").write_text(config_text(run, kind))
            (run_dir / "topology.csv").write_text(topology_text(run, kind))
            start = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--simulate", str(run_dir), kind], check=True)
            seconds = time.perf_counter() - start
            part = dict(run, gemms=layers if kind == "gemm" else (), convs=layers if kind == "conv" else ())
            with log.open("a") as f:
                f.write(f"{run_dir.name},{seconds:.1f},{estimated_cycles(part)}\n")
            print(f"{run_dir.name}: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
