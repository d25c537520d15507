"""How long quantization takes, and what fake quantization costs at inference, against baselines
measured in the same run.

- ``op: quantize``: wall time of ``quantize_`` on MiniLM's weights (all 37 linear layers) per
  method, as a ratio to RTN (calibration: STS-B training sentences);
- ``op: inference``: median time of one batch through the model, quantized (weights only; weights
  and layer inputs; also the attention matmuls), as a ratio to fp32. Each quantized forward is
  preceded by an fp32 forward on the same batch and the ratio divides their medians.

Prints one JSON object per line. Example::

    python benchmarks/ptq_speed.py --models minilm resnet20 --format mxfp4
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from tessera.quant import QuantConfig, quantize_, restore
from tessera.quant.calibration import run_model
from tessera.zoo import get_model

METHODS = ("rtn", "gptq", "ed")
TRANSFORMERS = ("minilm", "stories260k")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["minilm", "resnet20"])
    parser.add_argument("--format", default="mxfp4")
    parser.add_argument("--methods-model", default="minilm", help="model whose quantization is timed")
    parser.add_argument("--calib-samples", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32, help="examples per inference batch (default 32)")
    parser.add_argument("--repeats", type=int, default=9, help="timed forwards per variant (default 9)")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $TESSERA_DATA_DIR)")
    return parser.parse_args(argv)


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def quantize_times(args: argparse.Namespace, emit: Callable[..., None]) -> None:
    """One ``quantize_`` per method on the same model and calibration batches; ratio to RTN."""
    spec = get_model(args.methods_model)
    model = spec.build(args.data_dir)
    calib = spec.calibration(args.data_dir, args.calib_samples)
    times = {}
    for method in METHODS:
        config = QuantConfig(weights=args.format, method=method, calibration_samples=args.calib_samples)
        report = quantize_(model, config, calib=calib if config.needs_calibration else None)
        times[method] = report.seconds
        restore(model)
    for method in METHODS:
        emit(
            op="quantize",
            model=args.methods_model,
            method=method,
            format=args.format,
            seconds=round(times[method], 3),
            unit="s",
            ratio_to_rtn=round(times[method] / times["rtn"], 1),
            baseline_rtn_seconds=round(times["rtn"], 3),
            calib_samples=args.calib_samples,
        )


def inference_overheads(name: str, args: argparse.Namespace, emit: Callable[..., None]) -> None:
    """Median forward time of each quantized variant over the fp32 median, interleaved."""
    spec = get_model(name)
    model = spec.build(args.data_dir)
    batch = spec.calibration(args.data_dir, args.batch, args.batch)[0]
    variants = {
        "weights": QuantConfig(weights=args.format),
        "weights+inputs": QuantConfig(weights=args.format, activations=args.format),
    }
    if name in TRANSFORMERS:
        variants["weights+inputs+attention"] = QuantConfig(
            weights=args.format, activations=args.format, attention=args.format
        )

    def forward() -> None:
        with torch.no_grad():
            run_model(model, dict(batch) if isinstance(batch, dict) else batch)

    for variant, config in variants.items():
        quantize_(model, config)
        quantized_times, fp32_times = [], []
        forward()  # warm-up
        for _ in range(args.repeats):
            quantized_times.append(seconds(forward))
            restore(model)
            fp32_times.append(seconds(forward))
            quantize_(model, config)
        restore(model)
        quantized_ms, fp32_ms = statistics.median(quantized_times) * 1e3, statistics.median(fp32_times) * 1e3
        emit(
            op="inference",
            model=name,
            variant=variant,
            format=args.format,
            batch=args.batch,
            median_ms=round(quantized_ms, 2),
            unit="ms",
            ratio_to_fp32=round(quantized_ms / fp32_ms, 2),
            baseline_fp32_ms=round(fp32_ms, 2),
        )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine()}

    def emit(**row: object) -> None:
        print(json.dumps({"benchmark": "ptq_speed", **row, **common}), flush=True)

    quantize_times(args, emit)
    for name in args.models:
        inference_overheads(name, args, emit)


if __name__ == "__main__":
    main()
