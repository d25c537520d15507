"""``tessera cim``: RRAM compute-in-memory commands."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tessera.hw.cim.device import ADC_MODES, PRESETS
from tessera.hw.cim.sweep import COLUMNS, NOISE_SOURCES, SweepSpec, plot, sweep, write_csv
from tessera.report.options import data_dir_option, limit_option
from tessera.report.progress import progress_bar
from tessera.report.table import format_table


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
