"""The CIM-Explorer design-space flow: accuracy of a network on crossbars across mappings,
current variability, ADC resolution and crossbar size, against the digital baseline.

Each point maps the zoo model onto crossbars (``map_to_cim``), programs them with a seed (device-to-
device variability) and evaluates it on the model's test set through the analog read path. Points
without randomness (sigma 0) run with one seed only.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tessera.hw.cim.device import ADC_MODES, Crossbar, preset
from tessera.hw.cim.mapping import get_mapping, mappings_of_kind
from tessera.hw.cim.network import map_to_cim, restore_cim
from tessera.report.plots import pyplot
from tessera.zoo import get_model

NOISE_SOURCES = ("d2d", "c2c", "both")
"""Which variability the swept sigma sets: device-to-device (drawn once per programming, i.e. per
seed), cycle-to-cycle (drawn at every read) or both, each with that sigma."""

COLUMNS = (
    "model",
    "mapping",
    "rows",
    "cols",
    "sigma_ua",
    "noise",
    "adc_bits",
    "adc_mode",
    "seed",
    "metric",
    "value",
    "digital",
    "delta",
    "crossbars",
)


@dataclass(frozen=True)
class SweepSpec:
    """The grid: ``adc_bits`` entries of ``None`` mean an ideal readout; ``seeds`` per noisy point."""

    model: str
    mappings: tuple[str, ...] = ("all",)
    sigmas_ua: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0)
    adc_bits: tuple[int | None, ...] = (3, 4, 5, 8)
    rows: tuple[int, ...] = (128, 256)
    seeds: int = 3
    noise: str = "d2d"
    adc_modes: tuple[str, ...] = ("symmetric",)
    preset: str = "default"
    limit: int | None = None
    calibration_samples: int = 256

    def __post_init__(self) -> None:
        if self.noise not in NOISE_SOURCES:
            raise ValueError(f"noise {self.noise!r} is not one of {', '.join(NOISE_SOURCES)}")
        for mode in self.adc_modes:
            if mode not in ADC_MODES:
                raise ValueError(f"adc_mode {mode!r} is not one of {', '.join(ADC_MODES)}")
        if self.mappings != ("all",):
            for name in self.mappings:
                get_mapping(name)
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        preset(self.preset)
        for rows in self.rows:
            Crossbar(rows=rows, cols=rows)
        for sigma in self.sigmas_ua:
            Crossbar(sigma_d2d_ua=sigma)
        for bits in self.adc_bits:
            Crossbar(adc_bits=bits)

    def crossbar(self, rows: int, sigma: float, adc_bits: int | None, adc_mode: str) -> Crossbar:
        d2d = sigma if self.noise in ("d2d", "both") else 0.0
        c2c = sigma if self.noise in ("c2c", "both") else 0.0
        return preset(self.preset).with_(
            rows=rows,
            cols=rows,
            sigma_d2d_ua=d2d,
            sigma_c2c_ua=c2c,
            adc_bits=adc_bits,
            adc_mode=adc_mode,
        )


def network_kind(model: nn.Module) -> str:
    """``binary`` if every Linear/Conv2d weight is ±1, ``ternary`` if all are in {-1, 0, 1}, else
    ``integer``."""
    weights = [m.weight.detach() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not weights:
        raise ValueError("the model has no Linear or Conv2d layer to map")
    if all(bool((w.abs() == 1).all()) for w in weights):
        return "binary"
    if all(bool(((w == 0) | (w.abs() == 1)).all()) for w in weights):
        return "ternary"
    return "integer"


def resolve_mappings(requested: tuple[str, ...], kind: str) -> tuple[str, ...]:
    """``all`` becomes every mapping of the network's kind."""
    return mappings_of_kind(kind) if requested == ("all",) else requested


def sweep(
    spec: SweepSpec,
    data_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one result row (``COLUMNS``) per evaluated point."""
    model_spec = get_model(spec.model)
    model = model_spec.build(data_dir)
    mappings = resolve_mappings(spec.mappings, network_kind(model))
    calib = model_spec.calibration(data_dir, spec.calibration_samples)
    with torch.no_grad():
        digital = model_spec.evaluate(model, data_dir, spec.limit)
    grid = itertools.product(mappings, spec.adc_modes, spec.rows, spec.sigmas_ua, spec.adc_bits)
    points = [
        (mapping, mode, rows, sigma, bits, seed)
        for mapping, mode, rows, sigma, bits in grid
        if bits is not None or mode == spec.adc_modes[0]  # an ideal readout has no ADC mode
        for seed in range(spec.seeds if sigma > 0 else 1)
    ]
    for done, (mapping, mode, rows, sigma, bits, seed) in enumerate(points):
        crossbar = spec.crossbar(rows, sigma, bits, mode)
        report = map_to_cim(model, crossbar, get_mapping(mapping), calib=calib, seed=seed)
        try:
            with torch.no_grad():
                value = model_spec.evaluate(model, data_dir, spec.limit)
        finally:
            restore_cim(model)
        yield {
            "model": spec.model,
            "mapping": mapping,
            "rows": rows,
            "cols": rows,
            "sigma_ua": sigma,
            "noise": spec.noise,
            "adc_bits": "ideal" if bits is None else bits,
            "adc_mode": mode if bits is not None else "none",
            "seed": seed,
            "metric": model_spec.metric,
            "value": value,
            "digital": digital,
            "delta": value - digital,
            "crossbars": report.crossbars,
        }
        if progress is not None:
            progress(done + 1, len(points))


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as CSV with the ``COLUMNS`` header."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def summarize(rows: list[dict[str, Any]], x: str, fixed: dict[str, Any]) -> dict[str, list[tuple]]:
    """Per mapping and ADC mode, (x value, mean, std over seeds) of the rows matching ``fixed``,
    sorted by x."""
    groups: dict[tuple[str, Any], list[float]] = {}
    for row in rows:
        if all(row[key] == value for key, value in fixed.items()):
            series = row["mapping"] if row["adc_mode"] == "none" else f"{row['mapping']} ({row['adc_mode']})"
            groups.setdefault((series, row[x]), []).append(row["value"])
    series: dict[str, list[tuple]] = {}
    for (mapping, value), values in groups.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        series.setdefault(mapping, []).append((value, statistics.mean(values), spread))
    return {mapping: sorted(points, key=lambda p: _sort_key(p[0])) for mapping, points in series.items()}


def _sort_key(value: Any) -> float:
    return math.inf if value == "ideal" else float(value)


def plot(rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """PNG plots on the largest crossbar: accuracy vs sigma per mapping (finest ADC) and accuracy vs
    ADC bits per mapping at the smallest and the largest sigma; needs matplotlib."""
    plt = pyplot()
    if not rows:
        return []
    largest_rows = max(row["rows"] for row in rows)
    bits = sorted({row["adc_bits"] for row in rows}, key=_sort_key)
    sigmas = sorted({row["sigma_ua"] for row in rows})
    digital, metric = rows[0]["digital"], rows[0]["metric"]
    figures = [
        ("accuracy_vs_sigma.png", "sigma_ua", {"rows": largest_rows, "adc_bits": bits[-1]}, "current σ (µA)"),
        *[
            (
                f"accuracy_vs_adc_bits_sigma{sigma:g}.png",
                "adc_bits",
                {"rows": largest_rows, "sigma_ua": sigma},
                "ADC bits",
            )
            for sigma in sorted({sigmas[0], sigmas[-1]})
        ],
    ]
    written = []
    for filename, x, fixed, label in figures:
        figure, axes = plt.subplots(figsize=(6, 4))
        for mapping, points in summarize(rows, x, fixed).items():
            xs = [str(p[0]) if x == "adc_bits" else p[0] for p in points]
            means, spreads = [p[1] for p in points], [p[2] for p in points]
            axes.errorbar(xs, means, yerr=spreads, marker="o", capsize=3, label=mapping)
        axes.axhline(digital, color="grey", linestyle="--", label="digital")
        axes.set_xlabel(label)
        axes.set_ylabel(metric)
        axes.set_title(f"{rows[0]['model']}: " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
        axes.legend(fontsize="small")
        figure.tight_layout()
        path = out_dir / filename
        figure.savefig(path, dpi=120)
        plt.close(figure)
        written.append(path)
    return written
