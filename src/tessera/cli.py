"""The ``tessera`` command: a thin shell over the public API."""

from __future__ import annotations

import json
import sys

import click

from tessera.dse.airchitect.cli import airchitect
from tessera.dse.explore.cli import explore_command
from tessera.formats import format_names, get_format
from tessera.hw.cim.cli import cim
from tessera.report import format_table
from tessera.report.options import data_dir_option, limit_option

ELEMENT_COLUMNS = [
    "name",
    "kind",
    "bits",
    "ebits",
    "mbits",
    "emax",
    "max_normal",
    "min_normal",
    "min_subnormal",
    "inf",
    "nan",
]
BLOCK_COLUMNS = [
    "name",
    "element",
    "scale",
    "block_size",
    "scale_mode",
    "tensor_scale",
    "zero_point",
    "bits_per_element",
    "max_normal",
]


@click.group()
@click.version_option(package_name="tessera")
def main() -> None:
    """Tessera: number formats, quantization and accelerator models for neural networks."""


@main.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def formats(name: str | None, as_json: bool) -> None:
    """List every named format and its properties, or show one NAME (any accepted name)."""
    try:
        chosen = [get_format(name)] if name else [get_format(n) for n in format_names()]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="NAME") from err
    rows = [fmt.properties() for fmt in chosen]
    if as_json:
        click.echo(json.dumps(rows if not name else rows[0], indent=2, default=str))
        return
    elements = [r for r in rows if r["kind"] != "block"]
    blocks = [r for r in rows if r["kind"] == "block"]
    tables = []
    if elements:
        tables.append(format_table(elements, ELEMENT_COLUMNS, "Element and scale formats"))
    if blocks:
        tables.append(format_table(blocks, BLOCK_COLUMNS, "Block-scaled formats"))
    click.echo("\n\n".join(tables))


@main.command()
@click.option("--formats", "names", default=None, help="Comma-separated format names (default: a broad set).")
@click.option("--seed", default=0, show_default=True, help="Seed for the data split and training.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def demo(names: str | None, seed: int, as_json: bool, quiet: bool) -> None:
    """Train a small CNN on scikit-learn's digits and show the accuracy it keeps per format."""
    from tessera.demo import DEFAULT_FORMATS, run_demo

    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else list(DEFAULT_FORMATS)
    progress = None if quiet or as_json else (lambda message: click.echo(f"... {message}", err=True))
    try:
        report = run_demo(chosen, seed=seed, progress=progress)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--formats") from err
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    rows = [vars(r) for r in report.results]
    rows.insert(
        0,
        {
            "format": "fp32",
            "bits_per_element": 32.0,
            "weight_sqnr_db": float("inf"),
            "accuracy_weights_pct": report.fp32_accuracy_pct,
            "accuracy_weights_acts_pct": report.fp32_accuracy_pct,
        },
    )
    title = (
        f"{report.model} on {report.dataset}, {report.test_images} images "
        f"(W = weights quantized, W+A = weights and layer inputs), {report.seconds:.1f} s"
    )
    columns = [
        "format",
        "bits_per_element",
        "weight_sqnr_db",
        "accuracy_weights_pct",
        "accuracy_weights_acts_pct",
    ]
    click.echo(format_table(rows, columns, title))


def _progress(quiet: bool):
    return None if quiet else (lambda message: click.echo(f"... {message}", err=True))


@main.command("quantize")
@click.option("--model", "model_name", required=True, help="Zoo model name (see 'tessera models').")
@click.option("--weights", default=None, help="Weight format (default mxfp8_e4m3, or the config file's).")
@click.option("--acts", default=None, help="Activation (layer input) format; none by default.")
@click.option(
    "--attention", default=None, help="Format for the attention matmuls' operands; none by default."
)
@click.option(
    "--method", type=click.Choice(["rtn", "gptq", "ed"]), default=None, help="PTQ method (default rtn)."
)
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="QuantConfig JSON/YAML."
)
@click.option("--calib-samples", type=int, default=None, help="Calibration examples for data-aware methods.")
@limit_option
@data_dir_option
@click.option("--out", type=click.Path(), default=None, help="Save the quantized model to this folder.")
@click.option("--force", is_flag=True, help="Replace a model already saved in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def quantize_command(
    model_name,
    weights,
    acts,
    attention,
    method,
    config_file,
    calib_samples,
    limit,
    data_dir,
    out,
    force,
    as_json,
    quiet,
) -> None:
    """Evaluate a model in fp32, quantize it, evaluate it again, and optionally save it."""
    from dataclasses import replace

    from tessera.quant import QuantConfig
    from tessera.quant.workflow import quantize_model

    try:
        config = QuantConfig.from_file(config_file) if config_file else QuantConfig()
        overrides = {
            "weights": weights,
            "activations": acts,
            "attention": attention,
            "method": method,
            "calibration_samples": calib_samples,
        }
        config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        run = quantize_model(model_name, config, data_dir, limit, out, force, _progress(quiet or as_json))
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as err:
        raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2))
        return
    click.echo(
        f"{run.model}: {run.metric} fp32 {run.fp32:.4g} -> {run.quantized:.4g} "
        f"({run.method}, weights {run.weights}, inputs {run.activations}; {run.layers_quantized} layers, "
        f"{len(run.left_in_place)} left in place; {run.seconds:.1f} s)"
    )
    if run.saved_to:
        click.echo(f"saved to {run.saved_to}")


@main.command("eval")
@click.option("--model", "model_name", default=None, help="Zoo model name (fp32).")
@click.option(
    "--saved", type=click.Path(), default=None, help="A folder written by 'tessera quantize --out'."
)
@limit_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_command(model_name, saved, limit, data_dir, as_json) -> None:
    """Evaluate a zoo model, or a saved quantized model, on its test data."""
    from tessera.quant.workflow import evaluate_model

    try:
        result = evaluate_model(model_name, saved, data_dir, limit)
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"{result['model']}{' (saved)' if saved else ''}: {result['metric']} {result['value']:.4g}"
        )


WORKLOAD_COLUMNS = ["name", "kind", "input", "output", "m", "n", "k", "count", "macs", "producers"]


@main.command("workload")
@click.argument("model_name")
@click.option("--batch", type=int, default=1, help="Examples in the captured batch (default 1).")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the workload as JSON.")
@click.option("--out", type=click.Path(dir_okay=False), help="Save the workload (.yaml, .yml or .json).")
@click.option("--scalesim-conv", type=click.Path(dir_okay=False), help="Write a SCALE-Sim conv topology CSV.")
@click.option("--scalesim-gemm", type=click.Path(dir_okay=False), help="Write a SCALE-Sim GEMM topology CSV.")
def workload_command(model_name, batch, data_dir, as_json, out, scalesim_conv, scalesim_gemm) -> None:
    """Capture MODEL_NAME's workload (ops, shapes, edges) and print or save it."""
    from tessera.workload import (
        CaptureError,
        capture_model,
        save_workload,
        to_json,
        write_conv_topology,
        write_gemm_topology,
    )

    try:
        workload = capture_model(model_name, data_dir, batch)
        if out:
            save_workload(workload, out)
        if scalesim_conv:
            write_conv_topology(workload, scalesim_conv)
        if scalesim_gemm:
            write_gemm_topology(workload, scalesim_gemm)
    except (ValueError, FileNotFoundError, ImportError, CaptureError) as err:
        raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(to_json(workload))
    elif not (out or scalesim_conv or scalesim_gemm):
        click.echo(format_table(workload.to_rows(), WORKLOAD_COLUMNS))
        parameters = sum(param.elements for param in workload.params)
        click.echo(f"{len(workload.ops)} ops, {workload.macs:,} MACs, {parameters:,} parameters")


SIMULATE_COLUMNS = [
    "name",
    "compute_cycles",
    "stall_cycles",
    "total_cycles",
    "utilization",
    "mapping_efficiency",
    "dram_words",
    "energy_pj",
]


def _gemm_option(_ctx, _param, values: tuple[str, ...]) -> list:
    from tessera.workload import GemmShape

    shapes = []
    for text in values:
        try:
            m, n, k = (int(v) for v in text.split(","))
            shapes.append(GemmShape(m, n, k))
        except ValueError as err:
            raise click.BadParameter(f"{text!r}: expected M,N,K positive integers ({err})") from None
    return shapes


@main.command("simulate")
@click.option("--model", "model_name", default=None, help="Zoo model to capture and simulate.")
@click.option("--gemm", multiple=True, callback=_gemm_option, help="Simulate one GEMM M,N,K (repeatable).")
@click.option("--arch", type=click.Choice(["systolic"]), default="systolic", help="Hardware model.")
@click.option("--rows", type=int, default=32, show_default=True, help="Processing-element rows.")
@click.option("--cols", type=int, default=32, show_default=True, help="Processing-element columns.")
@click.option("--dataflow", default="ws", show_default=True, help="os, ws or is.")
@click.option("--sram-kb", type=float, default=64.0, show_default=True, help="Each of the 3 buffers, kB.")
@click.option("--bandwidth", type=int, default=None, help="DRAM words/cycle (default: no stalls).")
@click.option("--format", "element_format", default="int8", show_default=True, help="Element format.")
@click.option("--fidelity", type=click.Choice(["model", "trace"]), default="model", show_default=True)
@click.option("--batch", type=int, default=1, show_default=True, help="Examples per captured batch.")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate_command(
    model_name,
    gemm,
    arch,
    rows,
    cols,
    dataflow,
    sram_kb,
    bandwidth,
    element_format,
    fidelity,
    batch,
    data_dir,
    as_json,
) -> None:
    """Cycles, stalls, utilization and energy of a model or GEMMs on an accelerator, per layer."""
    from tessera.hw import SystolicArray, simulate_workload
    from tessera.hw.systolic import cost
    from tessera.hw.workload_cost import WorkloadCost
    from tessera.workload import CaptureError, capture_model

    if (model_name is None) == (not gemm):
        raise click.UsageError("give either --model or one or more --gemm M,N,K")
    try:
        array = SystolicArray(
            rows=rows,
            cols=cols,
            dataflow=dataflow,
            ifmap_sram_kb=sram_kb,
            filter_sram_kb=sram_kb,
            ofmap_sram_kb=sram_kb,
            bandwidth_mode="calc" if bandwidth is None else "user",
            dram_bandwidth_words_per_cycle=bandwidth,
            element_format=element_format,
        )
        if model_name is not None:
            result = simulate_workload(capture_model(model_name, data_dir, batch), array, fidelity)
        else:
            layers = tuple((f"gemm{i}", cost(shape, array, fidelity)) for i, shape in enumerate(gemm))
            result = WorkloadCost("gemm", layers)
    except (ValueError, FileNotFoundError, ImportError, CaptureError) as err:
        raise click.UsageError(str(err)) from err
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    rows_out = [{"name": name, **c.to_dict()} for name, c in result.layers]
    rows_out.append({"name": "total", **result.total.to_dict()})
    click.echo(format_table(rows_out, SIMULATE_COLUMNS))


@main.command("models")
def models_command() -> None:
    """List the zoo's models with their datasets and metrics."""
    from tessera.zoo import get_model, model_names

    rows = [
        {"name": n, "metric": get_model(n).metric, "dataset": get_model(n).dataset} for n in model_names()
    ]
    click.echo(format_table(rows, ["name", "metric", "dataset"]))


main.add_command(airchitect)
main.add_command(cim)
main.add_command(explore_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
