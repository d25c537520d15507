"""Block-scaled formats: an element format sharing one scale per block of elements."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tessera.formats.base import Format, get_format, register, register_parser
from tessera.formats.scalar import (
    E2M1,
    E2M3,
    E3M2,
    E4M3,
    E5M2,
    E8M0,
    FP16,
    FP32,
    ExponentFormat,
    FloatFormat,
    IntFormat,
)

SCALE_MODES = ("floor", "ceil", "rceil", "even")


@dataclass(frozen=True)
class BlockFormat(Format):
    """``block_size`` consecutive elements along the quantization axis share one scale.

    - ``element``: any scalar format; ``scale``: a power-of-two format (``e8m0``) or a float
      format (``e4m3``, ``bf16``, ``fp16``, ``fp32``).
    - ``block_size``: elements per block, or ``None`` for one scale per whole axis (per-channel).
    - ``scale_mode``: how the scale is chosen from the block's largest magnitude ``amax``
      (see ``docs/formats.md``): ``floor`` is the OCP MX rule.
    - ``tensor_scale``: an extra fp32 scale per tensor, as in NVFP4.
    - ``zero_point``: asymmetric integer quantization with one zero point per block.
    """

    element: Format = E2M1
    scale: Format = E8M0
    block_size: int | None = 32
    scale_mode: str = "floor"
    tensor_scale: bool = False
    zero_point: bool = False

    kind = "block"

    def __post_init__(self) -> None:
        _validate(self)
        if not self.name:
            name = f"{self.element.name}:{self.scale.name}:{self.block_size or 'axis'}"
            if self.scale_mode != _default_mode(self.scale):
                name += f":{self.scale_mode}"
            object.__setattr__(self, "name", name)

    @property
    def bits(self) -> int:
        return self.element.bits

    @property
    def bits_per_element(self) -> float:
        """Storage per element including the shared scale (and zero point), in bits."""
        if self.block_size is None:
            return float(self.element.bits)
        extra = self.scale.bits + (self.element.bits if self.zero_point else 0)
        return self.element.bits + extra / self.block_size

    @property
    def ebits(self) -> int:
        return self.element.ebits

    @property
    def mbits(self) -> int:
        return self.element.mbits

    @property
    def has_nan(self) -> bool:
        return self.scale.has_nan

    @property
    def signed_zero(self) -> bool:
        return self.element.signed_zero

    def decode_code(self, code: int) -> float:
        return self.element.decode_code(code)

    @property
    def pow2_scale(self) -> bool:
        return isinstance(self.scale, ExponentFormat)

    @property
    def max_normal(self) -> float:
        """Largest representable magnitude: element max times the largest scale."""
        top = self.element.max_normal * self.scale.max_normal
        return top if math.isfinite(top) else math.inf

    @property
    def min_subnormal(self) -> float:
        return self.element.min_subnormal * self.scale.min_subnormal

    @property
    def min_normal(self) -> float:
        return self.element.min_normal * self.scale.min_subnormal

    @property
    def emax(self) -> int:
        return self.element.emax

    def properties(self) -> dict[str, object]:
        props = super().properties()
        props.update(
            element=self.element.name,
            scale=self.scale.name,
            block_size=self.block_size or "axis",
            scale_mode=self.scale_mode,
            tensor_scale=self.tensor_scale,
            zero_point=self.zero_point,
            bits_per_element=self.bits_per_element,
        )
        return props


def _default_mode(scale: Format) -> str:
    return "floor" if isinstance(scale, ExponentFormat) else "even"


def _validate(fmt: BlockFormat) -> None:
    if fmt.block_size is not None and (
        not isinstance(fmt.block_size, int) or isinstance(fmt.block_size, bool) or fmt.block_size <= 0
    ):
        raise ValueError(f"block_size must be a positive integer or None, got {fmt.block_size!r}")
    if fmt.scale_mode not in SCALE_MODES:
        raise ValueError(f"unknown scale_mode {fmt.scale_mode!r}; valid: {', '.join(SCALE_MODES)}")
    if isinstance(fmt.element, (BlockFormat, ExponentFormat)):
        raise ValueError(f"{fmt.element.name} cannot be a block element format")
    if not isinstance(fmt.scale, (ExponentFormat, FloatFormat)):
        raise ValueError(
            f"scale format {fmt.scale.name!r} cannot hold a range of scales: use an exponent "
            "format (e8m0) or a float format (e4m3, bf16, fp16, fp32)"
        )
    if fmt.scale == FP32 and fmt.scale_mode != "even":
        raise ValueError("an fp32 scale is amax / element max rounded to fp32: scale_mode must be 'even'")
    if fmt.zero_point and not isinstance(fmt.element, IntFormat):
        raise ValueError("zero points apply to integer element formats only")
    if fmt.zero_point and fmt.pow2_scale:
        raise ValueError("zero-point formats need a float scale format (e.g. fp16), not e8m0")
    if fmt.tensor_scale and fmt.pow2_scale:
        raise ValueError("a per-tensor fp32 scale goes with a float block scale (as in NVFP4)")


def _mx(element: Format, name: str) -> BlockFormat:
    return register(BlockFormat(element, E8M0, 32, name=name))


MXFP8_E4M3 = _mx(E4M3, "mxfp8_e4m3")
MXFP8_E5M2 = _mx(E5M2, "mxfp8_e5m2")
MXFP6_E3M2 = _mx(E3M2, "mxfp6_e3m2")
MXFP6_E2M3 = _mx(E2M3, "mxfp6_e2m3")
MXFP4 = _mx(E2M1, "mxfp4")
MXINT8 = _mx(IntFormat(8, frac_bits=6), "mxint8")
NVFP4 = register(BlockFormat(E2M1, E4M3, 16, scale_mode="even", tensor_scale=True, name="nvfp4"))
BFP16 = register(BlockFormat(IntFormat(8, frac_bits=6), E8M0, 8, name="bfp16"))
register(BlockFormat(IntFormat(8), FP32, None, scale_mode="even", name="int8_channel"))
register(BlockFormat(IntFormat(4), FP16, 32, scale_mode="even", name="int4_g32"))
register(
    BlockFormat(IntFormat(4, signed=False), FP16, 32, scale_mode="even", zero_point=True, name="uint4_g32_zp")
)


@register_parser(r"([a-z0-9_]+):([a-z0-9_]+):(\d+|axis)(?::([a-z]+))?")
def _parse_block(match: re.Match[str]) -> Format:
    scale = get_format(match[2])
    block = None if match[3] == "axis" else int(match[3])
    mode = match[4] or _default_mode(scale)
    return BlockFormat(get_format(match[1]), scale, block, scale_mode=mode)
