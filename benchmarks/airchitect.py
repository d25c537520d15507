"""Benchmark AIRCHITECT-style learned design-space exploration on the three case studies.

For each case prints JSON lines:

- ``step: "label"``: generating and labelling ``--samples`` workloads by exhaustive search with the
  vectorized closed form (``seconds``, ``us_per_evaluation``: per (workload, allowed configuration)
  pair), beside the scalar reference search (``tessera.hw.systolic.cost`` per pair) timed in the same
  run on ``--reference-workloads`` of them (``reference_us_per_evaluation``, ``speedup``);
- ``step: "evaluate"``, one line per method: test accuracy, ``performance_fraction`` (geomean over
  test workloads of best cycles / cycles of the predicted configuration), ``worst_fraction``, fit and
  predict seconds, for the embedding + MLP classifier (``mlp``), the classifier's top-k checked with
  the cost model (``mlp_top3``), and the baselines: ``majority`` class (of the workload's budget),
  ``knn`` (k nearest neighbours on log2 inputs) and ``gbt`` (gradient-boosted trees on log2 inputs),
  all on the same seeded split.

Every line carries its units, the machine and the versions. Example::

    python benchmarks/airchitect.py --samples 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import version

import numpy as np

import tessera
from tessera.dse.airchitect import (
    GradientBoostedTrees,
    MajorityClass,
    NearestNeighbours,
    TrainConfig,
    compare,
    generate,
    get_space,
    label_reference,
)

UNITS = "seconds; accuracy and performance fractions are fractions of 1; cycles are array cycles"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000, help="workloads per case (default 100000)")
    parser.add_argument("--cases", default="1,2,3", help="comma-separated case studies (default 1,2,3)")
    parser.add_argument("--seed", type=int, default=0, help="sampling, split and training seed")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--gbt-max-iter", type=int, default=100, help="boosting rounds of the gbt baseline")
    parser.add_argument("--knn", type=int, default=5, help="neighbours of the knn baseline")
    parser.add_argument("--reference-workloads", type=int, default=200)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


def reference_us_per_evaluation(case: int, workloads: int, seed: int) -> float:
    """Microseconds per (workload, allowed configuration) of the scalar reference search."""
    space = get_space(case)
    x = space.check(space.sample(workloads, seed))
    start = time.perf_counter()
    label_reference(space, x)
    return (time.perf_counter() - start) / int(space.feasible(x).sum()) * 1e6


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common = {
        "units": UNITS,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": version("torch"),
        "scikit-learn": version("scikit-learn"),
        "tessera": tessera.__version__,
        "samples": args.samples,
        "seed": args.seed,
    }

    def emit(**row: object) -> None:
        print(json.dumps({"benchmark": "airchitect", **common, **row}), flush=True)

    def note(message: str) -> None:
        if not args.quiet:
            print(f"... {message}", file=sys.stderr, flush=True)

    for case in (int(c) for c in args.cases.split(",")):
        space = get_space(case)
        note(f"case {case}: labelling {args.samples} workloads")
        start = time.perf_counter()
        data = generate(case, args.samples, args.seed)
        seconds = time.perf_counter() - start
        evaluations = int(space.feasible(dict(data.inputs)).sum())
        fast_us = seconds / evaluations * 1e6
        ref_us = reference_us_per_evaluation(case, args.reference_workloads, args.seed + 1)
        emit(
            case=case,
            step="label",
            space=space.name,
            workloads=len(data),
            configurations=space.num_configs,
            evaluations=evaluations,
            seconds=round(seconds, 2),
            us_per_evaluation=round(fast_us, 3),
            reference_us_per_evaluation=round(ref_us, 1),
            speedup=round(ref_us / fast_us),
            distinct_labels=len(np.unique(data.labels)),
        )
        train_set, test_set = data.split(args.test_fraction, args.seed)
        baselines = (
            MajorityClass(),
            NearestNeighbours(args.knn),
            GradientBoostedTrees(args.gbt_max_iter, seed=args.seed),
        )
        results = compare(
            train_set,
            test_set,
            TrainConfig(epochs=args.epochs, seed=args.seed),
            baselines=baselines,
            top_k=(3,),
            progress=lambda method, case=case: note(f"case {case}: {method}"),
        )
        for result in results:
            row = result.to_dict()
            for key in ("accuracy", "performance_fraction", "worst_fraction"):
                row[key] = round(row[key], 4)
            for key in ("fit_seconds", "predict_seconds"):
                row[key] = round(row[key], 2)
            emit(
                case=case,
                step="evaluate",
                train_workloads=len(train_set),
                test_workloads=len(test_set),
                **row,
            )


if __name__ == "__main__":
    sys.exit(main())
