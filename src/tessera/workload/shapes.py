"""The shapes a hardware model costs: one GEMM, or one convolution lowered to GEMMs.

Conventions follow SCALE-Sim: a GEMM multiplies an M x K operand by a K x N operand; a convolution
has M = output pixels, K = filter height x filter width x input channels (per group), N = filters
(per group). Convolution inputs are given already padded, as SCALE-Sim's topology files do.
"""

from __future__ import annotations

from dataclasses import dataclass


def _require_positive(owner: str, **values: int) -> None:
    for field_name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}.{field_name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class GemmShape:
    """``count`` independent (M x K) @ (K x N) products (e.g. one per group or attention head)."""

    m: int
    n: int
    k: int
    count: int = 1

    def __post_init__(self) -> None:
        _require_positive("GemmShape", m=self.m, n=self.n, k=self.k, count=self.count)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` products."""
        return self.m * self.n * self.k * self.count


@dataclass(frozen=True)
class ConvShape:
    """A 2-D convolution on an already padded ``ifmap_h x ifmap_w x channels`` input, batch 1 per
    ``batch``; ``groups`` splits channels and filters into independent convolutions."""

    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride_h: int = 1
    stride_w: int = 1
    groups: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        _require_positive(
            "ConvShape",
            ifmap_h=self.ifmap_h,
            ifmap_w=self.ifmap_w,
            filter_h=self.filter_h,
            filter_w=self.filter_w,
            channels=self.channels,
            filters=self.filters,
            stride_h=self.stride_h,
            stride_w=self.stride_w,
            groups=self.groups,
            batch=self.batch,
        )
        if self.filter_h > self.ifmap_h or self.filter_w > self.ifmap_w:
            raise ValueError(
                f"ConvShape filter {self.filter_h}x{self.filter_w} is larger than the padded input "
                f"{self.ifmap_h}x{self.ifmap_w}"
            )
        if self.channels % self.groups or self.filters % self.groups:
            raise ValueError(
                f"ConvShape.groups={self.groups} must divide channels={self.channels} "
                f"and filters={self.filters}"
            )

    @property
    def ofmap_h(self) -> int:
        return (self.ifmap_h - self.filter_h) // self.stride_h + 1

    @property
    def ofmap_w(self) -> int:
        return (self.ifmap_w - self.filter_w) // self.stride_w + 1

    def gemm(self) -> GemmShape:
        """The im2col GEMM: one per group, M = batch x output pixels."""
        return GemmShape(
            m=self.batch * self.ofmap_h * self.ofmap_w,
            n=self.filters // self.groups,
            k=self.filter_h * self.filter_w * (self.channels // self.groups),
            count=self.groups,
        )

    @property
    def macs(self) -> int:
        return self.gemm().macs


@dataclass(frozen=True)
class PoolWindow:
    """The window of a max or average pooling over (height, width): output pixel (i, j) reads input
    rows ``i * stride_h - pad_h`` to ``i * stride_h - pad_h + kernel_h - 1`` (clipped to the
    input), and likewise columns. A 1-D pooling has height 1."""

    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_h: int = 0
    pad_w: int = 0

    def __post_init__(self) -> None:
        _require_positive(
            "PoolWindow",
            kernel_h=self.kernel_h,
            kernel_w=self.kernel_w,
            stride_h=self.stride_h,
            stride_w=self.stride_w,
        )
        for field_name in ("pad_h", "pad_w"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"PoolWindow.{field_name} must be an integer >= 0, got {value!r}")
