"""Labelled workloads of a case study: generate them (sample, then search every allowed configuration
with the closed-form systolic model), split them, save and load them.

A dataset folder holds ``dataset.npz`` (one int64 array per input, ``label`` and ``best_cycles``;
read without pickle) and ``dataset.json`` (case, seed, schema version and the definition of the
space it was labelled in, checked on load against the current one).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.dse.airchitect.files import prepare_folder, read_json, recorded_space, require_file, write_json
from tessera.dse.airchitect.spaces import DIM_HIGH, DesignSpace, get_space

SCHEMA_VERSION = 1
DATA_FILE, META_FILE = "dataset.npz", "dataset.json"
_KIND = "tessera.airchitect.dataset"
_CHUNK_PAIRS = 1 << 19

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` (workloads) after each chunk of work."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Workloads of case study ``case`` and their labels.

    ``inputs``: feature name -> int64 array, one value per workload (see the space's ``features``);
    ``labels``: the optimal configuration id of each workload (fewest total cycles, ties broken as
    the space's docstring says); ``best_cycles``: its total cycles; ``seed``: the sampling seed;
    ``max_dim``: the largest ``M``, ``N``, ``K`` it was sampled with.
    """

    case: int
    seed: int
    inputs: Mapping[str, np.ndarray]
    labels: np.ndarray
    best_cycles: np.ndarray
    max_dim: int = DIM_HIGH

    @property
    def space(self) -> DesignSpace:
        """The design space of the dataset's case study."""
        return get_space(self.case)

    def __len__(self) -> int:
        """The number of workloads."""
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Dataset:
        """The workloads at ``index`` (integer positions or a boolean mask)."""
        return Dataset(
            self.case,
            self.seed,
            {name: values[index] for name, values in self.inputs.items()},
            self.labels[index],
            self.best_cycles[index],
            self.max_dim,
        )

    def split(self, test_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
        """(train, test): a random ``test_fraction`` of the workloads is held out, chosen with
        ``numpy.random.default_rng(seed)``."""
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        n_test = max(1, round(test_fraction * len(self)))
        if n_test >= len(self):
            raise ValueError(f"{len(self)} workloads are too few to hold out {test_fraction:.0%}")
        return self.subset(np.sort(order[n_test:])), self.subset(np.sort(order[:n_test]))


def label(
    space: DesignSpace, inputs: Mapping[str, object], progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, best total cycles) of the workloads ``inputs`` by exhaustive search: every allowed
    configuration of every workload is costed with ``tessera.hw.systolic.cost_batch``; the label is
    the one with the fewest total cycles, then the smallest ``space.tie_break``, then the lowest id."""
    x = space.check(dict(inputs))
    total = len(x["m"])
    per_chunk = max(1, _CHUNK_PAIRS // space.num_configs)
    labels, best = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
    for start in range(0, total, per_chunk):
        part = slice(start, min(start + per_chunk, total))
        labels[part], best[part] = _label_chunk(space, {name: v[part] for name, v in x.items()})
        if progress is not None:
            progress(part.stop, total)
    return labels, best


def _label_chunk(space: DesignSpace, x: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    allowed = space.feasible(x)
    counts = allowed.sum(axis=1)
    if (counts == 0).any():
        raise ValueError(f"case {space.case}: a workload allows no configuration")
    workload, config = np.nonzero(allowed)  # grouped by workload, ids ascending within a group
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    c = space.cost_pairs({name: v[workload] for name, v in x.items()}, config)
    cycles = c.total_cycles
    fewest = np.minimum.reduceat(cycles, starts)
    candidate = cycles == fewest[workload]
    second = np.where(candidate, np.asarray(space.tie_break(c, config), dtype=float), np.inf)
    candidate &= second == np.minimum.reduceat(second, starts)[workload]
    winners = np.flatnonzero(candidate)
    _, first = np.unique(workload[winners], return_index=True)
    return config[winners[first]], fewest


def label_reference(space: DesignSpace, inputs: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    """``label`` written plainly: one ``tessera.hw.systolic.cost`` call per workload and allowed
    configuration, the minimum of ``(total cycles, tie_break, id)``. Slow; the executable spec."""
    x = space.check(dict(inputs))
    allowed = space.feasible(x)
    labels, best = [], []
    for i in range(len(x["m"])):
        row = {name: int(values[i]) for name, values in x.items()}
        keys = []
        for config in np.flatnonzero(allowed[i]):
            c = space.scalar_cost(row, int(config))
            keys.append((c.total_cycles, space.tie_break(c, int(config)), int(config)))
        cycles, _, config = min(keys)
        labels.append(config)
        best.append(cycles)
    return np.asarray(labels, dtype=np.int64), np.asarray(best, dtype=np.int64)


def generate(
    case: int, samples: int, seed: int = 0, progress: Progress | None = None, max_dim: int = DIM_HIGH
) -> Dataset:
    """``samples`` workloads of case study ``case`` drawn with ``seed``, ``M``, ``N``, ``K`` up to
    ``max_dim`` (see ``DesignSpace.sample``), labelled by ``label``. The same arguments give the
    same dataset."""
    space = get_space(case)
    inputs = space.sample(samples, seed, max_dim)
    labels, best = label(space, inputs, progress)
    return Dataset(case, seed, inputs, labels, best, max_dim)


def save_dataset(dataset: Dataset, folder: str | Path, force: bool = False) -> Path:
    """Write ``dataset`` to ``folder`` (created if needed); FileExistsError if it holds a dataset
    already, unless ``force``. Returns the folder."""
    path = prepare_folder(folder, (DATA_FILE, META_FILE), force)
    arrays = {name: np.asarray(v, dtype=np.int64) for name, v in dataset.inputs.items()}
    arrays.update(label=dataset.labels.astype(np.int64), best_cycles=dataset.best_cycles.astype(np.int64))
    with open(path / DATA_FILE, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    meta = {
        "kind": _KIND,
        "schema_version": SCHEMA_VERSION,
        "case": dataset.case,
        "seed": dataset.seed,
        "max_dim": dataset.max_dim,
        "samples": len(dataset),
        "space": dataset.space.to_dict(),
    }
    write_json(path / META_FILE, meta)
    return path


def load_dataset(folder: str | Path) -> Dataset:
    """The dataset saved in ``folder``. FileNotFoundError naming a missing file; ValueError naming
    the file and key of anything malformed, or a space defined differently from the current one."""
    meta_path = require_file(folder, META_FILE, "an AIRCHITECT dataset")
    data_path = require_file(folder, DATA_FILE, "an AIRCHITECT dataset")
    meta = read_json(
        meta_path,
        _KIND,
        SCHEMA_VERSION,
        ("kind", "schema_version", "case", "seed", "max_dim", "samples", "space"),
    )
    space = recorded_space(meta, "the dataset was labelled in")
    case = space.case
    samples, seed, max_dim = meta.take("samples", int), meta.take("seed", int), meta.take("max_dim", int)
    expected = (*space.feature_names, "label", "best_cycles")
    arrays = _read_npz(data_path, expected)
    for name, values in arrays.items():
        if values.shape != (samples,) or values.dtype.kind not in "iu":
            raise ValueError(
                f"{data_path}: array {name!r} must hold {samples} integers, got {values.dtype} {values.shape}"
            )
    labels = arrays["label"].astype(np.int64)
    if ((labels < 0) | (labels >= space.num_configs)).any():
        raise ValueError(f"{data_path}: array 'label' holds ids outside 0..{space.num_configs - 1}")
    try:
        inputs = space.check({name: arrays[name] for name in space.feature_names})
    except ValueError as err:
        raise ValueError(f"{data_path}: {err}") from None
    return Dataset(case, seed, inputs, labels, arrays["best_cycles"].astype(np.int64), max_dim)


def _read_npz(path: Path, expected: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npz file of plain arrays ({err})") from None
    missing = [name for name in expected if name not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array {missing[0]!r}")
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise ValueError(f"{path}: unexpected array {extra[0]!r}")
    return arrays
