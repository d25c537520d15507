"""MNIST from its four official IDX files, and a LeNet-5-style CNN that Tessera trains on it.

Training (``EPOCHS`` epochs of Adam with a linearly decaying learning rate) takes under a minute
on two cores; the result is cached (see ``tessera.zoo.cache``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tessera.zoo.cache import cached_model
from tessera.zoo.evaluation import first, split_batches, top1_pct
from tessera.zoo.files import FileFormatError, require_file
from tessera.zoo.idx import read_idx
from tessera.zoo.registry import ModelSpec, Progress, register
from tessera.zoo.training import fit_classifier

FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}
MEAN, STD = 0.1307, 0.3081  # of the training pixels scaled to [0, 1]
SEED = 0
EPOCHS = 3
BATCH = 256
LEARNING_RATE = 4e-3


def load_mnist(data_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 28, 28) and labels int64 (N,) of the ``"train"`` or ``"test"`` split."""
    if split not in FILES:
        raise ValueError(f"unknown MNIST split {split!r}; valid: {', '.join(FILES)}")
    image_path, label_path = (require_file(data_dir, name) for name in FILES[split])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != torch.uint8 or images.shape[1:] != (28, 28):
        raise FileFormatError(image_path, f"expected uint8 images N x 28 x 28, got {tuple(images.shape)}")
    if labels.dtype != torch.uint8 or labels.dim() != 1 or len(labels) != len(images):
        raise FileFormatError(label_path, f"expected {len(images)} uint8 labels, got {tuple(labels.shape)}")
    if int(labels.max()) > 9:
        raise FileFormatError(label_path, f"labels must be 0..9, found {int(labels.max())}")
    return images, labels.long()


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) to float (N, 1, 28, 28) with the training mean and std."""
    return ((images.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def lenet() -> nn.Sequential:
    """LeNet-5 with ReLU and max pooling: two 5x5 convolutions (6, 16 channels), three linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def train_lenet(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int = SEED) -> nn.Sequential:
    """Train ``lenet`` on normalised images with Adam, learning rate decaying linearly to zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = lenet()
    fit_classifier(model, images, labels, epochs, LEARNING_RATE, BATCH, generator)
    return model.eval()


def build(data_dir: Path | None) -> nn.Module:
    """LeNet trained on the 60k training images, from the cache or trained now."""
    assert data_dir is not None

    def train() -> nn.Module:
        images, labels = load_mnist(data_dir, "train")
        return train_lenet(normalise(images), labels, EPOCHS)

    recipe = {"epochs": EPOCHS, "seed": SEED, "batch": BATCH, "lr": LEARNING_RATE, "schedule": "linear"}
    return cached_model("mnist-lenet", recipe, lenet, train)


def calibration(data_dir: Path | None, n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """Normalised training images (N, 1, 28, 28), the first ``n_samples`` in file order."""
    assert data_dir is not None
    images, _ = load_mnist(data_dir, "train")
    return split_batches(normalise(images[:n_samples]), n_samples, batch_size)


def evaluate(model: nn.Module, data_dir: Path | None, limit: int | None, progress: Progress | None) -> float:
    """Top-1 accuracy in percent on the 10k test images (or the first ``limit``)."""
    assert data_dir is not None
    images, labels = load_mnist(data_dir, "test")
    n = first(limit, len(labels))
    return top1_pct(model, normalise(images[:n]), labels[:n], 1000, progress)


SPEC = register(
    ModelSpec(
        name="mnist-lenet",
        metric="top1_pct",
        higher_is_better=True,
        dataset="MNIST test (10k images)",
        description="LeNet-5-style CNN (62k parameters) trained by Tessera on MNIST",
        needs_data=True,
        builder=build,
        calibrator=calibration,
        evaluator=evaluate,
    )
)
