"""The explore report: one self-contained HTML file (plots embedded as PNG), plus CSV and JSON.

Files written into the output folder: ``report.html``, ``points.csv`` (every evaluated point),
``pareto.csv`` (the front), ``points.json`` (everything, with the space). Plots need matplotlib
(``tessera[plot]``); without it the report says so and keeps its tables.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from tessera.dse.explore.objectives import OBJECTIVES
from tessera.dse.explore.points import ExploreResult, PointResult

MAX_LAYER_TABLES = 12
KIND_COLORS = {"systolic": "#1f77b4", "cim": "#d62728"}


def write_report(result: ExploreResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the report files; returns their paths by name. Each file is written whole to a
    temporary name and then renamed, so a failed write (e.g. a full disk) leaves no half file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [p.row() for p in result.points]
    front_rows = [p.row() for p in result.front_points()]
    files = {
        "report.html": render_html(result),
        "points.csv": _csv(rows),
        "pareto.csv": _csv(front_rows),
        "points.json": json.dumps(_finite(result.to_dict()), indent=1),
    }
    paths = {}
    for name, text in files.items():
        path = out / name
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        paths[name] = path
    return paths


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


FORMAT_COLUMNS = ("weights", "activations")


def _fmt(value: Any, column: str) -> str:
    if value is None:
        return "float" if column in FORMAT_COLUMNS else "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c), c))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _objective_label(name: str, metric: str) -> str:
    unit = metric if name == "accuracy" else OBJECTIVES[name].unit
    return f"{name} ({unit})"


def _plots(result: ExploreResult) -> str:
    """Accuracy (or the first objective) against each other objective, front points on top."""
    try:
        from tessera.report.plots import pyplot

        plt = pyplot()
    except RuntimeError as err:
        return f"<p class='note'>No plots: {html.escape(str(err))}</p>"
    objectives = list(result.space.objectives)
    y_name = "accuracy" if "accuracy" in objectives else objectives[0]
    others = [name for name in objectives if name != y_name] or [y_name]
    front = set(result.front)
    images = []
    for x_name in others:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for kind, color in KIND_COLORS.items():
            for on_front in (False, True):
                chosen = [
                    p
                    for i, p in enumerate(result.points)
                    if p.kind == kind and (i in front) == on_front and x_name in p.metrics
                ]
                if not chosen:
                    continue
                ax.scatter(
                    [p.metrics[x_name] for p in chosen],
                    [p.metrics[y_name] for p in chosen],
                    s=36 if on_front else 10,
                    c=color,
                    alpha=1.0 if on_front else 0.25,
                    edgecolors="black" if on_front else "none",
                    label=f"{kind} ({'front' if on_front else 'other'})",
                )
        values = [p.metrics[x_name] for p in result.points if p.metrics.get(x_name, 0) > 0]
        if values and max(values) / min(values) > 100:
            ax.set_xscale("log")
        ax.set_xlabel(_objective_label(x_name, result.metric))
        ax.set_ylabel(_objective_label(y_name, result.metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        alt = html.escape(f"{y_name} vs {x_name}")
        images.append(f"<img alt='{alt}' src='data:image/png;base64,{encoded}'>")
    return "\n".join(images)


def _chosen(result: ExploreResult) -> list[PointResult]:
    """Front points for the per-layer tables: the best in each objective first, then the rest."""
    front = result.front_points()
    picked: list[PointResult] = []
    for name in result.space.objectives:
        sign = 1 if OBJECTIVES[name].minimize or (name == "accuracy" and not result.higher_is_better) else -1
        for point in sorted(front, key=lambda p: sign * p.metrics[name]):
            if point not in picked:
                picked.append(point)
                break
    picked += [p for p in front if p not in picked]
    return picked[:MAX_LAYER_TABLES]


def render_html(result: ExploreResult) -> str:
    """The whole report as one HTML page."""
    space = result.space
    objectives = list(space.objectives)
    summary = [
        ("model", space.model),
        ("metric", f"{result.metric} ({'higher' if result.higher_is_better else 'lower'} is better)"),
        ("fp32 baseline", f"{result.baseline:.4g}"),
        ("points evaluated", len(result.points)),
        ("feasible points", sum(p.feasible for p in result.points)),
        ("Pareto front", len(result.front)),
        ("failed points", len(result.failed)),
        ("combinations the hardware cannot run", result.skipped),
        ("accuracy evaluations this run", result.evaluations),
        ("search", space.search.method),
        ("constraints", ", ".join(f"{c.key} = {c.bound:g}" for c in space.constraints) or "none"),
        ("storage", result.storage),
        ("run time (s)", f"{result.seconds:.1f}"),
    ]
    summary_html = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary
    )
    param_columns = ["number", "weights", "activations", "method", "hardware"]
    front_table = _table([p.row() for p in result.front_points()], param_columns + objectives)
    layer_sections = []
    for point in _chosen(result):
        columns = list(dict.fromkeys(key for row in point.layers for key in row))
        title = f"#{point.number}: {point.point.weights or 'float'} / {point.point.activations or 'float'}, "
        title += f"{point.point.method}, {point.point.hardware}"
        layer_sections.append(f"<h3>{html.escape(title)}</h3>" + _table(list(point.layers), columns))
    failed = ""
    if result.failed:
        failed = "<h2>Failed points</h2>" + _table(
            [{"number": f.number, **f.point.params(), "reason": f.reason} for f in result.failed],
            [*param_columns, "reason"],
        )
    definitions = "".join(
        f"<li><b>{html.escape(o.name)}</b> ({html.escape(o.unit)}): {html.escape(o.description)}</li>"
        for o in (OBJECTIVES[n] for n in objectives)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Tessera explore: {html.escape(space.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: left; }}
th {{ background: #f2f2f2; }}
img {{ margin: 0.5em; border: 1px solid #ddd; }}
.note {{ color: #a33; }}
pre {{ background: #f7f7f7; padding: 1em; }}
</style></head><body>
<h1>Tessera explore: {html.escape(space.name)}</h1>
<table>{summary_html}</table>
<h2>Objectives</h2><ul>{definitions}</ul>
<h2>Pareto plots</h2>
<p>Every evaluated point, by hardware kind; the exact Pareto front over the feasible points in
full colour.</p>
{_plots(result)}
<h2>Pareto front ({len(result.front)} points)</h2>
{front_table}
<h2>Per-layer breakdowns of the chosen points</h2>
<p>The best front point in each objective, then other front points (at most {MAX_LAYER_TABLES}).</p>
{"".join(layer_sections)}
{failed}
<h2>Configuration</h2>
<pre>{html.escape(space.to_yaml())}</pre>
</body></html>
"""
