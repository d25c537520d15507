"""``tessera.explore``: evaluate design points, store each one as it finishes, find the front.

A study lives in an Optuna storage (SQLite by default, any SQLAlchemy URL such as PostgreSQL).
Grid and random points enter it as finished trials only (``add_trial``), so a study killed at any
moment holds only whole points; NSGA-II asks Optuna's sampler for trials a generation at a time,
and a resumed study closes the trials a killed run left open. Accuracy results are stored in the
study too, keyed by (model, quantization config, evaluation limit), so no configuration is
evaluated twice, across points and across runs.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tessera.dse.explore.accuracy import accuracy_key, evaluate_accuracy, evaluate_baseline
from tessera.dse.explore.executors import Executor, make_executor
from tessera.dse.explore.hardware import cim_incompatibility, cost_designs, layer_formats
from tessera.dse.explore.objectives import minimizes
from tessera.dse.explore.pareto import FrontTracker, pareto_mask
from tessera.dse.explore.points import PARAMS, ExploreResult, FailedPoint, Point, PointResult
from tessera.dse.explore.space import CIMSpace, ExploreSpace, HardwareDesign, HardwareSpace
from tessera.quant import QuantConfig

Progress = Callable[[int, int, int], None]
"""Called as ``progress(points_done, points_total, front_size)``."""

SPACE_ATTR = "space"
BASELINE_ATTR = "baseline"


class StudyError(RuntimeError):
    """The storage holds no study to resume, a study that a new run would overwrite, or one
    made from another space."""


def default_storage(out_dir: str | Path) -> str:
    """``sqlite:///<out_dir>/study.db`` (absolute)."""
    return f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"


def explore(
    space: ExploreSpace,
    out_dir: str | Path = "tessera-report",
    storage: str | None = None,
    resume: bool = False,
    workers: int = 2,
    backend: str = "auto",
    address: str | None = None,
    data_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> ExploreResult:
    """Run (or, with ``resume``, continue) the study of ``space`` and return every point with the
    exact Pareto front. ``storage``: an SQLAlchemy URL (default: SQLite in ``out_dir``).
    ``backend``: ``process``, ``ray`` or ``auto``; ``address``: a Ray cluster to join.
    """
    start = time.perf_counter()
    if storage is None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        storage = default_storage(out_dir)
    runner = _Runner(space, storage, resume, data_dir)
    executor = make_executor(backend, workers, address)
    try:
        runner.run(executor, progress)
    finally:
        executor.close()
    return runner.result(time.perf_counter() - start)


def load_result(space: ExploreSpace, storage: str) -> ExploreResult:
    """The points a stored study holds, without evaluating anything."""
    return _Runner(space, storage, True, None, evaluate=False).result(0.0)


class _Runner:
    def __init__(
        self,
        space: ExploreSpace,
        storage: str,
        resume: bool,
        data_dir: str | Path | None,
        evaluate: bool = True,
    ) -> None:
        import optuna

        from tessera.zoo import get_model

        self.space = space
        self.storage = storage
        self.data_dir = None if data_dir is None else str(data_dir)
        self.spec = get_model(space.model)
        self.minimize = [minimizes(name, self.spec.higher_is_better) for name in space.objectives]
        self.designs: dict[str, tuple[HardwareSpace, HardwareDesign]] = {
            design.label: (family, design) for family, design in space.designs()
        }
        self.distributions = {
            "weights": optuna.distributions.CategoricalDistribution(space.quantization.weights),
            "activations": optuna.distributions.CategoricalDistribution(space.quantization.activations),
            "method": optuna.distributions.CategoricalDistribution(space.quantization.methods),
            "hardware": optuna.distributions.CategoricalDistribution(tuple(self.designs)),
        }
        self.study = _open_study(space, storage, resume, self._sampler(), self.minimize)
        self.attrs = dict(self.study.user_attrs)
        self.evaluations = 0  # accuracy evaluations run by this process
        self.skipped = 0  # combinations the hardware cannot run
        if not evaluate:
            return
        self.model = self.spec.build(self.data_dir if self.spec.needs_data else None)
        self.workload = _capture(self.spec, self.model, self.data_dir)
        self.formats: dict[str, Any] = {}
        if BASELINE_ATTR not in self.attrs:
            self._set_attr(BASELINE_ATTR, evaluate_baseline(space.model, space.eval_limit, self.data_dir))
        self.done: dict[str, list[float]] = {}
        self.tracker = FrontTracker(self.minimize)
        for trial in self.study.get_trials(deepcopy=False):
            if trial.state.name == "COMPLETE" and trial.params["hardware"] in self.designs:
                point = Point(**{name: trial.params[name] for name in PARAMS})
                if point.key not in self.done:
                    self.done[point.key] = list(trial.values)
                    if not trial.user_attrs.get("violations"):
                        self.tracker.add(trial.values)

    @property
    def baseline(self) -> float:
        return float(self.attrs[BASELINE_ATTR])

    def _set_attr(self, key: str, value: Any) -> None:
        self.study.set_user_attr(key, value)
        self.attrs[key] = value

    def _sampler(self) -> Any:
        import optuna

        search = self.space.search
        if search.method != "nsga2":
            return None
        return optuna.samplers.NSGAIISampler(population_size=search.population, seed=search.seed)

    # Which points to evaluate -------------------------------------------------------------

    def config(self, point: Point) -> QuantConfig:
        return self.space.quantization.config(point.weights, point.activations, point.method)

    def incompatibility(self, point: Point) -> str | None:
        family, _ = self.designs[point.hardware]
        if not isinstance(family, CIMSpace):
            return None
        return cim_incompatibility(self._layer_formats(self.config(point)))

    def _layer_formats(self, config: QuantConfig) -> Any:
        key = accuracy_key(self.space.model, config, None)
        if key not in self.formats:
            self.formats[key] = layer_formats(self.workload, config)
        return self.formats[key]

    def candidates(self) -> tuple[list[Point], int]:
        """Every runnable point in space order, and how many combinations were skipped."""
        quant = self.space.quantization
        points, skipped = [], 0
        for weights in quant.weights:
            for activations in quant.activations:
                for method in quant.methods:
                    for label in self.designs:
                        point = Point(weights, activations, method, label)
                        if self.incompatibility(point) is None:
                            points.append(point)
                        else:
                            skipped += 1
        return points, skipped

    # Running ------------------------------------------------------------------------------

    def run(self, executor: Executor, progress: Progress | None) -> None:
        self.executor, self.progress = executor, progress
        self._close_stale_trials()
        search = self.space.search
        candidates, self.skipped = self.candidates()
        if not candidates:
            raise ValueError("the space has no point its hardware can run (CIM needs integer formats)")
        if search.method == "nsga2":
            self.total = min(search.trials or len(candidates), len(candidates))
            self._run_nsga2(len(candidates))
            return
        if search.method == "random":
            candidates = random.Random(search.seed).sample(
                candidates, min(search.trials or 0, len(candidates))
            )
        self.total = len(candidates)
        self._report()
        self._evaluate([(point, None) for point in candidates if point.key not in self.done])

    def _run_nsga2(self, runnable: int) -> None:
        from optuna.trial import TrialState

        population = self.space.search.population
        self._report()
        while self._completed() < self.total and len(self.done) < runnable:
            batch: list[tuple[Point, Any]] = []
            wanted = min(population, self.total - self._completed())
            repeats = 0
            for _ in range(50 * wanted):
                if len(batch) + repeats == wanted:
                    break
                trial = self.study.ask(self.distributions)
                point = Point(**{name: trial.params[name] for name in PARAMS})
                reason = self.incompatibility(point)
                if reason is not None:
                    trial.set_user_attr("reason", reason)
                    self.study.tell(trial, state=TrialState.PRUNED)
                elif point.key in self.done or any(point.key == p.key for p, _ in batch):
                    repeats += self._repeat(trial, point)
                else:
                    batch.append((point, trial))
            if not batch:
                break
            self._evaluate(batch)

    def _repeat(self, trial: Any, point: Point) -> int:
        """A point NSGA-II proposed again: told its stored values, never evaluated twice. Returns
        1 when the trial completed (it counts towards the budget), 0 when it was pruned."""
        if point.key in self.done:
            trial.set_user_attr("repeat", True)
            self.study.tell(trial, self.done[point.key])
            return 1
        from optuna.trial import TrialState

        trial.set_user_attr("reason", "repeated within its generation")  # the first copy is evaluated
        self.study.tell(trial, state=TrialState.PRUNED)
        return 0

    def _completed(self) -> int:
        from optuna.trial import TrialState

        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def _close_stale_trials(self) -> None:
        """Trials a killed run left RUNNING are closed as failed; their points get evaluated again."""
        from optuna.trial import TrialState

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(trial.number, state=TrialState.FAIL)

    def _evaluate(self, batch: Sequence[tuple[Point, Any]]) -> None:
        """Evaluate points: one accuracy task per distinct quantization, hardware in batches."""
        groups: dict[str, list[tuple[Point, Any]]] = defaultdict(list)
        configs: dict[str, QuantConfig] = {}
        for point, trial in batch:
            config = self.config(point)
            key = accuracy_key(self.space.model, config, self.space.eval_limit)
            groups[key].append((point, trial))
            configs[key] = config
        for key, members in groups.items():
            cached = self.attrs.get(_accuracy_attr(key))
            if cached is not None:
                self._finish(configs[key], cached, members)
            else:
                args = (self.space.model, configs[key], self.space.eval_limit, self.data_dir)
                self.executor.submit(key, evaluate_accuracy, *args)
        while self.executor.pending:
            for key, outcome in self.executor.finished():
                if isinstance(outcome, BaseException):
                    for point, trial in groups[key]:
                        self._record_failure(point, trial, f"accuracy evaluation failed: {outcome}")
                    continue
                self.evaluations += 1
                self._set_attr(_accuracy_attr(key), outcome)
                self._finish(configs[key], outcome, groups[key])

    def _finish(
        self, config: QuantConfig, accuracy: dict[str, Any], members: list[tuple[Point, Any]]
    ) -> None:
        """Cost the hardware of every point sharing this accuracy result, then record each one."""
        formats = self._layer_formats(config)
        designs = [self.designs[point.hardware] for point, _ in members]
        hardware = cost_designs(self.workload, formats, designs)
        sqnr = {row["layer"]: row["weight_sqnr_db"] for row in accuracy["layers"]}
        for (point, trial), result in zip(members, hardware):
            value = float(accuracy["value"])
            drop = self.baseline - value if self.spec.higher_is_better else value - self.baseline
            metrics = {"accuracy": value, "accuracy_drop": drop, **result.metrics}
            layers = [{**row, "weight_sqnr_db": sqnr.get(row["layer"])} for row in result.layers]
            self._record(point, trial, metrics, layers, float(accuracy["seconds"]))

    def _record(
        self, point: Point, trial: Any, metrics: dict[str, float], layers: list, seconds: float
    ) -> None:
        import optuna

        values = [metrics[name] for name in self.space.objectives]
        if not all(math.isfinite(v) for v in values):
            self._record_failure(point, trial, f"non-finite objective values {values}")
            return
        bounds = [(c, metrics[c.objective]) for c in self.space.constraints]
        violations = [
            f"{c.objective}={v:.6g} breaks {c.key}={c.bound:g}" for c, v in bounds if not c.holds(v)
        ]
        attrs = {
            "metrics": metrics,
            "violations": violations,
            "constraint_values": [v - c.bound if c.sense == "max" else c.bound - v for c, v in bounds]
            or [0.0],
            "layers": layers,
            "seconds": seconds,
        }
        if trial is None:
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=point.params(), distributions=self.distributions, values=values, user_attrs=attrs
                )
            )
        else:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            for c, v in bounds:  # NSGA-II prefers feasible trials: <= 0 is feasible
                trial.set_constraint(c.key, v - c.bound if c.sense == "max" else c.bound - v)
            self.study.tell(trial, values)
        self.done[point.key] = values
        if not violations:
            self.tracker.add(values)
        self._report()

    def _record_failure(self, point: Point, trial: Any, reason: str) -> None:
        import optuna
        from optuna.trial import TrialState

        if trial is None:
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=point.params(),
                    distributions=self.distributions,
                    user_attrs={"reason": reason},
                    state=TrialState.FAIL,
                )
            )
        else:
            trial.set_user_attr("reason", reason)
            self.study.tell(trial, state=TrialState.FAIL)

    def _report(self) -> None:
        if self.progress is not None:
            done = len(self.done) if self.space.search.method != "nsga2" else self._completed()
            self.progress(min(done, self.total), self.total, len(self.tracker))

    # Results --------------------------------------------------------------------------------

    def result(self, seconds: float) -> ExploreResult:
        points, failed, seen = [], [], set()
        for trial in self.study.get_trials(deepcopy=False):
            if trial.params.get("hardware") not in self.designs:
                continue
            point = Point(**{name: trial.params[name] for name in PARAMS})
            if trial.state.name == "FAIL" and "reason" in trial.user_attrs and point.key not in seen:
                failed.append(FailedPoint(trial.number, point, trial.user_attrs["reason"]))
            if trial.state.name != "COMPLETE" or point.key in seen:
                continue
            seen.add(point.key)
            attrs = trial.user_attrs
            points.append(
                PointResult(
                    number=trial.number,
                    point=point,
                    kind=self.designs[point.hardware][0].kind,
                    metrics=attrs["metrics"],
                    violations=tuple(attrs["violations"]),
                    layers=tuple(attrs["layers"]),
                    seconds=attrs["seconds"],
                )
            )
        failed = [f for f in failed if f.point.key not in seen]
        feasible = [i for i, p in enumerate(points) if p.feasible]
        front: tuple[int, ...] = ()
        if feasible:
            values = [[points[i].metrics[name] for name in self.space.objectives] for i in feasible]
            mask = pareto_mask(values, self.minimize)
            front = tuple(i for i, keep in zip(feasible, mask) if keep)
        return ExploreResult(
            space=self.space,
            metric=self.spec.metric,
            higher_is_better=self.spec.higher_is_better,
            baseline=self.baseline,
            points=tuple(points),
            front=front,
            failed=tuple(failed),
            skipped=self.skipped,
            storage=self.storage,
            seconds=seconds,
            evaluations=self.evaluations,
        )


def _accuracy_attr(key: str) -> str:
    return "accuracy/" + hashlib.sha1(key.encode()).hexdigest()


def _capture(spec: Any, model: Any, data_dir: str | None) -> Any:
    from tessera.workload import capture

    example = spec.calibration(data_dir if spec.needs_data else None, n_samples=1, batch_size=1)[0]
    return capture(model, example, name=spec.name)


def _open_study(space: ExploreSpace, storage: str, resume: bool, sampler: Any, minimize: list[bool]) -> Any:
    import optuna

    directions = ["minimize" if m else "maximize" for m in minimize]
    names = [s.study_name for s in optuna.study.get_all_study_summaries(storage)]
    if resume:
        if space.name not in names:
            raise StudyError(f"nothing to resume: no study {space.name!r} in {storage}")
        study = optuna.load_study(study_name=space.name, storage=storage, sampler=sampler)
        stored = study.user_attrs.get(SPACE_ATTR)
        if stored != space.to_dict():
            raise StudyError(
                f"study {space.name!r} in {storage} was made from another space; resume it with the same "
                "space file, or give this space a new name"
            )
        return study
    if space.name in names:
        raise StudyError(
            f"study {space.name!r} already exists in {storage}: pass --resume to continue it, or choose "
            "another output folder or storage"
        )
    study = optuna.create_study(
        study_name=space.name, storage=storage, sampler=sampler, directions=directions
    )
    study.set_user_attr(SPACE_ATTR, space.to_dict())
    return study
