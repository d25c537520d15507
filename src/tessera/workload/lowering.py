"""How each PyTorch function becomes workload ops: its role, and the GEMM of the matrix products.

Functions are known by a canonical name (``function_name``): ``Tensor.__radd__``, ``Tensor.add_``
and ``torch.add`` are all ``add``. A function's role is one of the op kinds in
``tessera.workload.graph.KINDS``, or ``layout`` (views, copies, concatenation, padding, dtype
casts and inference-time dropout: they move data and pass their inputs' producers through), or
``attention`` (scaled dot-product attention, which becomes two matmuls and a softmax), or
``fresh`` (allocations shaped like their input, such as ``empty_like``: constants).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from tessera.workload.shapes import ConvShape, GemmShape, PoolWindow

Shape = tuple[int, ...]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


WEIGHT_FUNCTIONS = {"linear": "gemm", "conv1d": "conv1d", "conv2d": "conv2d", "embedding": "embedding"}
MATMUL_FUNCTIONS = {"matmul", "mm", "bmm", "addmm", "baddbmm"}  # a gemm when one operand is stored
ATTENTION_FUNCTIONS = {
    "scaled_dot_product_attention": "attention",
    "multi_head_attention_forward": "multihead_attention",  # nn.MultiheadAttention
}

LAYOUT = _words(
    "copy view view_as reshape reshape_as transpose t permute flatten unflatten squeeze unsqueeze contiguous "
    "expand expand_as broadcast_to repeat repeat_interleave tile getitem narrow select slice split "
    "split_with_sizes tensor_split chunk unbind cat stack hstack vstack pad T mT H mH data to float half "
    "double bfloat16 type type_as clone detach movedim moveaxis swapaxes swapdims flip roll index_select "
    "gather as_strided pixel_shuffle pixel_unshuffle channel_shuffle dropout dropout1d dropout2d dropout3d "
    "alpha_dropout feature_alpha_dropout"
)
# allocate a tensor shaped like their input: a constant, whatever the input holds
FRESH = _words(
    "empty_like zeros_like ones_like full_like rand_like randn_like randint_like "
    "new_empty new_zeros new_ones new_full new_tensor"
)
POOL = _words(
    "max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices avg_pool1d avg_pool2d "
    "avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d "
    "adaptive_max_pool2d adaptive_max_pool3d lp_pool1d lp_pool2d"
)
NORM = _words("layer_norm batch_norm group_norm instance_norm rms_norm local_response_norm normalize")
REDUCE = _words("sum mean amax amin prod std var logsumexp norm nansum nanmean")
ELEMENTWISE = _words(
    "add sub rsub mul div floor_divide remainder fmod neg pow relu relu6 gelu silu sigmoid tanh hardswish "
    "hardsigmoid hardtanh leaky_relu elu selu celu softplus softsign mish glu logsigmoid prelu threshold "
    "exp exp2 expm1 log log2 log10 log1p sqrt rsqrt square abs clamp clamp_min clamp_max where masked_fill "
    "softmax log_softmax softmin erf sin cos tan reciprocal minimum maximum lerp addcmul addcdiv floor "
    "ceil round trunc sign"
)
_ALIASES = {
    "radd": "add",
    "iadd": "add",
    "isub": "sub",
    "rmul": "mul",
    "imul": "mul",
    "truediv": "div",
    "rtruediv": "div",
    "itruediv": "div",
    "true_divide": "div",
    "floordiv": "floor_divide",
    "rfloordiv": "floor_divide",
    "mod": "remainder",
    "rpow": "pow",
    "ipow": "pow",
    "rmatmul": "matmul",
    "imatmul": "matmul",
    "concat": "cat",
    "concatenate": "cat",
    "clip": "clamp",
    "multiply": "mul",
    "subtract": "sub",
    "divide": "div",
    "absolute": "abs",
    "negative": "neg",
}


DTYPE_FORMATS = {
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.float8_e4m3fn: "e4m3",
    torch.float8_e5m2: "e5m2",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.int16: "int16",
}


def dtype_format(dtype: torch.dtype) -> str | None:
    """The Tessera format name of a tensor dtype, or None (integers wider than 16 bits, bool, fp64)."""
    return DTYPE_FORMATS.get(dtype)


def ordered_unique(items: tuple[int, ...]) -> tuple[int, ...]:
    """``items`` without repeats, in first-seen order."""
    return tuple(dict.fromkeys(items))


def function_name(func: Callable[..., Any]) -> str:
    """The canonical name of a torch function or tensor method (``__radd__`` -> ``add``)."""
    name = getattr(func, "__name__", "")
    if name == "__get__":  # a tensor property such as ``.T``: name it by its descriptor
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    stripped = name.strip("_")
    return _ALIASES.get(stripped, stripped)


_IN_PLACE_OPERATORS = _words(
    "__iadd__ __isub__ __imul__ __itruediv__ __ifloordiv__ __imod__ __ipow__ __imatmul__ __iand__ __ior__ "
    "__ixor__ __ilshift__ __irshift__ __setitem__"
)


def writes_in_place(func: Callable[..., Any]) -> bool:
    """Whether a function writes into its first argument (``add_``, ``__iadd__``, ``x[i] = v``)."""
    name = getattr(func, "__name__", "")
    return (name.endswith("_") and not name.endswith("__")) or name in _IN_PLACE_OPERATORS


def is_reflected(func: Callable[..., Any]) -> bool:
    """Whether a matmul takes its operands in reverse order (``b.__rmatmul__(a)`` is a @ b)."""
    return getattr(func, "__name__", "") == "__rmatmul__"


def role_of(name: str, tensor_args: int) -> str:
    """The kind of op a function makes, or ``layout``, ``fresh``, ``attention``,
    ``multihead_attention`` or ``other``. ``max``/``min`` reduce with one tensor argument and
    compare elementwise with two."""
    if name in WEIGHT_FUNCTIONS:
        return WEIGHT_FUNCTIONS[name]
    if name in MATMUL_FUNCTIONS:
        return "matmul"
    if name in ATTENTION_FUNCTIONS:
        return ATTENTION_FUNCTIONS[name]
    if name in LAYOUT:
        return "layout"
    if name in FRESH:
        return "fresh"
    if name in ("max", "min"):
        return "elementwise" if tensor_args > 1 else "reduce"
    for kind, names in (("pool", POOL), ("norm", NORM), ("reduce", REDUCE), ("elementwise", ELEMENTWISE)):
        if name in names:
            return kind
    return "other"


def argument(args: Sequence[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    """A call's argument by position or keyword."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def matmul_operands(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The two matrix operands of a matmul-family call, left then right (``addmm``'s first
    argument is the added term)."""
    if name in ("addmm", "baddbmm"):
        return argument(args, kwargs, 1, "mat1" if name == "addmm" else "batch1"), argument(
            args, kwargs, 2, "mat2" if name == "addmm" else "batch2"
        )
    return argument(args, kwargs, 0, "input"), argument(args, kwargs, 1, "other")


def linear_gemm(x: Shape, weight: Shape) -> GemmShape:
    """``x (..., K) @ weightᵀ`` with weight (N, K): every leading dimension of x goes into M."""
    return GemmShape(m=math.prod(x[:-1]), n=weight[0], k=x[-1])


def matmul_gemm(a: Shape, b: Shape) -> GemmShape:
    """``torch.matmul(a, b)``. A right operand of at most two dimensions is shared by every row of
    ``a`` (M = all of a's leading dimensions); otherwise the broadcast batch dimensions make
    ``count`` independent products (one per attention head and example)."""
    if not a or not b:
        raise ValueError(f"matmul operands need at least one dimension, got {a} and {b}")
    if len(b) <= 2:
        return GemmShape(m=math.prod(a[:-1]), n=b[-1] if len(b) == 2 else 1, k=a[-1])
    rows = a if len(a) >= 2 else (1, *a)
    batch = torch.broadcast_shapes(rows[:-2], b[:-2])
    return GemmShape(m=rows[-2], n=b[-1], k=rows[-1], count=math.prod(batch))


def attention_gemms(query: Shape, key: Shape, value: Shape) -> tuple[GemmShape, GemmShape, Shape]:
    """The two GEMMs of attention on (..., L, E) queries, (..., S, E) keys and (..., S, Ev) values:
    q kᵀ (M = L, K = E, N = S) and probabilities x v (M = L, K = S, N = Ev), each once per query
    head and example; and the shape of the score matrix (..., L, S)."""
    *batch, length, width = query
    keys, value_width = key[-2], value[-1]
    count = math.prod(batch)
    scores = GemmShape(m=length, n=keys, k=width, count=count)
    mixed = GemmShape(m=length, n=value_width, k=keys, count=count)
    return scores, mixed, (*batch, length, keys)


def conv_shapes(
    spatial: int,
    x: Shape,
    weight: Shape,
    out: Shape,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> tuple[GemmShape, ConvShape | None]:
    """The GEMM of a 1-D or 2-D convolution and, without dilation, its SCALE-Sim convolution on the
    padded input (a 1-D convolution is a 2-D one of height 1). ``x`` is (N, C, *sizes) or
    unbatched (C, *sizes); ``weight`` is (F, C / groups, *kernel)."""
    batch = x[0] if len(x) == spatial + 2 else 1
    channels, sizes = x[-spatial - 1], x[-spatial:]
    filters, kernel = weight[0], weight[2:]
    strides, dilations = _per_dim(stride, spatial), _per_dim(dilation, spatial)
    pads = _padding(padding, kernel, dilations)
    out_sizes = out[-spatial:]
    gemm = GemmShape(
        m=batch * math.prod(out_sizes),
        n=filters // groups,
        k=math.prod(kernel) * (channels // groups),
        count=groups,
    )
    if any(d != 1 for d in dilations):
        return gemm, None
    padded = [size + pad for size, pad in zip(sizes, pads)]
    if spatial == 1:
        padded, kernel, strides = [1, *padded], (1, *kernel), (1, *strides)
    conv = ConvShape(
        ifmap_h=padded[0],
        ifmap_w=padded[1],
        filter_h=kernel[0],
        filter_w=kernel[1],
        channels=channels,
        filters=filters,
        stride_h=strides[0],
        stride_w=strides[1],
        groups=groups,
        batch=batch,
    )
    return gemm, conv


def _per_dim(value: Any, spatial: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * spatial
    values = tuple(int(v) for v in value)
    return values * spatial if len(values) == 1 else values


def _padding(padding: Any, kernel: Shape, dilations: tuple[int, ...]) -> tuple[int, ...]:
    """Total padding per spatial dimension (both sides)."""
    if padding == "valid":
        return (0,) * len(kernel)
    if padding == "same":
        return tuple(d * (k - 1) for k, d in zip(kernel, dilations))
    return tuple(2 * p for p in _per_dim(padding, len(kernel)))


def pool_window(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> PoolWindow | None:
    """The window of a 1-D or 2-D max or average pooling call; ``None`` for adaptive, 3-D, LP and
    dilated poolings (their windows follow from the shapes or are not described)."""
    spatial = {"max_pool1d": 1, "max_pool1d_with_indices": 1, "avg_pool1d": 1}.get(name)
    if spatial is None and name in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
        spatial = 2
    if spatial is None:
        return None
    kernel = _per_dim(argument(args, kwargs, 1, "kernel_size"), spatial)
    stride = argument(args, kwargs, 2, "stride", None)
    strides = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else stride
    strides = _per_dim(strides, spatial)
    pads = _per_dim(argument(args, kwargs, 3, "padding", 0), spatial)
    if name.startswith("max") and any(
        d != 1 for d in _per_dim(argument(args, kwargs, 4, "dilation", 1), spatial)
    ):
        return None
    if spatial == 1:
        kernel, strides, pads = (1, *kernel), (1, *strides), (0, *pads)
    return PoolWindow(kernel[0], kernel[1], strides[0], strides[1], pads[0], pads[1])
