"""``tessera cim``: RRAM compute-in-memory commands."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tessera.hw.cim.device import ADC_MODES, PRESETS
from tessera.hw.cim.latency import CIMArch
from tessera.hw.cim.schedule import compare_schedules, minimum_tiles, plan_layers, plot_gantt
from tessera.hw.cim.schedule_check import check_schedule
from tessera.hw.cim.sweep import COLUMNS, NOISE_SOURCES, SweepSpec, plot, sweep, write_csv
from tessera.report.options import data_dir_option, limit_option
from tessera.report.progress import progress_bar
from tessera.report.table import format_table
from tessera.workload.models import load_named_workload


@click.group()
def cim() -> None:
    """RRAM crossbars: map binary, ternary and integer networks and simulate them."""


def _numbers(text: str, param: str, convert) -> tuple:
    try:
        return tuple(convert(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers, got {text!r}", param_hint=param
        ) from None


def _adc_bits(part: str) -> int | None:
    return None if part.strip() == "ideal" else int(part)


@cim.command("sweep")
@click.option("--model", "model_name", required=True, help="Zoo model (e.g. mnist-bnn, mnist-tnn).")
@click.option("--mapping", default="all", show_default=True, help="Comma-separated mappings, or all.")
@click.option("--sigma", default="0,1,2,4,8", show_default=True, help="Current variability σ values (µA).")
@click.option(
    "--noise", type=click.Choice(NOISE_SOURCES), default="d2d", show_default=True, help="What σ sets."
)
@click.option("--adc-bits", default="3,4,5,8", show_default=True, help="ADC resolutions ('ideal': none).")
@click.option(
    "--adc-mode",
    default="symmetric",
    show_default=True,
    help=f"Comma-separated ADC ranges: {', '.join(ADC_MODES)}.",
)
@click.option("--rows", default="128,256", show_default=True, help="Crossbar sizes (rows = columns).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Programmings per noisy point.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="default", show_default=True)
@limit_option
@data_dir_option
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder for sweep.csv and plots.")
@click.option("--force", is_flag=True, help="Overwrite results already in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON lines.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_command(
    model_name,
    mapping,
    sigma,
    noise,
    adc_bits,
    adc_mode,
    rows,
    seeds,
    preset,
    limit,
    data_dir,
    out,
    force,
    as_json,
    quiet,
) -> None:
    """Accuracy on crossbars for every mapping x σ x ADC bits x crossbar size (CIM-Explorer)."""
    csv_path = out / "sweep.csv" if out is not None else None
    if csv_path is not None and csv_path.exists() and not force:
        raise click.ClickException(f"{csv_path} exists; pass --force to overwrite it")
    try:
        spec = SweepSpec(
            model=model_name,
            mappings=tuple(m.strip() for m in mapping.split(",")),
            sigmas_ua=_numbers(sigma, "--sigma", float),
            adc_bits=_numbers(adc_bits, "--adc-bits", _adc_bits),
            rows=_numbers(rows, "--rows", int),
            seeds=seeds,
            noise=noise,
            adc_modes=tuple(m.strip() for m in adc_mode.split(",")),
            preset=preset,
            limit=limit,
        )
        results = []
        with progress_bar(quiet or as_json, "sweeping") as progress:
            for row in sweep(spec, data_dir, progress):
                results.append(row)
                if as_json:
                    click.echo(json.dumps(row))
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    if not as_json:
        click.echo(format_table(results, list(COLUMNS)))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(results, csv_path)
        written = [csv_path]
        try:
            written += plot(results, out)
        except RuntimeError as err:
            click.echo(f"no plots: {err}", err=True)
        click.echo("wrote " + ", ".join(str(p) for p in written), err=True)


SCHEDULE_COLUMNS = (
    "mode",
    "duplicate",
    "latency_us",
    "speedup",
    "utilization",
    "utilization_gain",
    "utilization_in_use",
    "crossbars_used",
    "crossbars",
    "sets",
)


@cim.command("schedule")
@click.option("--model", "model_name", required=True, help="Zoo model or architecture (e.g. resnet20).")
@click.option(
    "--tiles", type=int, default=None, help="Tiles of the accelerator [default: the fewest that fit]."
)
@click.option("--crossbars-per-tile", type=int, default=8, show_default=True)
@click.option("--weight-bits", type=int, default=8, show_default=True, help="Weight bits of every layer.")
@click.option("--input-bits", type=int, default=8, show_default=True, help="Input bits of every layer.")
@click.option("--rows-per-set", type=int, default=1, show_default=True, help="Output rows per scheduled set.")
@click.option("--duplicate", is_flag=True, help="Copy the slowest layers into spare crossbars.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None, help="Gantt chart PNG.")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON lines.")
def schedule_command(
    model_name,
    tiles,
    crossbars_per_tile,
    weight_bits,
    input_bits,
    rows_per_set,
    duplicate,
    plot_path,
    data_dir,
    as_json,
) -> None:
    """Layer-by-layer and cross-layer (CLSA-CIM) schedules on a tiled crossbar accelerator."""
    try:
        workload = load_named_workload(model_name, data_dir)
        arch = CIMArch(crossbars_per_tile=crossbars_per_tile)
        bits = {layer.name: (weight_bits, input_bits) for layer in plan_layers(workload, arch)}
        tiles = minimum_tiles(workload, arch, bits) if tiles is None else tiles
        results = compare_schedules(workload, arch, tiles, duplicate, bits, rows_per_set)
        for result, _ in results:
            check_schedule(result, workload)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    rows = [row for _, row in results]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
    else:
        click.echo(
            f"{model_name} on {tiles} tiles x {crossbars_per_tile} crossbars, {weight_bits}/{input_bits} bits"
        )
        click.echo(format_table(rows, list(SCHEDULE_COLUMNS)))
    if plot_path is not None:
        try:
            click.echo(f"wrote {plot_gantt(results[-1][0], plot_path)}", err=True)
        except RuntimeError as err:
            raise click.ClickException(str(err)) from None


@cim.command("mixed-precision")
@click.option("--model", "model_name", required=True, help="resnet20/32/44/56 (CIFAR-10) or an MNIST model.")
@click.option("--budget", type=int, default=100, show_default=True, help="Evaluated policies per method.")
@click.option(
    "--methods", default="td3,random,evolution", show_default=True, help="Comma-separated searches."
)
@click.option("--max-loss", type=float, default=1.0, show_default=True, help="Accuracy budget (points).")
@click.option("--cell-bits", type=int, default=4, show_default=True, help="Bits per RRAM cell.")
@click.option("--val-images", type=int, default=1000, show_default=True, help="Held-out training images.")
@click.option("--seed", type=int, default=0, show_default=True)
@data_dir_option
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the results.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def mixed_precision_command(
    model_name, budget, methods, max_loss, cell_bits, val_images, seed, data_dir, out, quiet
) -> None:
    """Search per-layer weight/input bits (HAQ reward on crossbar latency): TD3 vs random vs evolution."""
    from tessera.hw.cim.precision_search import SEARCHES, build_problem, compare_searches, write_results

    chosen = tuple(m.strip() for m in methods.split(","))
    unknown = [m for m in chosen if m not in SEARCHES]
    if unknown:
        raise click.BadParameter(f"unknown {unknown}; valid: {', '.join(SEARCHES)}", param_hint="--methods")
    try:
        problem = build_problem(model_name, data_dir, max_loss, cell_bits, val_images)
        rows, summary = compare_searches(
            problem,
            chosen,
            budget,
            seed,
            data_dir,
            None if quiet else lambda m: click.echo(f"searching: {m}", err=True),
        )
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    written = write_results(out, rows, summary)
    base = summary["uniform_8_8"]
    click.echo(
        f"{model_name}: float {summary['float_test_pct']:.2f} %, 8/8 bits {base['test_pct']:.2f} % (test)"
    )
    for method, result in summary["methods"].items():
        best = result["best"]
        if best is None:
            click.echo(f"  {method}: no policy within {max_loss} points on the held-out images")
        else:
            click.echo(
                f"  {method}: {best['speedup']:.2f}x faster than 8/8, test {best['test_pct']:.2f} %, "
                f"held-out {best['accuracy']:.2f} %: {best['policy']}"
            )
    click.echo("wrote " + ", ".join(str(p) for p in written), err=True)
