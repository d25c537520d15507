"""``tessera explore``: the command over ``tessera.explore`` and the report writer."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from tessera.report import format_table
from tessera.report.options import data_dir_option


def _load(space_arg: str | None):
    from tessera.dse.explore.space import load_space, shipped_space, shipped_spaces

    if space_arg is None:
        return shipped_space("default")
    if Path(space_arg).is_file():
        return load_space(space_arg)
    if space_arg in shipped_spaces():
        return shipped_space(space_arg)
    raise ValueError(f"{space_arg}: no such file, and not a shipped space ({', '.join(shipped_spaces())})")


@click.command("explore")
@click.option(
    "--space",
    "space_arg",
    default=None,
    help="A space YAML file, or a shipped space: default, resnet20, minilm (default: the embedded default).",
)
@click.option("--out", default="tessera-report", show_default=True, type=click.Path(), help="Report folder.")
@click.option("--storage", default=None, help="SQLAlchemy URL of the study (default: sqlite in --out).")
@click.option("--resume", is_flag=True, help="Continue the stored study; finished points are kept.")
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Parallel evaluations."
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "process", "ray"]),
    default="auto",
    show_default=True,
    help="auto: Ray when installed, else a process pool.",
)
@click.option("--address", default=None, help="Ray cluster address to join (e.g. ray://head:10001).")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the front as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def explore_command(
    space_arg, out, storage, resume, workers, backend, address, data_dir, as_json, quiet
) -> None:
    """Explore formats x PTQ methods x hardware for a model; write the Pareto report to --out."""
    import optuna

    from tessera.dse.explore.study import StudyError, explore
    from tessera.report.explore_report import write_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        space = _load(space_arg)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--space") from err
    with _progress_bar(quiet) as progress:
        try:
            result = explore(
                space,
                out_dir=out,
                storage=storage,
                resume=resume,
                workers=workers,
                backend=backend,
                address=address,
                data_dir=data_dir,
                progress=progress,
            )
        except (StudyError, ValueError, RuntimeError) as err:
            raise click.ClickException(str(err)) from err
    try:
        paths = write_report(result, out)
    except OSError as err:
        raise click.ClickException(
            f"could not write the report to {out} ({err}); every point is stored in {result.storage}: "
            "free space and run again with --resume to write it without evaluating anything"
        ) from err
    front = [p.row() for p in result.front_points()]
    if as_json:
        click.echo(json.dumps({"report": str(paths["report.html"]), "front": front}, indent=1))
        return
    columns = ["number", "weights", "activations", "method", "hardware", *space.objectives]
    title = (
        f"{space.model}: {len(result.points)} points, Pareto front of {len(result.front)} "
        f"(fp32 {result.metric} {result.baseline:.4g})"
    )
    click.echo(format_table(front, columns, title))
    click.echo(f"\nreport: {paths['report.html']}")


@contextmanager
def _progress_bar(quiet: bool) -> Iterator[Callable[[int, int, int], None] | None]:
    """Yield ``update(done, total, front_size)`` drawing a bar on stderr, or None when quiet."""
    if quiet:
        yield None
        return
    show = lambda front: None if front is None else f"front {front}"  # noqa: E731
    with click.progressbar(
        length=1, label="exploring", file=sys.stderr, show_pos=True, item_show_func=show
    ) as bar:

        def update(done: int, total: int, front: int) -> None:
            bar.length = total
            bar.update(done - bar.pos, front)

        yield update
