"""The post-training quantization table: zoo models x formats x methods, weights-only and W+A.

For each model the fp32 metric is measured once, on the same examples as every quantized run;
then for each (format, method, mode) the model is quantized in place, evaluated, and restored.
Modes: ``w`` quantizes the weights of every linear and convolution layer; ``wa`` also quantizes
their inputs and, in transformers, both operands of the attention matmuls, all in the same
format. Each finished run is appended as one JSON line to ``--out`` (and printed), so an
interrupted table resumes where it stopped; ``--render`` turns that file into the README's
Markdown tables, with the error-diffusion / GPTQ quantization-time ratios. Example::

    python benchmarks/ptq_table.py --out benchmarks/results/ptq.jsonl
    python benchmarks/ptq_table.py --render benchmarks/results/ptq.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from tessera.quant import QuantConfig, quantize_, restore
from tessera.zoo import get_model

MODELS = ("digits-cnn", "resnet20", "resnet56", "minilm", "stories260k")
FORMATS = ("mxint8", "mxfp8_e4m3", "mxfp6_e2m3", "mxfp4", "nvfp4")
METHODS = ("rtn", "gptq", "ed")
MODES = ("w", "wa")
TRANSFORMERS = ("minilm", "stories260k")
LABELS = {"rtn": "RTN", "gptq": "GPTQ", "ed": "ED"}
# Per-model calibration sizes. stories260k: windows of 512 tokens (8,192 tokens). minilm: 128
# sentences give only ~2k token rows for layers 1,536 wide; GPTQ gains from 1,024 (see the README).
CALIBRATION_SAMPLES = {"stories260k": 16}
DEFAULT_CALIBRATION_SAMPLES = 128


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--formats", nargs="+", default=list(FORMATS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--limit", type=int, default=None, help="test examples per model (default: all)")
    parser.add_argument(
        "--calib-samples",
        type=int,
        default=None,
        help=f"calibration examples (default {DEFAULT_CALIBRATION_SAMPLES}, per model {CALIBRATION_SAMPLES})",
    )
    parser.add_argument("--data-dir", default=None, help="data folder (default: $TESSERA_DATA_DIR)")
    parser.add_argument("--out", type=Path, help="JSON-lines file the rows are appended to (resumable)")
    parser.add_argument("--render", type=Path, help="print the Markdown tables of a results file and exit")
    return parser.parse_args(argv)


def config_for(model: str, fmt: str, method: str, mode: str, calib_samples: int) -> QuantConfig:
    """The QuantConfig of one table cell."""
    acts = fmt if mode == "wa" else None
    return QuantConfig(
        weights=fmt,
        activations=acts,
        attention=acts if model in TRANSFORMERS else None,
        method=method,
        calibration_samples=calib_samples,
    )


def default_calibration_samples(model: str) -> int:
    return CALIBRATION_SAMPLES.get(model, DEFAULT_CALIBRATION_SAMPLES)


def finished(path: Path | None) -> dict[tuple, dict[str, Any]]:
    """Rows already in the results file, by (model, format, method, mode, limit, calib_samples)."""
    if path is None or not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row_key(row): row for row in rows}


def row_key(row: dict[str, Any]) -> tuple:
    return (row["model"], row["format"], row["method"], row["mode"], row["limit"], row["calib_samples"])


def run(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Yield one row per fp32 baseline and per quantized cell not already in ``args.out``."""
    done = finished(args.out)
    for name in args.models:
        calib_samples = args.calib_samples or default_calibration_samples(name)
        common = {
            "limit": args.limit,
            "calib_samples": calib_samples,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
        }
        cells = [
            (fmt, method, mode)
            for fmt in args.formats
            for mode in args.modes
            for method in args.methods
            if (name, fmt, method, mode, args.limit, calib_samples) not in done
        ]
        baseline_key = (name, "fp32", "none", "none", args.limit, calib_samples)
        if not cells and baseline_key in done:
            continue
        spec = get_model(name)
        model = spec.build(args.data_dir)
        if baseline_key in done:
            fp32 = done[baseline_key]["value"]
        else:
            start = time.perf_counter()
            fp32 = spec.evaluate(model, args.data_dir, args.limit)
            yield {
                "model": name,
                "format": "fp32",
                "method": "none",
                "mode": "none",
                "metric": spec.metric,
                "value": fp32,
                "eval_seconds": round(time.perf_counter() - start, 2),
                **common,
            }
        calib = spec.calibration(args.data_dir, calib_samples)
        for fmt, method, mode in cells:
            config = config_for(name, fmt, method, mode, calib_samples)
            report = quantize_(model, config, calib=calib if config.needs_calibration else None)
            start = time.perf_counter()
            value = spec.evaluate(model, args.data_dir, args.limit)
            eval_seconds = time.perf_counter() - start
            restore(model)
            yield {
                "model": name,
                "format": fmt,
                "method": method,
                "mode": mode,
                "metric": spec.metric,
                "value": value,
                "fp32": fp32,
                "delta": value - fp32,
                "quantize_seconds": round(report.seconds, 3),
                "eval_seconds": round(eval_seconds, 2),
                "layers": len(report.layers),
                "attention_modules": len(report.attention),
                **common,
            }


def render(path: Path) -> str:
    """Markdown: one table per mode (rows model x method, columns fp32 and formats), then the
    error-diffusion / GPTQ quantization-time ratios; full test sets, default calibration sizes."""
    rows = [
        row
        for row in finished(path).values()
        if row["limit"] is None and row["calib_samples"] == default_calibration_samples(row["model"])
    ]
    baselines = {row["model"]: row for row in rows if row["format"] == "fp32"}
    cells = {(r["model"], r["format"], r["method"], r["mode"]): r for r in rows if r["format"] != "fp32"}
    models = [m for m in MODELS if m in baselines] + sorted(set(baselines) - set(MODELS))
    formats = [f for f in FORMATS if any(key[1] == f for key in cells)]
    lines = []
    for mode, title in (("w", "Weights only"), ("wa", "Weights and activations")):
        if not any(key[3] == mode for key in cells):
            continue
        lines += [f"**{title}** (quantized metric; change from fp32 in brackets)", ""]
        lines.append("| model | metric | method | fp32 | " + " | ".join(formats) + " |")
        lines.append("|---" * (4 + len(formats)) + "|")
        for model in models:
            base = baselines[model]
            for method in METHODS:
                values = [_cell(cells.get((model, fmt, method, mode))) for fmt in formats]
                if all(v == "" for v in values):
                    continue
                lines.append(
                    f"| {model} | {base['metric']} | {LABELS[method]} | {base['value']:.2f} | "
                    + " | ".join(values)
                    + " |"
                )
        lines.append("")
    ratios = time_ratios(cells)
    if ratios:
        lines += ["**Quantization time, error diffusion / GPTQ** (same run, same calibration data)", ""]
        lines.append("| model | mode | " + " | ".join(formats) + " | geomean |")
        lines.append("|---" * (3 + len(formats)) + "|")
        for (model, mode), by_format in ratios.items():
            values = [f"{by_format[f]:.2f}" if f in by_format else "" for f in formats]
            geomean = statistics.geometric_mean(by_format.values())
            lines.append(f"| {model} | {mode} | " + " | ".join(values) + f" | {geomean:.2f} |")
    return "\n".join(lines)


def time_ratios(cells: dict[tuple, dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """ED quantize time / GPTQ quantize time per (model, mode) and format."""
    ratios: dict[tuple[str, str], dict[str, float]] = {}
    for (model, fmt, method, mode), row in cells.items():
        gptq = cells.get((model, fmt, "gptq", mode))
        if method == "ed" and gptq is not None:
            ratios.setdefault((model, mode), {})[fmt] = row["quantize_seconds"] / gptq["quantize_seconds"]
    return ratios


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    return f"{row['value']:.2f} ({row['delta']:+.2f})"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render:
        print(render(args.render))
        return
    for row in run(args):
        line = json.dumps({"benchmark": "ptq_table", **row})
        print(line, flush=True)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as handle:
                handle.write(line + "\n")


if __name__ == "__main__":
    main()
