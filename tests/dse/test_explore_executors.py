"""The process-pool executor: results by key, task errors handed back, dead workers retried."""

from __future__ import annotations

import os

import pytest

from tessera.dse.explore.executors import MAX_ATTEMPTS, ProcessExecutor, WorkerCrashedError, make_executor


def square(x: int) -> int:
    return x * x


def fail(x: int) -> int:
    raise ValueError(f"bad input {x}")


def die(_: int) -> int:
    os._exit(1)  # the worker process dies without a word, as under the OOM killer


def drain(executor) -> dict[str, object]:
    out = {}
    while executor.pending:
        out.update(executor.finished())
    return out


def test_results_errors_and_dead_workers_come_back_by_key() -> None:
    executor = ProcessExecutor(workers=2)
    try:
        executor.submit("a", square, 3)
        executor.submit("b", fail, 4)
        executor.submit("c", die, 0)
        executor.submit("d", square, 5)
        out = drain(executor)
    finally:
        executor.close()
    assert out["a"] == 9 and out["d"] == 25  # innocent tasks survive the pool breaking
    assert isinstance(out["b"], ValueError) and "bad input 4" in str(out["b"])
    assert isinstance(out["c"], WorkerCrashedError) and f"{MAX_ATTEMPTS} times" in str(out["c"])


def test_bad_backend_names_and_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown backend 'spark'; valid: auto, process, ray"):
        make_executor("spark", 2)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        make_executor("process", 0)
    with pytest.raises(ValueError, match="cluster address needs the ray backend"):
        make_executor("process", 1, address="ray://head:10001")
