"""The three steps as one call each, on folders: generate a dataset, train a model on it, predict
with it (what the ``tessera airchitect`` commands run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.dse.airchitect.baselines import MajorityClass
from tessera.dse.airchitect.dataset import (
    DATA_FILE,
    META_FILE,
    Dataset,
    Progress,
    generate,
    label,
    load_dataset,
    save_dataset,
)
from tessera.dse.airchitect.evaluate import Scores, score
from tessera.dse.airchitect.files import prepare_folder
from tessera.dse.airchitect.model import META_FILE as MODEL_META
from tessera.dse.airchitect.model import (
    WEIGHTS_FILE,
    AirchitectModel,
    TrainConfig,
    TrainProgress,
    load_model,
    save_model,
    train,
)
from tessera.dse.airchitect.spaces import DIM_HIGH, DesignSpace


def generate_dataset(
    case: int,
    samples: int,
    out: str | Path,
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
    max_dim: int = DIM_HIGH,
) -> Dataset:
    """Generate ``samples`` labelled workloads of case study ``case`` with ``seed`` (``M``, ``N``,
    ``K`` up to ``max_dim``) and save them to ``out`` (refused before any work if ``out`` holds a
    dataset, unless ``force``)."""
    prepare_folder(out, (DATA_FILE, META_FILE), force)
    dataset = generate(case, samples, seed, progress, max_dim)
    save_dataset(dataset, out, force=True)
    return dataset


@dataclass(frozen=True)
class TrainReport:
    """What ``train_model`` did: workloads used, the classifier's and the majority class's scores on
    the held-out test workloads, training time in seconds."""

    case: int
    train_workloads: int
    test_workloads: int
    mlp: Scores
    majority: Scores
    train_seconds: float

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values."""
        return {
            "case": self.case,
            "train_workloads": self.train_workloads,
            "test_workloads": self.test_workloads,
            "mlp": self.mlp.to_dict(),
            "majority": self.majority.to_dict(),
            "train_seconds": self.train_seconds,
        }


def train_model(
    data: str | Path,
    out: str | Path,
    config: TrainConfig | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    force: bool = False,
    progress: TrainProgress | None = None,
) -> TrainReport:
    """Train a classifier on the dataset in ``data`` minus a held-out ``test_fraction`` (chosen with
    ``split_seed``), score it on the held-out part, save it to ``out`` (refused before any work if
    ``out`` holds a model, unless ``force``)."""
    dataset = load_dataset(data)
    prepare_folder(out, (WEIGHTS_FILE, MODEL_META), force)
    train_set, test_set = dataset.split(test_fraction, split_seed)
    model = train(train_set, config, progress)
    save_model(model, out, force=True)
    majority = MajorityClass().fit(train_set)
    return TrainReport(
        case=dataset.case,
        train_workloads=len(train_set),
        test_workloads=len(test_set),
        mlp=score(test_set, model.predict(test_set.inputs)),
        majority=score(test_set, majority.predict(test_set.inputs)),
        train_seconds=model.record["train_seconds"],
    )


@dataclass(frozen=True)
class Prediction:
    """The classifier's choice for one workload: configuration id and properties, its probability
    and total cycles; beside it the optimum by exhaustive search (id and cycles), for comparison."""

    case: int
    inputs: dict[str, int]
    config_id: int
    config: dict[str, object]
    probability: float
    total_cycles: int
    best_config_id: int
    best_cycles: int

    @property
    def performance_fraction(self) -> float:
        """Best total cycles / the predicted configuration's total cycles."""
        return self.best_cycles / self.total_cycles

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values."""
        return {
            "case": self.case,
            "inputs": self.inputs,
            "config_id": self.config_id,
            "config": self.config,
            "probability": self.probability,
            "total_cycles": self.total_cycles,
            "best_config_id": self.best_config_id,
            "best_cycles": self.best_cycles,
            "performance_fraction": self.performance_fraction,
        }


def workload_inputs(
    space: DesignSpace,
    gemm: tuple[int, int, int],
    budget: int | None = None,
    array: tuple[int, int] | None = None,
) -> dict[str, int]:
    """The inputs of one workload of ``space``: the GEMM ``(M, N, K)`` plus its budget (cases 1 and
    2) or its array ``(rows, cols)`` (case 3). ValueError saying what is missing or not used."""
    if len(gemm) != 3:
        raise ValueError(f"a GEMM is three sizes M, N, K, got {len(gemm)}")
    inputs = dict(zip(("m", "n", "k"), gemm))
    if space.budget_input is not None:
        if array is not None:
            raise ValueError(f"case {space.case} chooses the array; give a budget, not an array")
        if budget is None:
            raise ValueError(f"case {space.case} needs a budget ({space.budget_input})")
        inputs[space.budget_input] = budget
    else:
        if budget is not None:
            raise ValueError(f"case {space.case} has no budget; give the array (rows, cols)")
        if array is None:
            raise ValueError(f"case {space.case} needs the array (rows, cols)")
        inputs.update(rows=array[0], cols=array[1])
    return inputs


def predict_configuration(
    model: AirchitectModel | str | Path,
    gemm: tuple[int, int, int],
    budget: int | None = None,
    array: tuple[int, int] | None = None,
) -> Prediction:
    """The configuration ``model`` (or the model saved in that folder) predicts for one GEMM, with
    its budget or array (see ``workload_inputs``)."""
    if not isinstance(model, AirchitectModel):
        model = load_model(model)
    space = model.space
    inputs = space.check(workload_inputs(space, gemm, budget, array))
    log_p = model.scores(inputs)[0]
    chosen = int(np.argmax(log_p))
    best_id, best_cycles = label(space, inputs)
    cycles = space.cost_pairs(inputs, np.asarray([chosen])).total_cycles
    return Prediction(
        case=space.case,
        inputs={name: int(v[0]) for name, v in inputs.items()},
        config_id=chosen,
        config=space.describe(chosen),
        probability=float(np.exp(log_p[chosen])),
        total_cycles=int(cycles[0]),
        best_config_id=int(best_id[0]),
        best_cycles=int(best_cycles[0]),
    )
