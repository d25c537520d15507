"""Capture a PyTorch model into a workload by running it once on an example input.

The model runs under a recorder (``tessera.workload.recorder``) that sees every torch function
it calls and follows tensors from producer to consumer; nothing is traced symbolically, so
models with data-dependent Python (Hugging Face transformers) capture as they run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from tessera.workload.graph import Workload
from tessera.workload.recorder import Recorder


class CaptureError(RuntimeError):
    """The model failed while it was being captured; the message names the module that was running
    and the example input's shapes, and the model's own error is chained as the cause."""


def capture(model: nn.Module, example_input: Any, name: str | None = None) -> Workload:
    """Run ``model`` once on ``example_input`` (fed as ``model(*example_input)`` for a tuple, else
    ``model(example_input)``) and return its workload. The model runs in eval mode without
    gradients; its training flags are put back afterwards and a mapping input is not modified.

    ValueError for an input without tensors or with a zero-size dimension; CaptureError when the
    model itself fails on the input.
    """
    named = list(_named_tensors(example_input, "example_input"))
    if not named:
        raise ValueError(f"example_input holds no tensor (got {type(example_input).__name__})")
    for label, tensor in named:
        if any(size < 1 for size in tensor.shape):
            raise ValueError(f"{label} has shape {tuple(tensor.shape)}: every dimension must be positive")
    recorder = Recorder(model)
    for _, tensor in named:
        recorder.follow_input(tensor)
    handles = recorder.attach(model)
    training = {module: module.training for module in model.modules()}
    feed = copy.copy(example_input) if isinstance(example_input, Mapping) else example_input
    try:
        model.eval()
        with torch.no_grad(), recorder:
            model(*feed) if isinstance(feed, tuple) else model(feed)
    except Exception as err:
        shapes = ", ".join(f"{label} {tuple(tensor.shape)}" for label, tensor in named)
        raise CaptureError(
            f"capturing {type(model).__name__} failed {recorder.blame(err)} on {shapes}: "
            f"{type(err).__name__}: {err}"
        ) from err
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
    return Workload(
        name=name or type(model).__name__,
        ops=recorder.finish(),
        inputs=tuple(tuple(tensor.shape) for _, tensor in named),
    )


def _named_tensors(obj: Any, label: str) -> Iterator[tuple[str, torch.Tensor]]:
    """The tensors of an example input with where they sit (``example_input['input_ids']``)."""
    if isinstance(obj, torch.Tensor):
        yield label, obj
    elif isinstance(obj, (tuple, list)):
        for i, item in enumerate(obj):
            yield from _named_tensors(item, f"{label}[{i}]")
    elif isinstance(obj, Mapping):
        for key, item in obj.items():
            yield from _named_tensors(item, f"{label}[{key!r}]")
