"""Benchmark cross-layer (CLSA-CIM) scheduling time and the schedules it finds.

For each model prints one JSON line per schedule (layer-by-layer and cross-layer, without and with
weight duplication) at one output row per set, on twice the fewest tiles that hold the model:
``schedule_s`` (best of ``--repeats``, including the dependency derivation), ``check_s`` (the
independent checker), ``latency_us``, ``speedup`` and ``utilization_gain`` over layer-by-layer
without duplication measured in the same run. The issue's target: ResNet-56 scheduled in under
10 s (``target_s``). Example::

    python benchmarks/cim_schedule.py --models resnet56 tiny-yolo-v2
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from tessera.hw.cim.latency import CIMArch
from tessera.hw.cim.schedule import MODES, minimum_tiles, schedule
from tessera.hw.cim.schedule_check import check_schedule
from tessera.workload.models import load_named_workload

TARGET_S = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["resnet20", "resnet56", "vgg11-cifar", "tiny-yolo-v2"]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None, help="data folder (default: $TESSERA_DATA_DIR)")
    return parser.parse_args(argv)


def timed(repeats: int, run, *args):
    """Best wall time of ``run(*args)`` over ``repeats`` (s), and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    arch = CIMArch()
    for name in args.models:
        workload = load_named_workload(name, args.data_dir)
        tiles = 2 * minimum_tiles(workload, arch)
        baseline = None
        for duplicate in (False, True):
            for mode in MODES:
                seconds, result = timed(args.repeats, schedule, workload, arch, tiles, mode, duplicate)
                check_s, _ = timed(1, check_schedule, result, workload)
                baseline = baseline or result
                print(
                    json.dumps(
                        {
                            "benchmark": "cim_schedule",
                            "model": name,
                            "mode": mode,
                            "duplicate": duplicate,
                            "tiles": tiles,
                            "crossbars_per_tile": arch.crossbars_per_tile,
                            "sets": len(result.slots),
                            "schedule_s": round(seconds, 4),
                            "check_s": round(check_s, 4),
                            "target_s": TARGET_S,
                            "latency_us": round(result.latency_us, 1),
                            "baseline": "layer-by-layer without duplication, same run",
                            "speedup": round(baseline.latency_us / result.latency_us, 3),
                            "utilization": round(result.utilization, 5),
                            "utilization_gain": round(result.utilization / baseline.utilization, 3),
                            "crossbars_used": result.crossbars,
                            "machine": platform.machine(),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
