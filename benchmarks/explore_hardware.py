"""Benchmark the batched hardware objectives of ``tessera explore`` against costing one design at a
time.

For each model, costs every systolic design of a grid (rows x cols x dataflow x SRAM) with the
batched path (``tessera.dse.explore.hardware.cost_designs``: one vectorized closed-form call per
operand format) and with the baseline measured in the same run: one ``simulate_workload`` call per
design (the scalar closed form, layer by layer). Checks that both give the same latency and energy
and prints one JSON line per model with ``batched_s``, ``baseline_s`` (best of ``--repeats``) and
``speedup``. Example::

    python benchmarks/explore_hardware.py --models resnet20 vgg11-cifar
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from functools import partial

from tessera.dse.explore.hardware import cost_designs, layer_formats
from tessera.dse.explore.space import SystolicSpace
from tessera.hw.workload_cost import simulate_workload
from tessera.quant import QuantConfig
from tessera.workload.models import load_named_workload

SPACE = SystolicSpace(
    rows=(8, 16, 32, 64, 128),
    cols=(8, 16, 32, 64, 128),
    dataflow=("os", "ws", "is"),
    sram_kb=(64.0, 256.0),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["digits-cnn", "resnet20", "vgg11-cifar"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None, help="data folder (default: $TESSERA_DATA_DIR)")
    return parser.parse_args(argv)


def best_time(repeats: int, run):
    """Best wall time of ``run()`` over ``repeats`` (s), and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def one_by_one(workload, designs) -> list:
    """The baseline: each design's total cost from its own scalar closed-form call."""
    return [simulate_workload(workload, SPACE.array(d, "int8_channel")).total for _, d in designs]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    designs = [(SPACE, design) for design in SPACE.designs()]
    config = QuantConfig(weights="int8_channel", activations="int8_channel")
    for name in args.models:
        workload = load_named_workload(name, args.data_dir)
        formats = layer_formats(workload, config)
        batched_s, batched = best_time(args.repeats, partial(cost_designs, workload, formats, designs))
        baseline_s, baseline = best_time(args.repeats, partial(one_by_one, workload, designs))
        for fast, slow in zip(batched, baseline):
            assert math.isclose(fast.metrics["latency_us"], slow.latency_us, rel_tol=1e-12)
            assert math.isclose(fast.metrics["energy_pj"], slow.energy_pj, rel_tol=1e-12)
        print(
            json.dumps(
                {
                    "benchmark": "explore_hardware",
                    "model": name,
                    "designs": len(designs),
                    "layers": len(formats),
                    "batched_s": round(batched_s, 4),
                    "baseline": "simulate_workload per design (scalar closed form), same run",
                    "baseline_s": round(baseline_s, 4),
                    "speedup": round(baseline_s / batched_s, 2),
                    "machine": platform.machine(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
