"""``tessera airchitect``: generate a dataset, train a classifier, predict a configuration. Each
command calls one function of ``tessera.dse.airchitect.workflow``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tessera.dse.airchitect.model import TrainConfig
from tessera.dse.airchitect.spaces import DIM_HIGH
from tessera.dse.airchitect.workflow import generate_dataset, predict_configuration, train_model
from tessera.report.progress import progress_bar

_ERRORS = (ValueError, FileExistsError, FileNotFoundError)


@click.group()
def airchitect() -> None:
    """Learned design-space exploration of systolic arrays (AIRCHITECT): three case studies
    (1: array shape and dataflow under a MAC budget, 2: SRAM buffer sizes under an SRAM budget,
    3: mapping on a given array) labelled with the systolic cost model."""


def _parse_ints(text: str, count: int, sep: str, what: str, param: str) -> tuple[int, ...]:
    parts = text.lower().split(sep)
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise click.BadParameter(f"expected {what}, got {text!r}", param_hint=param)
    return values


@airchitect.command()
@click.option("--case", type=int, required=True, help="Case study: 1, 2 or 3.")
@click.option("--samples", type=int, default=100_000, show_default=True, help="Workloads to generate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option(
    "--max-dim", type=int, default=DIM_HIGH, show_default=True, help="Largest M, N, K (log-uniform from 1)."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write the dataset to.")
@click.option("--force", is_flag=True, help="Overwrite a dataset already in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(case: int, samples: int, seed: int, max_dim: int, out: Path, force: bool, quiet: bool) -> None:
    """Sample GEMM workloads of one case study, label each by exhaustive search, save to --out."""
    try:
        with progress_bar(quiet, "labelling") as progress:
            dataset = generate_dataset(
                case, samples, out, seed=seed, force=force, progress=progress, max_dim=max_dim
            )
    except _ERRORS as err:
        raise click.ClickException(str(err)) from None
    distinct = len(set(dataset.labels.tolist()))
    click.echo(f"case {dataset.case}: {len(dataset)} workloads, {distinct} distinct labels -> {out}")


@airchitect.command("train")
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="Dataset folder (from generate)."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write the model to.")
@click.option("--epochs", type=int, default=TrainConfig.epochs, show_default=True, help="Training epochs.")
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True, help="Batch size.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Initialization, batch order and test split."
)
@click.option(
    "--test-fraction", type=float, default=0.2, show_default=True, help="Workloads held out to score."
)
@click.option("--force", is_flag=True, help="Overwrite a model already in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def train_command(
    data: Path,
    out: Path,
    epochs: int,
    batch_size: int,
    seed: int,
    test_fraction: float,
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Train the embedding + MLP classifier on a dataset; report test accuracy and performance."""
    quiet = quiet or as_json

    def progress(epoch: int, epochs: int, loss: float) -> None:
        click.echo(f"epoch {epoch}/{epochs}: loss {loss:.4f}", err=True)

    try:
        config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed)
        report = train_model(
            data,
            out,
            config,
            test_fraction,
            split_seed=seed,
            force=force,
            progress=None if quiet else progress,
        )
    except _ERRORS as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(
        f"case {report.case}: trained on {report.train_workloads} workloads "
        f"in {report.train_seconds:.1f} s -> {out}\n"
        f"test ({report.test_workloads}): accuracy {report.mlp.accuracy:.1%}, "
        f"{report.mlp.performance_fraction:.2%} of the best performance (geomean); "
        f"majority class {report.majority.accuracy:.1%}, {report.majority.performance_fraction:.2%}"
    )


@airchitect.command()
@click.option("--model", "model_dir", type=click.Path(path_type=Path), required=True, help="Model folder.")
@click.option("--gemm", required=True, help="The GEMM as M,N,K.")
@click.option("--budget", type=int, default=None, help="Case 1: MAC budget; case 2: SRAM budget in kB.")
@click.option("--array", default=None, help="Case 3: the array as ROWSxCOLS.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def predict(model_dir: Path, gemm: str, budget: int | None, array: str | None, as_json: bool) -> None:
    """Predict the best configuration for one GEMM (and show the optimum found by search)."""
    sizes = _parse_ints(gemm, 3, ",", "three integers M,N,K", "--gemm")
    shape = _parse_ints(array, 2, "x", "ROWSxCOLS", "--array") if array is not None else None
    try:
        result = predict_configuration(model_dir, sizes, budget=budget, array=shape)
    except _ERRORS as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    config = ", ".join(f"{k}={v}" for k, v in result.config.items())
    click.echo(
        f"configuration {result.config_id}: {config} (p={result.probability:.2f}), "
        f"{result.total_cycles} cycles; "
        f"best by search: {result.best_config_id}, {result.best_cycles} cycles "
        f"({result.performance_fraction:.1%} of the best)"
    )
