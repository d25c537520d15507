"""``tessera explore`` as a user runs it: the embedded default, a space file, the report files,
errors before any work, and a report that could not be written."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tessera.cli import main

SPACE = """
name: cli
model: digits-cnn
eval_limit: 200
quantization:
  weights: [int8_channel, mxfp4]
  activations: [int8_channel]
  methods: [rtn]
hardware:
  - kind: systolic
    rows: [8, 16]
  - kind: cim
objectives: [accuracy, latency_us, energy_pj]
constraints: {max_accuracy_drop: 5.0}
"""


def run(*args: str) -> object:
    return CliRunner().invoke(main, ["explore", "--backend", "process", "--workers", "1", "--quiet", *args])


def strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "space.yaml").write_text(SPACE)
    result = run("--space", str(folder / "space.yaml"), "--out", str(folder / "out"), "--json")
    assert result.exit_code == 0, result.output
    return folder / "out", strict_json(result.output)


def test_the_report_files_are_written(report) -> None:
    out, printed = report
    assert sorted(p.name for p in out.iterdir()) == [
        "pareto.csv",
        "points.csv",
        "points.json",
        "report.html",
        "study.db",
    ]
    assert printed["report"] == str(out / "report.html")


def test_csv_and_json_hold_every_point_and_the_front(report) -> None:
    out, printed = report
    summary = strict_json((out / "points.json").read_text())
    points = list(csv.DictReader((out / "points.csv").open()))
    front = list(csv.DictReader((out / "pareto.csv").open()))
    assert len(points) == len(summary["points"]) == 2 * 2 + 1  # mxfp4 cannot run on the crossbar
    assert [int(row["number"]) for row in front] == summary["front"]
    assert [row["number"] for row in printed["front"]] == summary["front"]
    assert summary["space"]["name"] == "cli"
    assert {"accuracy", "latency_us", "energy_pj", "area_mm2", "memory_bytes"} <= set(points[0])


def test_the_html_report_is_one_self_contained_file(report) -> None:
    out, _ = report
    page = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|[\w./-]+\.(png|css|js))""", page)
    assert page.count("data:image/png;base64,") == 2  # accuracy against latency and energy
    summary = strict_json((out / "points.json").read_text())
    for number in summary["front"]:
        assert f"<h3>#{number}: " in page  # a per-layer breakdown of each front point
    assert "<td>0</td>" in page and "weight_sqnr_db" in page  # layer rows of the digits CNN
    assert "model: digits-cnn" in page  # the configuration that produced it


def test_a_finished_study_is_not_overwritten(report) -> None:
    out, _ = report
    result = run("--space", str(out.parent / "space.yaml"), "--out", str(out))
    assert result.exit_code != 0
    assert "already exists" in result.output and "--resume" in result.output


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("objectives: [accuracy,", "objectives: [utilization, accuracy,"),
            "'utilization' is not defined for hardware kind 'cim'",
        ),
        (("  methods: [rtn]", "  methods: [rtn]\n  method: gptq"), r"unknown key 'method'"),
        (("eval_limit: 200", "eval_limit: 200\neval_limit: 100"), r"line 5: duplicate key 'eval_limit'"),
        (("rows: [8, 16]", "rows: [8, sixteen]"), r"'sixteen' is not an integer"),
    ],
)
def test_a_bad_space_fails_before_any_work(tmp_path, edit, message) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE.replace(*edit))
    result = run("--space", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "out").exists()  # nothing was started


def test_an_unknown_space_name_lists_the_shipped_ones(tmp_path) -> None:
    result = run("--space", "resnet21", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "default, minilm, resnet20" in result.output


def test_a_report_that_cannot_be_written_loses_no_point(tmp_path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)  # the report cannot be written there
    args = ("--space", str(tmp_path / "space.yaml"), "--out", str(out))
    failed = run(*args)
    assert failed.exit_code == 1
    assert "every point is stored" in failed.output and "--resume" in failed.output
    (out / "report.html").rmdir()
    resumed = run(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    summary = strict_json((out / "points.json").read_text())
    assert len(summary["points"]) == 5
    assert summary["accuracy_evaluations"] == 0  # everything came from the study


@pytest.mark.slow
def test_the_embedded_default_explores_and_reports(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["explore", "--backend", "process", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = strict_json(Path("tessera-report/points.json").read_text())
    assert summary["model"] == "digits-cnn"
    kinds = {row["kind"] for row in summary["points"]}
    assert kinds == {"systolic", "cim"}
    assert len(summary["points"]) == 42 * 18 + 12 * 16  # CIM runs the 12 integer or ternary ones
    assert summary["front"] and Path("tessera-report/report.html").is_file()
