"""AIRCHITECT's classifier: each input bucketed and embedded, the embeddings concatenated, dense ReLU
layers, a softmax over configuration ids. Trained with cross-entropy; predictions are restricted to
the configurations the workload allows (its budget), so a prediction is always a valid design.

Bucketing: a feature with ``choices`` (a budget, an array side) has one bucket per choice; a
log-uniform one (``M``, ``N``, ``K``) has ``buckets_per_octave`` buckets per doubling,
``floor(buckets_per_octave * log2 x)``, clipped to ``[1, DIM_HIGH]`` (larger values share the last
bucket), plus a coarser table (``coarse_buckets_per_octave``) whose row is added to the fine one.

A model folder holds ``model.safetensors`` (the weights) and ``model.json`` (case, training
settings, space definition, training record).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tessera.dse.airchitect.dataset import Dataset
from tessera.dse.airchitect.files import prepare_folder, read_json, recorded_space, require_file, write_json
from tessera.dse.airchitect.spaces import DesignSpace, get_space

SCHEMA_VERSION = 1
WEIGHTS_FILE, META_FILE = "model.safetensors", "model.json"
_KIND = "tessera.airchitect.model"

TrainProgress = Callable[[int, int, float], None]
"""Called as ``progress(epoch, epochs, mean training loss)`` after each epoch."""


@dataclass(frozen=True)
class TrainConfig:
    """The classifier's shape and its training.

    ``buckets_per_octave``: resolution of the log2 bucketing of ``M``, ``N``, ``K``;
    ``coarse_buckets_per_octave``: a second, coarser bucketing of the same inputs whose embedding is
    added to the fine one, so that neighbouring fine buckets share what they learn (0: none);
    ``embedding_dim``: width of each input's embedding; ``hidden``: widths of the dense ReLU layers;
    ``epochs``, ``batch_size``, ``learning_rate`` (Adam, cosine decay to zero), ``weight_decay``;
    ``seed``: initialization and batch order (training is deterministic on one machine).
    """

    buckets_per_octave: int = 16
    coarse_buckets_per_octave: int = 2
    embedding_dim: int = 16
    hidden: tuple[int, ...] = (256, 256)
    epochs: int = 20
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("buckets_per_octave", "embedding_dim", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        coarse = self.coarse_buckets_per_octave
        if not isinstance(coarse, int) or isinstance(coarse, bool) or coarse < 0:
            raise ValueError(f"TrainConfig.coarse_buckets_per_octave must be 0 or more, got {coarse!r}")
        if not self.hidden or any(
            not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in self.hidden
        ):
            raise ValueError(f"TrainConfig.hidden must be positive layer widths, got {self.hidden!r}")
        if not self.learning_rate > 0 or not self.weight_decay >= 0:
            raise ValueError("TrainConfig.learning_rate must be positive and weight_decay not negative")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"TrainConfig.seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values (``from_dict`` reads them back)."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object], where: str = "TrainConfig") -> TrainConfig:
        """The inverse of ``to_dict``; ValueError naming an unknown or missing key."""
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                raise ValueError(f"{where}: unknown key {key!r}; valid keys: {', '.join(names)}")
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"{where}: missing key {missing[0]!r}")
        values = dict(data)
        if not isinstance(values["hidden"], list):
            raise ValueError(f"{where}, field 'hidden': expected a list, got {values['hidden']!r}")
        values["hidden"] = tuple(values["hidden"])
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None


def _log_buckets(values: np.ndarray, per_octave: int) -> np.ndarray:
    return np.floor(per_octave * np.log2(values)).astype(np.int64)


def embedding_tables(space: DesignSpace, config: TrainConfig) -> tuple[list[int], list[tuple[int, int]]]:
    """(buckets of each input's fine table, [(input index, buckets)] of the coarse tables)."""
    fine, coarse = [], []
    for i, f in enumerate(space.features):
        if f.choices:
            fine.append(len(f.choices))
            continue
        fine.append(int(_log_buckets(np.asarray(f.high), config.buckets_per_octave)) + 1)
        if config.coarse_buckets_per_octave:
            coarse.append((i, int(_log_buckets(np.asarray(f.high), config.coarse_buckets_per_octave)) + 1))
    return fine, coarse


def encode(space: DesignSpace, config: TrainConfig, x: Mapping[str, np.ndarray]) -> torch.Tensor:
    """Bucket codes of checked inputs ``x``: ``(workloads, fine tables + coarse tables)``, int64.
    A choice is its index; a log-uniform value ``floor(per_octave * log2 value)``, clipped."""
    fine, coarse = embedding_tables(space, config)
    columns = []
    for f, n in zip(space.features, fine):
        if f.choices:
            columns.append(np.searchsorted(np.asarray(f.choices), x[f.name]))
        else:
            columns.append(np.minimum(_log_buckets(x[f.name], config.buckets_per_octave), n - 1))
    for i, n in coarse:
        values = x[space.features[i].name]
        columns.append(np.minimum(_log_buckets(values, config.coarse_buckets_per_octave), n - 1))
    return torch.from_numpy(np.stack(columns, axis=1))


class Network(nn.Module):
    """One embedding per input (the sum of its fine and coarse tables' rows), concatenated, dense
    ReLU layers, one logit per configuration."""

    def __init__(
        self,
        fine: list[int],
        coarse: list[tuple[int, int]],
        embedding_dim: int,
        hidden: tuple[int, ...],
        classes: int,
    ) -> None:
        super().__init__()
        self.fine = nn.ModuleList(nn.Embedding(n, embedding_dim) for n in fine)
        self.coarse = nn.ModuleList(nn.Embedding(n, embedding_dim) for _, n in coarse)
        self.coarse_input = [i for i, _ in coarse]
        layers: list[nn.Module] = []
        width = embedding_dim * len(fine)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, classes)`` of bucket codes ``(batch, tables)`` (see ``encode``)."""
        parts = [table(codes[:, i]) for i, table in enumerate(self.fine)]
        for j, (i, table) in enumerate(zip(self.coarse_input, self.coarse)):
            parts[i] = parts[i] + table(codes[:, len(self.fine) + j])
        return self.mlp(torch.cat(parts, dim=1))


def build_network(space: DesignSpace, config: TrainConfig) -> Network:
    """An untrained network for ``space`` shaped by ``config`` (initialized from torch's global RNG)."""
    fine, coarse = embedding_tables(space, config)
    return Network(fine, coarse, config.embedding_dim, config.hidden, space.num_configs)


@dataclass
class AirchitectModel:
    """A trained classifier of case study ``case``: ``predict`` maps workloads to configuration ids.
    ``record`` holds what training reported (training workloads, final mean loss, seconds)."""

    case: int
    config: TrainConfig
    network: Network
    record: dict[str, float] = field(default_factory=dict)

    @property
    def space(self) -> DesignSpace:
        """The design space of the model's case study."""
        return get_space(self.case)

    def scores(self, inputs: Mapping[str, object]) -> np.ndarray:
        """Log-probabilities ``(workloads, configurations)``, ``-inf`` where a configuration is not
        allowed (outside the workload's budget)."""
        space = self.space
        x = space.check(dict(inputs))
        self.network.eval()
        with torch.no_grad():
            logits = torch.cat([self.network(c) for c in encode(space, self.config, x).split(1 << 14)])
        allowed = torch.from_numpy(space.feasible(x))
        return torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=1).numpy()

    def ranked(self, inputs: Mapping[str, object], k: int) -> np.ndarray:
        """The ``k`` most likely allowed configuration ids of each workload, ``(workloads, k)``, most
        likely first; where fewer than ``k`` are allowed, the most likely one fills the rest."""
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        scores = self.scores(inputs)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        allowed = np.isfinite(np.take_along_axis(scores, order, axis=1))
        return np.where(allowed, order, order[:, :1])

    def predict(self, inputs: Mapping[str, object]) -> np.ndarray:
        """The most likely allowed configuration id of each workload."""
        return self.ranked(inputs, 1)[:, 0]


def train(
    dataset: Dataset,
    config: TrainConfig | None = None,
    progress: TrainProgress | None = None,
    threads: int | None = 1,
) -> AirchitectModel:
    """Train a classifier on ``dataset`` (all of it: split it first to hold out a test set).

    ``threads``: torch's intra-op threads while training (restored afterwards; None leaves them).
    The layers are small, so one thread is fastest: more spend their time synchronizing.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(dataset, config or TrainConfig(), progress)
    finally:
        torch.set_num_threads(previous)


def _train(dataset: Dataset, config: TrainConfig, progress: TrainProgress | None) -> AirchitectModel:
    space = dataset.space
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = build_network(space, config)
    codes = encode(space, config, space.check(dict(dataset.inputs)))
    targets = torch.from_numpy(dataset.labels)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = config.epochs * -(-len(dataset) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    mean_loss = float("nan")
    network.train()
    for epoch in range(config.epochs):
        total = 0.0
        for batch in torch.randperm(len(dataset), generator=generator).split(config.batch_size):
            loss = loss_fn(network(codes[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        mean_loss = total / len(dataset)
        if progress is not None:
            progress(epoch + 1, config.epochs, mean_loss)
    network.eval()
    record = {
        "train_workloads": len(dataset),
        "final_loss": mean_loss,
        "train_seconds": time.perf_counter() - start,
    }
    return AirchitectModel(dataset.case, config, network, record)


def save_model(model: AirchitectModel, folder: str | Path, force: bool = False) -> Path:
    """Write ``model`` to ``folder`` (created if needed); FileExistsError if it holds a model
    already, unless ``force``. Returns the folder."""
    from safetensors.torch import save_file

    path = prepare_folder(folder, (WEIGHTS_FILE, META_FILE), force)
    state = {name: t.detach().contiguous() for name, t in model.network.state_dict().items()}
    save_file(state, str(path / WEIGHTS_FILE))
    meta = {
        "kind": _KIND,
        "schema_version": SCHEMA_VERSION,
        "case": model.case,
        "config": model.config.to_dict(),
        "space": model.space.to_dict(),
        "record": model.record,
    }
    write_json(path / META_FILE, meta)
    return path


def load_model(folder: str | Path) -> AirchitectModel:
    """The model saved in ``folder``. FileNotFoundError naming a missing file; ValueError naming the
    file and key of anything malformed (a missing or misshapen weight included)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta_path = require_file(folder, META_FILE, "an AIRCHITECT model")
    weights_path = require_file(folder, WEIGHTS_FILE, "an AIRCHITECT model")
    meta = read_json(
        meta_path, _KIND, SCHEMA_VERSION, ("kind", "schema_version", "case", "config", "space", "record")
    )
    space = recorded_space(meta, "the model was trained on")
    case = space.case
    config = TrainConfig.from_dict(meta.take("config", dict), meta.field("config"))
    record = meta.take("record", dict)
    network = build_network(space, config)
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{weights_path}: not a readable safetensors file ({err})") from None
    expected = network.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise ValueError(f"{weights_path}: missing tensor {name!r}")
        if state[name].shape != tensor.shape:
            found, wanted = tuple(state[name].shape), tuple(tensor.shape)
            raise ValueError(f"{weights_path}: tensor {name!r} has shape {found}, expected {wanted}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise ValueError(f"{weights_path}: unexpected tensor {extra[0]!r}")
    network.load_state_dict(state)
    network.eval()
    return AirchitectModel(case, config, network, record)
