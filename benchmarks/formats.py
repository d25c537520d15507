"""Benchmark fake quantization and encoding of block formats against a plain memory copy.

On a size x size float32 tensor (randn), measures the median wall time of

- ``copy``: ``buf.copy_(x)`` into a preallocated buffer, the baseline (one read, one write);
- ``quantize`` on the eager path, returning a new tensor (``path: eager``) and into a
  preallocated ``out`` (``path: eager_out``);
- ``quantize`` through ``compiled_quantizer`` into a preallocated ``out`` (``path: compiled``,
  the fastest path) and returning a new tensor (``path: compiled_alloc``), plus the one-off
  compilation as its own row (``op: compile``, in seconds; cold: inductor's on-disk cache is
  pointed at a fresh directory unless ``--reuse-compile-cache``) with a bit-for-bit check of
  the compiled result against the eager one;
- ``encode`` (packed bits, eager).

Every timed call is preceded by a copy timed the same way, so each row's ``ratio_to_copy``
divides medians measured interleaved, in the same run: robust to the machine speeding up or
slowing down between rows. ``baseline_copy_ms`` is that row's interleaved copy median. Prints
one JSON object per line. Example::

    python benchmarks/formats.py --size 4096 --repeats 15
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial

import torch

import tessera
from tessera.formats import compiled_quantizer

DEFAULT_FORMATS = ("mxfp4", "mxfp8_e4m3", "mxint8", "nvfp4")
PATHS = ("eager", "eager_out", "compiled", "compiled_alloc", "encode")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="the tensor is size x size (default 4096)")
    parser.add_argument("--repeats", type=int, default=11, help="timed calls per row (default 11)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    parser.add_argument("--formats", nargs="+", default=list(DEFAULT_FORMATS), help="formats to time")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS, help="paths to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse-compile-cache",
        action="store_true",
        help="keep inductor's on-disk cache (warm compile times)",
    )
    return parser.parse_args(argv)


def elapsed(fn: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_against_copy(
    fn: Callable[[], object], copy: Callable[[], object], repeats: int, warmup: int
) -> tuple[float, float]:
    """Medians (ms) of ``fn`` and of ``copy``, each call of ``fn`` preceded by one of ``copy``."""
    for _ in range(warmup):
        copy()
        fn()
    fn_times, copy_times = [], []
    for _ in range(repeats):
        copy_times.append(elapsed(copy))
        fn_times.append(elapsed(fn))
    return statistics.median(fn_times) * 1e3, statistics.median(copy_times) * 1e3


def operations(x: torch.Tensor, fmt: str, paths: list[str]) -> dict[str, Callable[[], object]]:
    """The timed call of each path, for one format (compiling the compiled path first)."""
    out = torch.empty_like(x)
    ops: dict[str, Callable[[], object]] = {
        "eager": lambda: tessera.quantize(x, fmt),
        "eager_out": lambda: tessera.quantize(x, fmt, out=out),
        "encode": lambda: tessera.encode(x, fmt),
    }
    if "compiled" in paths or "compiled_alloc" in paths:
        quantizer = compiled_quantizer(fmt)
        ops["compiled"] = lambda: quantizer(x, out=out)
        ops["compiled_alloc"] = lambda: quantizer(x)
    return {path: ops[path] for path in paths}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cache = None
    if not args.reuse_compile_cache:
        cache = tempfile.mkdtemp(prefix="tessera-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # read at each compilation
    try:
        run(args)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    x = torch.randn(args.size, args.size)
    buf = torch.empty_like(x)

    def copy() -> None:
        buf.copy_(x)

    common = {
        "shape": list(x.shape),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "repeats": args.repeats,
    }

    def emit(**row: object) -> None:
        print(json.dumps({"benchmark": "formats", **row, **common}), flush=True)

    copy_ms = time_against_copy(copy, copy, args.repeats, args.warmup)[0]
    emit(
        op="copy",
        path="baseline",
        format=None,
        median_ms=round(copy_ms, 3),
        ratio_to_copy=1.0,
        baseline_copy_ms=round(copy_ms, 3),
    )
    for fmt in args.formats:
        reference = tessera.quantize(x, fmt)
        if "compiled" in args.paths or "compiled_alloc" in args.paths:
            quantizer = compiled_quantizer(fmt)
            seconds = elapsed(partial(quantizer, x))  # the first call compiles
            exact = torch.equal(quantizer(x).view(torch.int32), reference.view(torch.int32))
            emit(
                op="compile",
                path="compiled",
                format=fmt,
                seconds=round(seconds, 2),
                unit="s",
                bit_exact_vs_eager=exact,
            )
        for path, fn in operations(x, fmt, args.paths).items():
            op_ms, base_ms = time_against_copy(fn, copy, args.repeats, args.warmup)
            emit(
                op="encode" if path == "encode" else "quantize",
                path=path,
                format=fmt,
                median_ms=round(op_ms, 3),
                ratio_to_copy=round(op_ms / base_ms, 2),
                baseline_copy_ms=round(base_ms, 3),
            )


if __name__ == "__main__":
    main()
