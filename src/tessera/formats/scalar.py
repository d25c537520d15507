"""Scalar element formats: minifloats, integers, binary, ternary, and exponent-only scales."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tessera.formats.base import Format, register, register_parser

FLOAT_SPECIALS = ("ieee", "fn", "fnuz", "finite")


@dataclass(frozen=True)
class FloatFormat(Format):
    """A sign-exponent-mantissa float ``eXmY``.

    ``special`` says what the top encodings mean:

    - ``ieee``: the all-ones exponent holds Inf (mantissa 0) and NaN (e5m2, fp16, bf16);
    - ``fn``: finite, the single pattern S.1..1.1..1 is NaN, no Inf (OCP e4m3);
    - ``fnuz``: finite, unsigned zero, bias one larger, 1.0..0.0..0 (``-0``) is NaN;
    - ``finite``: every pattern is a number, no Inf, no NaN (OCP fp6 and fp4).
    """

    ebits: int = 4
    mbits: int = 3
    special: str = "fn"

    kind = "float"

    def __post_init__(self) -> None:
        if self.special not in FLOAT_SPECIALS:
            raise ValueError(f"special must be one of {FLOAT_SPECIALS}, got {self.special!r}")
        if not 1 <= self.ebits <= 8 or not 0 <= self.mbits <= 23:
            raise ValueError(f"e{self.ebits}m{self.mbits}: need 1 <= ebits <= 8 and 0 <= mbits <= 23")
        if self.special == "fn" and self.mbits == 0:
            raise ValueError("an fn format needs at least one mantissa bit")
        if not self.name:
            object.__setattr__(self, "name", float_name(self.ebits, self.mbits, self.special))

    @property
    def bits(self) -> int:
        return 1 + self.ebits + self.mbits

    @property
    def bias(self) -> int:
        return 2 ** (self.ebits - 1) - (0 if self.special == "fnuz" else 1)

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal binade."""
        return 1 - self.bias

    @property
    def has_inf(self) -> bool:
        return self.special == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.special != "finite"

    @property
    def signed_zero(self) -> bool:
        return self.special != "fnuz"

    @property
    def emax(self) -> int:
        return 2**self.ebits - self.bias - (2 if self.special == "ieee" else 1)

    @property
    def max_normal(self) -> float:
        top_mantissa = 2 - 2.0 ** (1 - self.mbits) if self.special == "fn" else 2 - 2.0**-self.mbits
        return top_mantissa * 2.0**self.emax

    @property
    def min_normal(self) -> float:
        return 2.0**self.emin

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (self.emin - self.mbits)

    @property
    def nan_code(self) -> int | None:
        top = 2 ** (self.ebits + self.mbits) - 1
        return {"ieee": top, "fn": top, "fnuz": 2 ** (self.bits - 1), "finite": None}[self.special]

    def decode_code(self, code: int) -> float:
        sign = -1.0 if code >> (self.ebits + self.mbits) & 1 else 1.0
        exp_field = code >> self.mbits & (2**self.ebits - 1)
        mant = code & (2**self.mbits - 1)
        top_exp = exp_field == 2**self.ebits - 1
        if self.special == "ieee" and top_exp:
            return sign * math.inf if mant == 0 else math.nan
        if self.special == "fn" and top_exp and mant == 2**self.mbits - 1:
            return math.nan
        if self.special == "fnuz" and code == self.nan_code:
            return math.nan
        if exp_field == 0:
            return sign * mant * 2.0 ** (self.emin - self.mbits)
        return sign * (1 + mant / 2**self.mbits) * 2.0 ** (exp_field - self.bias)


def _default_special(ebits: int) -> str:
    """The special-value rule a bare ``eXmY`` name gets, chosen to match the OCP formats."""
    return "finite" if ebits <= 3 else "fn" if ebits == 4 else "ieee"


def float_name(ebits: int, mbits: int, special: str) -> str:
    base = f"e{ebits}m{mbits}"
    if special == _default_special(ebits):
        return base
    return base + {"fn": "fn", "fnuz": "fnuz", "ieee": "_ieee", "finite": "_finite"}[special]


@dataclass(frozen=True)
class IntFormat(Format):
    """A fixed-point integer of ``nbits`` bits with ``frac_bits`` implied fraction bits.

    Signed formats are symmetric by default (the most negative code is unused, so the range
    is +-(2^(nbits-1) - 1)); ``symmetric=False`` admits -2^(nbits-1). MXINT8's element is
    ``IntFormat(8, frac_bits=6)``: values k/64 for |k| <= 127.
    """

    nbits: int = 8
    signed: bool = True
    symmetric: bool = True
    frac_bits: int = 0

    kind = "int"

    def __post_init__(self) -> None:
        if not 2 <= self.nbits <= 16:
            raise ValueError(f"integer formats have 2 to 16 bits, got {self.nbits}")
        if not 0 <= self.frac_bits <= 16:
            raise ValueError(f"frac_bits must be in 0..16, got {self.frac_bits}")
        if not self.name:
            name = f"{'' if self.signed else 'u'}int{self.nbits}"
            if self.signed and not self.symmetric:
                name += "_full"
            if self.frac_bits:
                name += f"_f{self.frac_bits}"
            object.__setattr__(self, "name", name)

    @property
    def bits(self) -> int:
        return self.nbits

    @property
    def mbits(self) -> int:
        """Magnitude bits (the sign excluded)."""
        return self.nbits - 1 if self.signed else self.nbits

    @property
    def qmin(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.nbits - 1)) + (1 if self.symmetric else 0)

    @property
    def qmax(self) -> int:
        return 2**self.mbits - 1

    @property
    def step(self) -> float:
        """Distance between neighbouring values: 2^-frac_bits."""
        return 2.0**-self.frac_bits

    def decode_code(self, code: int) -> float:
        value = code - 2**self.nbits if self.signed and code >> (self.nbits - 1) else code
        if value < self.qmin:
            return math.nan  # the unused most negative code of a symmetric format
        return value * self.step


@dataclass(frozen=True)
class BinaryFormat(Format):
    """Binary weights: code 1 is +1, code 0 is -1; zero quantizes to +1."""

    kind = "binary"

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", "binary")

    @property
    def bits(self) -> int:
        return 1

    def decode_code(self, code: int) -> float:
        return 1.0 if code else -1.0


@dataclass(frozen=True)
class TernaryFormat(Format):
    """Ternary values {-1, 0, +1}: |x| > threshold maps to sign(x), the rest to 0.

    Codes are 2-bit two's complement (0, 1, 3); code 2 is unused. ``threshold`` is in units of
    the (scaled) input; 0.5 is round-to-nearest.
    """

    threshold: float = 0.5

    kind = "ternary"

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 1:
            raise ValueError(f"ternary threshold must be in [0, 1), got {self.threshold}")
        if not self.name:
            suffix = "" if self.threshold == 0.5 else f"_t{self.threshold:g}"
            object.__setattr__(self, "name", "ternary" + suffix)

    @property
    def bits(self) -> int:
        return 2

    def decode_code(self, code: int) -> float:
        return (0.0, 1.0, math.nan, -1.0)[code]


@dataclass(frozen=True)
class ExponentFormat(Format):
    """An unsigned power-of-two scale ``eXm0``: 2^(code - bias), all-ones code is NaN, no zero.

    ``e8m0`` is the OCP MX shared scale (2^-127 .. 2^127).
    """

    ebits: int = 8

    kind = "exponent"

    def __post_init__(self) -> None:
        if not 2 <= self.ebits <= 8:
            raise ValueError(f"exponent scale formats have 2 to 8 bits, got {self.ebits}")
        if not self.name:
            object.__setattr__(self, "name", f"e{self.ebits}m0")

    @property
    def bits(self) -> int:
        return self.ebits

    @property
    def bias(self) -> int:
        return 2 ** (self.ebits - 1) - 1

    @property
    def has_nan(self) -> bool:
        return True

    @property
    def nan_code(self) -> int:
        return 2**self.ebits - 1

    def decode_code(self, code: int) -> float:
        return math.nan if code == self.nan_code else 2.0 ** (code - self.bias)


E4M3 = register(FloatFormat(4, 3, "fn"), "e4m3fn", "fp8_e4m3")
E5M2 = register(FloatFormat(5, 2, "ieee"), "fp8_e5m2")
E3M2 = register(FloatFormat(3, 2, "finite"), "fp6_e3m2")
E2M3 = register(FloatFormat(2, 3, "finite"), "fp6_e2m3")
E2M1 = register(FloatFormat(2, 1, "finite"), "fp4", "fp4_e2m1")
register(FloatFormat(4, 3, "fnuz"))
register(FloatFormat(5, 2, "fnuz"))
BF16 = register(FloatFormat(8, 7, "ieee", name="bf16"), "bfloat16", "e8m7")
FP16 = register(FloatFormat(5, 10, "ieee", name="fp16"), "float16", "half", "e5m10")
FP32 = register(FloatFormat(8, 23, "ieee", name="fp32"), "float32", "e8m23")
E8M0 = register(ExponentFormat(8))
INT8 = register(IntFormat(8))
register(IntFormat(4))
register(IntFormat(2))
register(IntFormat(8, signed=False))
register(IntFormat(4, signed=False))
register(BinaryFormat())
register(TernaryFormat())


@register_parser(r"e(\d)m(\d{1,2})(fn|fnuz|_ieee|_finite)?")
def _parse_float(match: re.Match[str]) -> Format:
    ebits, mbits, suffix = int(match[1]), int(match[2]), match[3]
    if mbits == 0 and not suffix:
        return ExponentFormat(ebits)
    special = suffix.lstrip("_") if suffix else _default_special(ebits)
    return FloatFormat(ebits, mbits, special)


@register_parser(r"(u?)int(\d{1,2})(_full)?(?:_f(\d{1,2}))?")
def _parse_int(match: re.Match[str]) -> Format:
    signed = not match[1]
    if match[3] and not signed:
        raise ValueError("unsigned integers have no '_full' variant")
    return IntFormat(int(match[2]), signed=signed, symmetric=not match[3], frac_bits=int(match[4] or 0))
