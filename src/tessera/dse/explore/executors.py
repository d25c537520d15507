"""Where accuracy evaluations run: a local process pool, or Ray (local runtime or a cluster).

Both take tasks by key and hand back ``(key, result)`` or ``(key, exception)`` as tasks finish. A
worker that dies (killed, out of memory) does not lose the run: the process pool is rebuilt and
the unfinished tasks run again, one at a time, so that a task which kills its worker is found
and given up after ``MAX_ATTEMPTS`` deaths while the others finish; Ray retries its tasks itself.
Finished results are never recomputed because the caller stores each one as soon as it arrives.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

MAX_ATTEMPTS = 3
BACKENDS = ("auto", "process", "ray")
Task = tuple[str, Callable[..., Any], tuple]


class WorkerCrashedError(RuntimeError):
    """A task whose worker process died ``MAX_ATTEMPTS`` times."""


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor:
    """A pool of ``workers`` spawned processes, each with ``cpu_count // workers`` torch threads."""

    name = "process"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = self._new_pool()
        self._tasks: dict[Future, Task] = {}
        self._suspects: list[Task] = []  # caught in a pool break: each runs alone
        self._deaths: dict[str, int] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        self._tasks[self._pool.submit(fn, *args)] = (key, fn, args)

    @property
    def pending(self) -> int:
        return len(self._tasks) + len(self._suspects)

    def finished(self) -> list[tuple[str, Any]]:
        """Block until at least one task ends; its ``(key, result or exception)`` pairs."""
        if not self._tasks and self._suspects:
            key, fn, args = self._suspects.pop(0)
            self.submit(key, fn, *args)
        done, _ = wait(list(self._tasks), return_when=FIRST_COMPLETED)
        out, broken = [], False
        for future in done:
            error = future.exception()
            if isinstance(error, BrokenProcessPool):
                broken = True
                continue
            key, _, _ = self._tasks.pop(future)
            out.append((key, error if error is not None else future.result()))
        if broken:
            out += self._rebuild()
        return out

    def _rebuild(self) -> list[tuple[str, Any]]:
        """A worker died and took the pool with it: start a new pool. A task that was alone in the
        pool killed it (given up after ``MAX_ATTEMPTS`` deaths); otherwise every unfinished task
        becomes a suspect and runs alone."""
        broken = list(self._tasks.values())
        self._tasks.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        if len(broken) > 1:
            self._suspects += broken
            return []
        key, fn, args = broken[0]
        self._deaths[key] = self._deaths.get(key, 0) + 1
        if self._deaths[key] >= MAX_ATTEMPTS:
            return [(key, WorkerCrashedError(f"a worker died {MAX_ATTEMPTS} times running this task"))]
        self._suspects.insert(0, (key, fn, args))
        return []

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Ray tasks: ``address=None`` starts a local runtime with ``workers`` CPUs; an address
    (``ray://host:10001`` or ``auto``) joins a running cluster."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None) -> None:
        import ray

        self._ray = ray
        self._started = not ray.is_initialized()  # a runtime the caller started is left running
        if self._started:
            if address is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self._remote: dict[Callable[..., Any], Any] = {}
        self._tasks: dict[Any, str] = {}

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(max_retries=MAX_ATTEMPTS, num_cpus=1)(fn)
        self._tasks[self._remote[fn].remote(*args)] = key

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def finished(self) -> list[tuple[str, Any]]:
        ready, _ = self._ray.wait(list(self._tasks), num_returns=1)
        out = []
        for ref in ready:
            key = self._tasks.pop(ref)
            try:
                out.append((key, self._ray.get(ref)))
            except Exception as err:  # the task's own error, re-raised by Ray
                out.append((key, getattr(err, "cause", None) or err))
        return out

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


Executor = ProcessExecutor | RayExecutor


def make_executor(backend: str, workers: int, address: str | None = None) -> Executor:
    """``process``, ``ray`` or ``auto`` (Ray when installed or an address is given, else processes)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers}")
    if backend == "auto":
        backend = "ray" if address is not None or _ray_installed() else "process"
    if backend == "ray":
        if not _ray_installed():
            raise RuntimeError("the ray backend needs Ray: pip install 'tessera[ray]'")
        return RayExecutor(workers, address)
    if address is not None:
        raise ValueError("a cluster address needs the ray backend")
    return ProcessExecutor(workers)


def _ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None
