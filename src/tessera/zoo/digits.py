"""The embedded default: scikit-learn's bundled 8x8 digits and a small CNN trained on them.

Needs no download: the digits ship inside scikit-learn's wheel. Training takes a few seconds
on two cores and is deterministic for a given seed; the registered ``digits-cnn`` trains once and
is cached (see ``tessera.zoo.cache``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tessera.zoo.cache import cached_model
from tessera.zoo.evaluation import first, split_batches, top1_pct
from tessera.zoo.registry import ModelSpec, Progress, register

SEED = 0
EPOCHS = 20


@dataclass(frozen=True)
class DigitsSplit:
    """Images as float tensors (N, 1, 8, 8) scaled to [0, 1], labels as int64 (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    """The 1,797 digits split into train and test sets, stratified by class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(data.target, dtype=torch.int64)
    train, test = train_test_split(
        range(len(labels)), test_size=test_fraction, random_state=seed, stratify=data.target
    )
    return DigitsSplit(images[train], labels[train], images[test], labels[test])


def digits_cnn() -> nn.Sequential:
    """Two 3x3 convolutions, a pooling, two linear layers: 38k parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train_digits_cnn(split: DigitsSplit, epochs: int = 20, seed: int = 0) -> nn.Sequential:
    """Train ``digits_cnn`` with Adam on the training split; returns the model in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = digits_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = len(split.train_labels)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss_fn(model(split.train_images[batch]), split.train_labels[batch]).backward()
            optimizer.step()
    return model.eval()


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1]."""
    with torch.no_grad():
        return float((model(images).argmax(dim=1) == labels).float().mean())


def build(_: Path | None) -> nn.Module:
    """The digits CNN trained with seed 0 for 20 epochs, from the cache or trained (a few seconds)."""
    return cached_model(
        "digits-cnn",
        {"epochs": EPOCHS, "seed": SEED, "test_fraction": 0.25, "lr": 3e-3, "batch": 64},
        digits_cnn,
        lambda: train_digits_cnn(load_digits_split(seed=SEED), epochs=EPOCHS, seed=SEED),
    )


def calibration(_: Path | None, n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """Images (N, 1, 8, 8) in [0, 1] from the training split."""
    return split_batches(load_digits_split(seed=SEED).train_images, n_samples, batch_size)


def evaluate(model: nn.Module, _: Path | None, limit: int | None, progress: Progress | None) -> float:
    """Top-1 accuracy in percent on the 450-image test split (or its first ``limit`` images)."""
    split = load_digits_split(seed=SEED)
    n = first(limit, len(split.test_labels))
    return top1_pct(model, split.test_images[:n], split.test_labels[:n], 512, progress)


SPEC = register(
    ModelSpec(
        name="digits-cnn",
        metric="top1_pct",
        higher_is_better=True,
        dataset="scikit-learn digits 8x8, stratified test split (450 images)",
        description="2-conv CNN (38k parameters) trained by Tessera on scikit-learn's bundled digits",
        needs_data=False,
        builder=build,
        calibrator=calibration,
        evaluator=evaluate,
    )
)
