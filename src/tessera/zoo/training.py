"""The training loop shared by the models Tessera trains itself (MNIST, CIFAR-10)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def fit_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    learning_rate: float,
    batch: int,
    generator: torch.Generator,
    augment: Augment | None = None,
    after_step: Callable[[], None] | None = None,
    after_epoch: Callable[[int, float], None] | None = None,
) -> nn.Module:
    """Minimize cross-entropy with Adam, the learning rate decaying linearly to zero, over shuffled
    batches (order from ``generator``; ``augment(batch, generator)`` transforms each batch;
    ``after_step()`` runs after each optimizer step, ``after_epoch(epoch, mean_loss)`` after each
    epoch, counted from 1). Returns ``model`` in training mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    steps = epochs * -(-len(labels) // batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(labels), generator=generator)
        total_loss = 0.0
        for start in range(0, len(labels), batch):
            chosen = order[start : start + batch]
            inputs = images[chosen] if augment is None else augment(images[chosen], generator)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), labels[chosen])
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(chosen)
            if after_step is not None:
                after_step()
        if after_epoch is not None:
            after_epoch(epoch, total_loss / len(labels))
    return model
