"""Helpers shared by the evaluators: batching, subsets, top-1 accuracy, rank correlation."""

from __future__ import annotations

import torch
from torch import nn

from tessera.zoo.registry import Progress


def first(limit: int | None, total: int) -> int:
    """How many examples to use: all ``total``, or the first ``limit`` of them."""
    return total if limit is None else min(limit, total)


def split_batches(inputs: torch.Tensor, n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """The first ``n_samples`` rows of ``inputs`` cut into batches of ``batch_size`` rows."""
    head = inputs[:n_samples]
    return [head[start : start + batch_size] for start in range(0, len(head), batch_size)]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU if it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def top1_pct(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    progress: Progress | None,
) -> float:
    """Top-1 accuracy in percent of ``model`` on the (already normalised) images."""
    device = model_device(model)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            logits = model(images[start : start + batch_size].to(device))
            correct += int((logits.argmax(dim=1).cpu() == labels[start : start + batch_size]).sum())
            if progress is not None:
                progress(min(start + batch_size, len(labels)), len(labels))
    return 100.0 * correct / len(labels)


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a 1-D tensor in float64, ties sharing the mean of their ranks."""
    values = values.double()
    order = torch.argsort(values, stable=True)
    sorted_values = values[order]
    ranks = torch.empty_like(values)
    start = 0
    n = len(values)
    while start < n:
        end = start
        while end + 1 < n and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation in [-1, 1]: Pearson correlation of the tie-averaged ranks."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / torch.sqrt((rx * rx).sum() * (ry * ry).sum()))
