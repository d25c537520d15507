"""Calibration passes: feed sample batches and capture what the next layers to quantize receive.

Layers are quantized in the order the model executes them, each on the inputs the already-
quantized layers produce. Two savings keep that affordable on deep models:

- *siblings*: the layers that receive the very same input tensor (q, k and v of an attention;
  the two input projections of a gated MLP) are captured once, together;
- *block replay*: the input of the innermost repeated block around a layer (an element of an
  ``nn.ModuleList`` or ``nn.Sequential``, e.g. a transformer layer or a residual block) is kept
  when a full forward pass first reaches the block. Later captures inside that block run only
  the block on the kept inputs. This is exact because everything the block's input depends on
  was quantized before the block was reached. A block that runs more than once per forward
  pass (shared weights) is not replayed.

Every forward pass stops as soon as what it was run for has been seen. Kept block inputs are
copied, so blocks that write into their inputs cannot corrupt them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


class _ReachedError(Exception):
    """Raised by a capture hook to end a forward pass."""


def batch_size_of(batch: Any) -> int:
    """Examples in a batch: a tensor's first dimension, or that of a mapping's or sequence's first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, Mapping):
        for value in batch.values():
            if isinstance(value, torch.Tensor):
                return value.shape[0]
    if isinstance(batch, (tuple, list)) and batch:
        return batch_size_of(batch[0])
    raise TypeError(f"cannot tell the batch size of a {type(batch).__name__}")


def describe_batch(batch: Any) -> str:
    """Shapes of a batch's tensors, for error messages: ``tensor 4x3x8x8`` or ``{ids: 2x9, ...}``."""
    if isinstance(batch, torch.Tensor):
        return "tensor " + "x".join(str(d) for d in batch.shape)
    if isinstance(batch, Mapping):
        return "{" + ", ".join(f"{key}: {describe_batch(value)}" for key, value in batch.items()) + "}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(describe_batch(item) for item in batch) + ")"
    return type(batch).__name__


def limit_batches(batches: Iterable[Any], samples: int) -> list[Any]:
    """The first batches holding at least ``samples`` examples in total."""
    kept, seen = [], 0
    for batch in batches:
        if seen >= samples:
            break
        kept.append(batch)
        seen += batch_size_of(batch)
    if not kept:
        raise ValueError("the calibration data is empty")
    return kept


def run_model(model: nn.Module, batch: Any) -> Any:
    """Feed one batch as ``model(batch)`` (tuples are unpacked as positional arguments)."""
    return model(*batch) if isinstance(batch, tuple) else model(batch)


@dataclass
class Group:
    """Layers that receive the same input: their names (execution order) and that input per batch."""

    names: list[str]
    inputs: list[torch.Tensor]


@dataclass
class _BlockInputs:
    """What one block received on each calibration batch."""

    block: nn.Module
    args: list[tuple]
    kwargs: list[dict[str, Any]]


class CalibrationRunner:
    """Runs a model on calibration batches to capture layer inputs (see the module docstring)."""

    def __init__(self, model: nn.Module, batches: list[Any]) -> None:
        self.model = model
        self.batches = batches
        self._block_of = _innermost_blocks(model)
        self._kept: _BlockInputs | None = None

    def first_reached(self, pending: Mapping[nn.Module, str]) -> Group:
        """The first of the ``pending`` layers that a forward pass reaches, with its siblings
        among ``pending``, and their input on every batch. Raises RuntimeError if none is reached."""
        kept = self._kept
        inside = {m: name for m, name in pending.items() if kept and self._block_of.get(m) is kept.block}
        if kept is not None and inside:
            group = self._capture(inside, lambda i: kept.block(*_copy(kept.args[i]), **_copy(kept.kwargs[i])))
            if group.names:
                return group
        blocks = {self._block_of[m] for m in pending if m in self._block_of}
        group = self._capture(pending, lambda i: run_model(self.model, self.batches[i]), blocks)
        if not group.names:
            raise RuntimeError(
                f"no forward pass reaches {', '.join(sorted(pending.values()))}: are they used by the model?"
            )
        return group

    def _capture(
        self,
        pending: Mapping[nn.Module, str],
        forward: Callable[[int], Any],
        blocks: set[nn.Module] = frozenset(),
    ) -> Group:
        """Run ``forward(i)`` for every batch i: batch 0 finds the leader (the first pending layer
        reached) and its siblings; later batches only capture the leader's input. With ``blocks``,
        the inputs of the leader's block are kept for replay."""
        probe = _Probe(pending)
        hooks = [layer.register_forward_pre_hook(probe.layer_hook) for layer in pending]
        hooks += [block.register_forward_pre_hook(probe.block_hook, with_kwargs=True) for block in blocks]
        try:
            with torch.no_grad():
                for i in range(len(self.batches)):
                    probe.start_batch(i)
                    try:
                        forward(i)
                    except _ReachedError:
                        pass
                    except (RuntimeError, ValueError, TypeError, IndexError) as err:
                        raise ValueError(
                            f"calibration batch {i} ({describe_batch(self.batches[i])}) does not fit the "
                            f"model: {err}"
                        ) from err
                    if probe.leader is None:
                        return Group([], [])
                    if i == 0:  # from now on, hooks on the leader and its block only
                        for handle in hooks:
                            handle.remove()
                        hooks = [probe.leader.register_forward_pre_hook(probe.layer_hook)]
                        block = self._block_of.get(probe.leader)
                        if block in blocks:
                            hooks.append(block.register_forward_pre_hook(probe.block_hook, with_kwargs=True))
        finally:
            for handle in hooks:
                handle.remove()
        if blocks:
            self._kept = probe.block_inputs(self._block_of.get(probe.leader), len(self.batches))
        return Group(probe.names, probe.inputs)


class _Probe:
    """The state of one capture: the leader, its siblings, its inputs, the blocks entered before it."""

    def __init__(self, pending: Mapping[nn.Module, str]) -> None:
        self.pending = pending
        self.leader: nn.Module | None = None
        self.names: list[str] = []
        self.inputs: list[torch.Tensor] = []
        self.batch = 0
        self._tensor: torch.Tensor | None = None
        self._seen_in_batch = False
        self._block_calls: dict[nn.Module, list[tuple[int, tuple, dict[str, Any]]]] = {}

    def start_batch(self, index: int) -> None:
        self.batch, self._seen_in_batch = index, False

    def layer_hook(self, layer: nn.Module, args: tuple) -> None:
        x = args[0]
        if not self._seen_in_batch:
            self._seen_in_batch = True
            if self.batch == 0:
                self.leader, self._tensor = layer, x
                self.names.append(self.pending[layer])
            self.inputs.append(x.detach())
            if self.batch > 0:
                raise _ReachedError
        elif x is self._tensor and self.batch == 0:
            self.names.append(self.pending[layer])
        else:
            raise _ReachedError

    def block_hook(self, block: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        if not self._seen_in_batch:
            self._block_calls.setdefault(block, []).append((self.batch, _copy(args), _copy(kwargs)))

    def block_inputs(self, block: nn.Module | None, batches: int) -> _BlockInputs | None:
        """The kept inputs of ``block`` if it ran exactly once per batch before the leader."""
        calls = self._block_calls.get(block, [])
        if block is None or [batch for batch, _, _ in calls] != list(range(batches)):
            return None
        return _BlockInputs(block, [args for _, args, _ in calls], [kwargs for _, _, kwargs in calls])


def _innermost_blocks(model: nn.Module) -> dict[nn.Module, nn.Module]:
    """Each module's innermost strict ancestor that is an element of a ModuleList or Sequential."""
    block_of: dict[nn.Module, nn.Module] = {}

    def visit(module: nn.Module, block: nn.Module | None) -> None:
        for child in module.children():
            if block is not None:
                block_of[child] = block
            repeated = isinstance(module, (nn.ModuleList, nn.Sequential))
            visit(child, child if repeated else block)

    visit(model, None)
    return block_of


def _copy(value: Any) -> Any:
    """A copy of tensors inside (nested) tuples, lists and mappings; other values as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(item) for item in value)
    return value
