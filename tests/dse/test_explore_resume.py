"""Crash safety: a study killed with SIGKILL resumes to exactly what an uninterrupted run gives,
and a worker process killed mid-run loses nothing. Both run the real command in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPACE = """
name: crash
model: digits-cnn
quantization:
  weights: [int8_channel, int4_g32, mxfp8_e4m3, mxfp6_e2m3, mxfp4, nvfp4]
  activations: [int8_channel]
  methods: [rtn, gptq]
hardware:
  - kind: systolic
    rows: [8, 16, 32]
    cols: [8, 16, 32]
  - kind: cim
    rows: [128, 256]
objectives: [accuracy, latency_us, energy_pj]
"""
POINTS = 12 * 9 + 4 * 2  # every quantization on 9 arrays; the 4 integer ones on 2 crossbars too


def command(space: Path, out: Path, *extra: str) -> list[str]:
    args = ["--space", str(space), "--out", str(out), "--backend", "process", "--workers", "1"]
    return [sys.executable, "-m", "tessera", "explore", *args, "--quiet", "--json", *extra]


def complete_points(out: Path) -> int:
    try:
        with sqlite3.connect(out / "study.db", timeout=0.2) as db:
            return db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked by the writer for a moment
        return 0


def cached_accuracies(out: Path) -> int:
    with sqlite3.connect(out / "study.db") as db:
        query = "SELECT count(*) FROM study_user_attributes WHERE key LIKE 'accuracy/%'"
        return db.execute(query).fetchone()[0]


def stored(out: Path) -> tuple[dict[str, list[float]], int]:
    """Each stored point's values by its parameters, and the number of trials (all states)."""
    with sqlite3.connect(out / "study.db") as db:
        trials = db.execute("SELECT trial_id FROM trials WHERE state = 'COMPLETE'").fetchall()
        points = {}
        for (trial_id,) in trials:
            params = db.execute(
                "SELECT param_name, param_value FROM trial_params WHERE trial_id = ?", (trial_id,)
            ).fetchall()
            values = db.execute(
                "SELECT objective, value FROM trial_values WHERE trial_id = ? ORDER BY objective", (trial_id,)
            ).fetchall()
            key = json.dumps(sorted(params))
            assert key not in points, "a point was stored twice"
            points[key] = [value for _, value in values]
        count = db.execute("SELECT count(*) FROM trials").fetchone()[0]
    return points, count


def front_params(out: Path) -> list[str]:
    """The front's points by their parameters (trial numbers differ between runs), sorted."""
    summary = json.loads((out / "points.json").read_text())
    by_number = {row["number"]: row for row in summary["points"]}
    names = ("weights", "activations", "method", "hardware")
    return sorted(json.dumps([by_number[n][k] for k in names]) for n in summary["front"])


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def space_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("space") / "crash.yaml"
    path.write_text(SPACE)
    return path


@pytest.fixture(scope="module")
def uninterrupted(space_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(command(space_file, out), check=True, capture_output=True, text=True)
    return out


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(space_file, uninterrupted, tmp_path) -> None:
    out = tmp_path / "killed"
    run = subprocess.Popen(command(space_file, out), start_new_session=True, stdout=subprocess.DEVNULL)
    wait_for(lambda: complete_points(out) >= POINTS // 4, 240, "a quarter of the points")
    os.killpg(run.pid, signal.SIGKILL)  # the command and its worker, mid-run
    run.wait()
    finished_before, _ = stored(out)
    assert 0 < len(finished_before) < POINTS, "the kill should land mid-run"
    cached_before = cached_accuracies(out)

    resumed = subprocess.run(command(space_file, out, "--resume"), check=True, capture_output=True, text=True)
    summary = json.loads((out / "points.json").read_text())

    expected, _ = stored(uninterrupted)
    got, _ = stored(out)
    assert len(expected) == POINTS
    assert got == expected  # nothing lost, nothing stored twice, same values
    for key, values in finished_before.items():
        assert got[key] == values  # finished points were kept, not recomputed differently
    assert summary["accuracy_evaluations"] == 12 - cached_before  # cached accuracies were not redone
    assert front_params(out) == front_params(uninterrupted)
    assert len(json.loads(resumed.stdout)["front"]) == len(summary["front"])


@pytest.mark.slow
def test_a_killed_worker_loses_no_point(space_file, uninterrupted, tmp_path) -> None:
    out = tmp_path / "worker"
    run = subprocess.Popen(command(space_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def worker_pid() -> int | None:
        children = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
        workers = [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        return workers[0] if workers else None

    wait_for(lambda: complete_points(out) >= 9 and worker_pid() is not None, 240, "a running worker")
    os.kill(worker_pid(), signal.SIGKILL)
    assert run.wait(timeout=300) == 0, run.stderr.read().decode()
    got, _ = stored(out)
    expected, _ = stored(uninterrupted)
    assert got == expected
