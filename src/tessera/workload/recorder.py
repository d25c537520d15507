"""The recorder behind ``capture``: a ``TorchFunctionMode`` that turns function calls into ops.

Every torch function and tensor method the model calls passes through ``__torch_function__``.
Each tensor is followed by identity from the op that produced it to the ops that read it;
views, copies, concatenation and padding (``layout``) pass their inputs' producers on, so a skip
connection through slicing and zero padding still leads back to its source. Forward hooks keep
a stack of the modules running, which names each op after its module.

Writes in place or through ``out=`` are also remembered per block of memory, so a result built
by writing into views of a buffer still leads back to the ops that wrote it (at the granularity
of the whole buffer: a later view of any part reads every writer).

Functions whose inputs are all constants (parameters, buffers, fresh tensors) are folded away,
and so are functions on integer and boolean tensors (index and mask bookkeeping), except table
lookups, and functions that read only boolean masks (turning one into an additive mask).

Inside a Tessera ``QuantizedLayer`` only the linear or convolution is recorded, with the layer's
weight and input formats; the fake quantization around it is not part of the workload. Likewise
a call of Tessera's fake-quantized attention (``fake_quant_attention``, which ``quantize_`` puts
in place of scaled dot-product attention, and which honours ``__torch_function__``) reaches the
recorder as one call and is recorded as ``F.scaled_dot_product_attention`` is, with its operand
format on the two matmuls.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tessera.quant.attention import fake_quant_attention
from tessera.quant.layers import QuantizedLayer
from tessera.workload.attention import (
    record_attention,
    record_multihead_attention,
    record_quantized_attention,
)
from tessera.workload.graph import Op, OpFormats, Param
from tessera.workload.lowering import (
    argument,
    conv_shapes,
    dtype_format,
    function_name,
    is_reflected,
    linear_gemm,
    matmul_gemm,
    matmul_operands,
    ordered_unique,
    pool_window,
    role_of,
    writes_in_place,
)
from tessera.workload.shapes import ConvShape, GemmShape, PoolWindow

WEIGHT_ROLES = ("gemm", "conv1d", "conv2d", "embedding")


@dataclass(frozen=True)
class Frame:
    """A module call in progress."""

    path: str
    module_type: str
    call: int
    leaf: bool
    quantized: QuantizedLayer | None
    input_producers: tuple[int, ...]


@dataclass(frozen=True)
class Pending:
    """An op recorded during the run; producers are indices until names are chosen."""

    kind: str
    function: str
    label: str
    frame: Frame | None
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    formats: OpFormats
    producers: tuple[int, ...]
    params: tuple[Param, ...] = ()
    gemm_shape: GemmShape | None = None
    conv_shape: ConvShape | None = None
    window: PoolWindow | None = None


class Recorder(TorchFunctionMode):
    """Records ops while active. ``sources`` maps a tensor's id to (producer indices, the tensor);
    ``written`` maps the address of memory written in place or through ``out=`` to (indices of
    the ops that wrote it, a tensor on it); ``stored`` maps the ids of parameters, buffers and
    their views to (name, stored tensor). All keep their tensors alive so that ids and addresses
    stay unique."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        named = (*model.named_parameters(), *model.named_buffers())
        self.stored: dict[int, tuple[str, torch.Tensor]] = {id(t): (n, t) for n, t in named}
        self.views: list[torch.Tensor] = []
        self.sources: dict[int, tuple[tuple[int, ...], torch.Tensor]] = {}
        self.written: dict[int, tuple[tuple[int, ...], torch.Tensor]] = {}
        self.frames: list[Frame] = []
        self.pending: list[Pending] = []
        self.calls = 0
        self.blamed: dict[int, tuple[BaseException, Frame]] = {}

    def attach(self, model: nn.Module) -> list[Any]:
        """Forward hooks on every module that keep ``frames`` current; returns their handles."""
        handles = []
        for path, module in model.named_modules():
            leaf = next(module.children(), None) is None
            handles.append(module.register_forward_pre_hook(partial(self._enter, path, leaf)))
            handles.append(module.register_forward_hook(self._leave, always_call=True))
        return handles

    def _enter(self, path: str, leaf: bool, module: nn.Module, args: tuple) -> None:
        self.calls += 1
        outer = self.frames[-1].quantized if self.frames else None
        quantized = module if isinstance(module, QuantizedLayer) else outer
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        inputs = self.producers([first]) if first is not None else ()
        self.frames.append(Frame(path, type(module).__name__, self.calls, leaf, quantized, inputs))

    def _leave(self, module: nn.Module, args: tuple, output: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self._blame(error)
        self.frames.pop()

    def _blame(self, error: BaseException) -> None:
        if self.frames:
            self.blamed.setdefault(id(error), (error, self.frames[-1]))

    def blame(self, error: BaseException) -> str:
        """Where ``error`` arose: the innermost module that was running."""
        found = self.blamed.get(id(error))
        if found is None:
            return "in the model's forward"
        frame = found[1]
        return f"in module {frame.path or '(the model)'!r} ({frame.module_type})"

    def __torch_function__(
        self, func: Any, types: tuple, args: tuple = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        try:
            out = func(*args, **kwargs)
        except Exception as error:
            self._blame(error)
            raise
        if func is fake_quant_attention:
            self._quantized_attention(*args, **kwargs, out=out)
        else:
            self._observe(func, args, kwargs, out)
        return out

    def _quantized_attention(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        fmt: str,
        mask: Any = None,
        *_: Any,
        out: torch.Tensor,
    ) -> None:
        """A ``fake_quant_attention`` call, seen as one call (its internals run outside the mode):
        recorded like scaled dot-product attention, its matmuls reading ``fmt`` operands. Folded
        away when query, key and value are all constants."""
        if not any(self.followed(t) for t in (query, key, value)):
            return
        frame = self.frames[-1] if self.frames else None
        self.produce([out], record_quantized_attention(self, query, key, value, fmt, mask, frame))

    def _observe(self, func: Any, args: tuple, kwargs: dict[str, Any], out: Any) -> None:
        name = function_name(func)
        # a tensor passed as ``out=`` is written, not read
        inputs = list(all_tensors((args, {key: value for key, value in kwargs.items() if key != "out"})))
        written = list(all_tensors(kwargs.get("out")))
        if not written and writes_in_place(func):
            written = list(all_tensors(args[:1]))
        if name == "setitem":  # ``target[index] = value`` writes value's producers into target
            self._pass_through([t for t in inputs if self.followed(t)], [args[0]], keep=True)
        else:
            self._dispatch(func, name, args, kwargs, inputs, list(all_tensors(out)))
        for tensor in written:
            self._mark_written(tensor)

    def _dispatch(
        self,
        func: Any,
        name: str,
        args: tuple,
        kwargs: dict[str, Any],
        inputs: list[torch.Tensor],
        outputs: list[torch.Tensor],
    ) -> None:
        role = role_of(name, len(inputs))
        if not outputs or role == "fresh":
            return
        active = [t for t in inputs if self.followed(t)]
        frame = self.frames[-1] if self.frames else None
        if frame is not None and frame.quantized is not None and role not in WEIGHT_ROLES:
            role = "layout"
        computes = (
            any(t.is_floating_point() for t in outputs)
            and all(t.numel() for t in outputs)
            and any(t.dtype != torch.bool for t in active)  # a function of masks only is bookkeeping
        )
        if role == "layout" and not active:
            self._follow_stored(inputs, outputs)
        elif role == "layout" or (role not in WEIGHT_ROLES and (not active or not computes)):
            self._pass_through(active, outputs)
        elif role in WEIGHT_ROLES:
            self._weight_op(role, name, args, kwargs, active, outputs, frame)
        elif role == "matmul":
            self._matmul(name, func, args, kwargs, outputs, frame)
        elif role == "attention":
            record_attention(self, args, kwargs, outputs, frame)
        elif role == "multihead_attention":
            record_multihead_attention(self, args, kwargs, outputs, frame)
        else:
            window = pool_window(name, args, kwargs) if role == "pool" else None
            self._record(
                role, name, frame, active, outputs, self.producers(active), self.params(inputs), window=window
            )

    def _mark_written(self, tensor: torch.Tensor) -> None:
        """Remember who wrote into a tensor's memory, for every view of it (``result`` after a
        function wrote ``out=result[rows]``)."""
        producers = self.sources.get(id(tensor), ((), None))[0]
        key = _memory(tensor)
        if key is None or not self.followed(tensor):
            return
        before = self.written.get(key, ((), None))[0]
        self.written[key] = (ordered_unique(before + producers), tensor)

    def _pass_through(
        self, active: list[torch.Tensor], outputs: list[torch.Tensor], keep: bool = False
    ) -> None:
        if not active:
            return
        producers = self.producers(active)
        for tensor in outputs:
            kept = self.sources[id(tensor)][0] if keep and id(tensor) in self.sources else ()
            self.sources[id(tensor)] = (ordered_unique(kept + producers), tensor)

    def _follow_stored(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        """A view or copy of a parameter or buffer (``weight.T``) still reads that stored tensor."""
        found = [self.stored[id(t)] for t in inputs if id(t) in self.stored]
        if not found:
            return
        for tensor in outputs:
            self.stored[id(tensor)] = found[0]
            self.views.append(tensor)

    def _weight_op(
        self,
        role: str,
        name: str,
        args: tuple,
        kwargs: dict[str, Any],
        active: list[torch.Tensor],
        outputs: list[torch.Tensor],
        frame: Frame | None,
    ) -> None:
        x = argument(args, kwargs, 0, "input")
        weight = argument(args, kwargs, 1, "weight")
        quantized = frame.quantized if frame is not None else None
        readers = [x, *(t for t in active if t is not x)]
        gemm_shape, conv_shape = None, None
        if role == "gemm":
            gemm_shape = linear_gemm(tuple(x.shape), tuple(weight.shape))
        elif role in ("conv1d", "conv2d"):
            gemm_shape, conv_shape = conv_shapes(
                1 if role == "conv1d" else 2,
                tuple(x.shape),
                tuple(weight.shape),
                tuple(outputs[0].shape),
                argument(args, kwargs, 3, "stride", 1),
                argument(args, kwargs, 4, "padding", 0),
                argument(args, kwargs, 5, "dilation", 1),
                argument(args, kwargs, 6, "groups", 1),
            )
        if quantized is not None:
            producers = frame.input_producers
            input_format = quantized.input_format or dtype_format(x.dtype)
            weight_format = quantized.weight_format
        else:
            producers = self.producers(readers)
            input_format, weight_format = dtype_format(x.dtype), None
        params = self.params(list(all_tensors((args, kwargs))), {id(weight): weight_format})
        self._record(
            "matmul" if role == "gemm" and self.followed(weight) else role,  # a computed "weight"
            name,
            frame,
            readers,
            outputs,
            producers,
            params,
            gemm_shape,
            conv_shape,
            input_format=input_format,
        )

    def _matmul(
        self,
        name: str,
        func: Any,
        args: tuple,
        kwargs: dict[str, Any],
        outputs: list[torch.Tensor],
        frame: Frame | None,
    ) -> None:
        left, right = matmul_operands(name, args, kwargs)
        if is_reflected(func):
            left, right = right, left
        operands = [left, right]
        active = [t for t in operands if self.followed(t)]
        kind = "matmul" if len(active) == 2 else "gemm"
        gemm_shape = matmul_gemm(tuple(left.shape), tuple(right.shape))
        params = self.params(operands)
        self._record(kind, name, frame, active, outputs, self.producers(active), params, gemm_shape)

    def _record(
        self,
        kind: str,
        function: str,
        frame: Frame | None,
        readers: list[torch.Tensor],
        outputs: list[torch.Tensor],
        producers: tuple[int, ...],
        params: tuple[Param, ...],
        gemm_shape: GemmShape | None = None,
        conv_shape: ConvShape | None = None,
        input_format: str | None = None,
        window: PoolWindow | None = None,
    ) -> None:
        """Add an op whose label is its function, and make it the producer of ``outputs``."""
        if input_format is None and readers:
            input_format = dtype_format(readers[0].dtype)
        index = self.emit(
            kind,
            function,
            function,
            frame,
            tuple(tuple(t.shape) for t in readers),
            tuple(tuple(t.shape) for t in outputs),
            OpFormats(input_format, dtype_format(outputs[0].dtype)),
            producers,
            params,
            gemm_shape,
            conv_shape,
            window,
        )
        self.produce(outputs, index)

    def emit(
        self,
        kind: str,
        function: str,
        label: str,
        frame: Frame | None,
        inputs: tuple[tuple[int, ...], ...],
        outputs: tuple[tuple[int, ...], ...],
        formats: OpFormats,
        producers: tuple[int, ...],
        params: tuple[Param, ...] = (),
        gemm_shape: GemmShape | None = None,
        conv_shape: ConvShape | None = None,
        window: PoolWindow | None = None,
    ) -> int:
        """Add an op (producers as indices); returns its index."""
        self.pending.append(
            Pending(
                kind,
                function,
                label,
                frame,
                inputs,
                outputs,
                formats,
                producers,
                params,
                gemm_shape,
                conv_shape,
                window,
            )
        )
        return len(self.pending) - 1

    def produce(self, outputs: list[torch.Tensor], index: int) -> None:
        """Make op ``index`` the producer of ``outputs``."""
        for tensor in outputs:
            self.sources[id(tensor)] = ((index,), tensor)

    def follow_input(self, tensor: torch.Tensor) -> None:
        """Follow a model input: it derives from the inputs, and no op produced it."""
        self.sources[id(tensor)] = ((), tensor)

    def followed(self, tensor: torch.Tensor) -> bool:
        """Whether a tensor derives from the model's inputs, itself or through memory written into
        (else it is a constant)."""
        return id(tensor) in self.sources or (bool(self.written) and _memory(tensor) in self.written)

    def producers(self, tensors: list[torch.Tensor]) -> tuple[int, ...]:
        """Indices of the ops that produced ``tensors`` or wrote into their memory, in order, once each."""
        found: list[int] = []
        for tensor in tensors:
            found += self.sources.get(id(tensor), ((), None))[0]
            if self.written:
                found += self.written.get(_memory(tensor), ((), None))[0]
        return ordered_unique(tuple(found))

    def params(
        self, tensors: list[torch.Tensor], formats: dict[int, str | None] | None = None
    ) -> tuple[Param, ...]:
        """The model's parameters and buffers among ``tensors``, at their dtype's format unless
        ``formats`` (by tensor id) names another."""
        params = []
        for tensor in tensors:
            name, stored = self.stored.get(id(tensor), ("", tensor))
            if not name or any(p.name == name for p in params):
                continue
            fmt = (formats or {}).get(id(tensor)) or dtype_format(stored.dtype)
            if fmt is not None:
                params.append(Param(name, tuple(stored.shape), fmt))
        return tuple(params)

    def finish(self) -> tuple[Op, ...]:
        """The recorded ops with names: a leaf module's path when it ran a single op, else the
        module path and the op's label; repeats get ``#2``, ``#3``..."""
        per_call = Counter(p.frame.call for p in self.pending if p.frame is not None)
        names: list[str] = []
        used: set[str] = set()
        for p in self.pending:
            path = p.frame.path if p.frame is not None else ""
            alone = p.frame is not None and p.frame.leaf and per_call[p.frame.call] == 1
            base = path if alone and path else f"{path}.{p.label}" if path else p.label
            name, repeat = base, 2
            while name in used:
                name, repeat = f"{base}#{repeat}", repeat + 1
            used.add(name)
            names.append(name)
        return tuple(
            Op(
                name=names[i],
                kind=p.kind,
                inputs=p.inputs,
                outputs=p.outputs,
                formats=p.formats,
                producers=tuple(names[j] for j in p.producers),
                module=p.frame.path if p.frame is not None else "",
                function=p.function,
                params=p.params,
                gemm_shape=p.gemm_shape,
                conv_shape=p.conv_shape,
                window=p.window,
            )
            for i, p in enumerate(self.pending)
        )


def _memory(tensor: torch.Tensor) -> int | None:
    """The address of a tensor's storage (shared by all its views); None without one (sparse,
    meta or empty tensors)."""
    if tensor.layout != torch.strided:
        return None
    return tensor.untyped_storage().data_ptr() or None


def all_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in nested tuples, lists and mappings, in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from all_tensors(item)
    elif isinstance(obj, Mapping):
        for item in obj.values():
            yield from all_tensors(item)
