"""Benchmark analog crossbar simulation against the same model's plain fp32 inference.

For each model and mapping prints one JSON line with throughputs in images per second over the
model's first ``--images`` calibration images (its training split; batches of ``--batch``), best of
``--repeats`` (the three variants take turns within each repeat):

- ``fp32_img_per_s``: the zoo model as trained (PyTorch, float32), measured in this run;
- ``digital_img_per_s``: every Linear on crossbars in exact digital mode;
- ``analog_img_per_s``: the analog read path with device-to-device and cycle-to-cycle variability
  (``--sigma`` µA each), a ``--adc-bits`` ADC with a calibrated range, 256 x 256 crossbars;

and ``analog_slowdown`` = fp32 / analog throughput (the issue's target: at most 5). Example::

    python benchmarks/cim_throughput.py --models mnist-bnn mnist-tnn
    python benchmarks/cim_throughput.py --models cifar10-bnn --images 500 --batch 100
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import torch

from tessera.hw.cim import Crossbar, get_mapping, map_to_cim, mappings_of_kind, set_digital
from tessera.hw.cim.sweep import network_kind
from tessera.zoo import get_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mnist-bnn", "mnist-tnn"])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sigma", type=float, default=2.0, help="d2d and c2c σ (µA)")
    parser.add_argument("--adc-bits", type=int, default=4)
    parser.add_argument("--data-dir", default=None, help="data folder (default: $TESSERA_DATA_DIR)")
    return parser.parse_args(argv)


def throughputs(
    models: dict[str, torch.nn.Module], batches: list[torch.Tensor], repeats: int
) -> dict[str, float]:
    """Images per second of each model over ``batches``, best of ``repeats``; the models take turns
    within each repeat so that a shared machine's load changes affect them alike."""
    best = dict.fromkeys(models, float("inf"))
    with torch.no_grad():
        for model in models.values():
            model(batches[0])  # warm-up
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                for batch in batches:
                    model(batch)
                best[name] = min(best[name], time.perf_counter() - start)
    images = sum(len(b) for b in batches)
    return {name: images / seconds for name, seconds in best.items()}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    crossbar = Crossbar(
        sigma_d2d_ua=args.sigma, sigma_c2c_ua=args.sigma, adc_bits=args.adc_bits, adc_mode="calibrated"
    )
    for name in args.models:
        spec = get_model(name)
        model = spec.build(args.data_dir)
        calib = spec.calibration(args.data_dir, 256)
        batches = spec.calibration(args.data_dir, args.images, args.batch)
        for mapping in mappings_of_kind(network_kind(model)):
            analog_model, digital_model = copy.deepcopy(model), copy.deepcopy(model)
            report = map_to_cim(analog_model, crossbar, get_mapping(mapping), calib=calib)
            map_to_cim(digital_model, crossbar, get_mapping(mapping), calib=calib)
            set_digital(digital_model, True)
            speed = throughputs(
                {"fp32": model, "analog": analog_model, "digital": digital_model}, batches, args.repeats
            )
            fp32, analog, digital = speed["fp32"], speed["analog"], speed["digital"]
            row = {
                "benchmark": "cim_throughput",
                "model": name,
                "mapping": mapping,
                "crossbars": report.crossbars,
                "images": sum(len(batch) for batch in batches),
                "sigma_ua": args.sigma,
                "adc_bits": args.adc_bits,
                "fp32_img_per_s": round(fp32, 1),
                "digital_img_per_s": round(digital, 1),
                "analog_img_per_s": round(analog, 1),
                "analog_slowdown": round(fp32 / analog, 2),
                "baseline": "fp32 inference of the same model, same run",
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "machine": platform.machine(),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
