"""CIFAR-10 from the official binary layout (``cifar-10-batches-bin``).

Each record is one label byte (0-9) and 3072 pixel bytes: the R, G and B planes of a 32x32
image, row-major. The shared data folder's copy went through JPEG quality 75 (lossy).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tessera.zoo.files import FileFormatError, require_file

FOLDER = "cifar10-jpeg-q75/cifar-10-batches-bin"
TRAIN_FILES = ("data_batch_1.bin", "data_batch_2.bin")
TEST_FILE = "test_batch.bin"
RECORD_BYTES = 1 + 3 * 32 * 32
MEAN = (0.485, 0.456, 0.406)  # per RGB channel, of pixels scaled to [0, 1]
STD = (0.229, 0.224, 0.225)


def read_cifar_batch(path: str | Path, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32) and labels int64 (N,) from one binary batch file.

    ``limit`` reads only the first records (the whole file's size is still checked).
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise FileFormatError(
            path, f"size {size} bytes is not a positive multiple of the {RECORD_BYTES}-byte CIFAR record"
        )
    count = size // RECORD_BYTES if limit is None else min(limit, size // RECORD_BYTES)
    with path.open("rb") as handle:
        raw = handle.read(count * RECORD_BYTES)
    records = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(count, RECORD_BYTES)
    labels = records[:, 0].long()
    if int(labels.max()) > 9:
        raise FileFormatError(path, f"labels must be 0..9, found {int(labels.max())}")
    return records[:, 1:].reshape(count, 3, 32, 32).clone(), labels


def load_cifar10(data_dir: Path, split: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``"test"`` split (10k images) or the ``"train"`` batches present, first ``limit`` images."""
    if split == "test":
        return read_cifar_batch(require_file(data_dir, f"{FOLDER}/{TEST_FILE}"), limit)
    if split != "train":
        raise ValueError(f"unknown CIFAR-10 split {split!r}; valid: train, test")
    images, labels = [], []
    remaining = limit
    for name in TRAIN_FILES:
        batch_images, batch_labels = read_cifar_batch(require_file(data_dir, f"{FOLDER}/{name}"), remaining)
        images.append(batch_images)
        labels.append(batch_labels)
        if remaining is not None:
            remaining -= len(batch_labels)
            if remaining == 0:
                break
    return torch.cat(images), torch.cat(labels)


def round_robin_order(labels: torch.Tensor) -> torch.Tensor:
    """Indices visiting the classes in turn: the first image of each class (by label), then the
    second of each, and so on. The test file is sorted by class; in this order any prefix is
    balanced (the first 1000 hold 100 images of each class)."""
    rank_in_class = torch.zeros_like(labels)
    for label in labels.unique():
        members = labels == label
        rank_in_class[members] = torch.arange(int(members.sum()))
    return torch.argsort(rank_in_class * (int(labels.max()) + 1) + labels, stable=True)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 3, 32, 32) to float32, scaled to [0, 1] then standardised per channel."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std
