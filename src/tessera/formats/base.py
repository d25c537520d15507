"""The format base class and the registry that finds formats by name."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

ROUNDING_MODES = ("nearest_even", "nearest_away", "toward_zero", "stochastic")


@dataclass(frozen=True)
class Format(ABC):
    """A number format: a finite set of representable values and their bit encoding.

    Bit counts follow one convention everywhere: ``bits`` is the total storage width including
    the sign; ``ebits`` and ``mbits`` count the stored exponent and fraction fields only (no
    sign, no implicit leading bit).
    """

    name: str = field(default="", compare=False, kw_only=True)

    kind: ClassVar[str] = "format"

    @property
    @abstractmethod
    def bits(self) -> int:
        """Total storage width in bits, sign included."""

    @abstractmethod
    def decode_code(self, code: int) -> float:
        """The value of one bit pattern, straight from the format's definition."""

    @property
    def ebits(self) -> int:
        return 0

    @property
    def mbits(self) -> int:
        return 0

    @property
    def has_inf(self) -> bool:
        return False

    @property
    def has_nan(self) -> bool:
        return False

    @property
    def signed_zero(self) -> bool:
        """Whether -0 is a distinct encoding (it is kept by quantization when True)."""
        return False

    @cached_property
    def grid(self) -> tuple[float, ...]:
        """Every finite representable value, ascending, without duplicates (-0 folded into +0)."""
        if self.bits > 16:
            raise ValueError(f"{self.name} has too many values to enumerate")
        values = {self.decode_code(c) for c in range(2**self.bits)}
        return tuple(sorted(v + 0.0 for v in values if math.isfinite(v)))

    @property
    def max_normal(self) -> float:
        return self.grid[-1]

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value."""
        return min(v for v in self.grid if v > 0)

    @property
    def min_normal(self) -> float:
        return self.min_subnormal

    @property
    def emax(self) -> int:
        """Exponent of the largest binade: floor(log2(max_normal))."""
        return math.frexp(self.max_normal)[1] - 1

    def properties(self) -> dict[str, object]:
        """The format's limits as a flat dict (what ``tessera formats`` prints)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "bits": self.bits,
            "ebits": self.ebits,
            "mbits": self.mbits,
            "emax": self.emax,
            "max_normal": self.max_normal,
            "min_normal": self.min_normal,
            "min_subnormal": self.min_subnormal,
            "inf": self.has_inf,
            "nan": self.has_nan,
        }

    def __str__(self) -> str:
        return self.name or repr(self)


_REGISTRY: dict[str, Format] = {}
_PARSED: dict[str, Format] = {}
_PARSERS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Format]]] = []


def register(fmt: Format, *aliases: str) -> Format:
    """Add a named format (and optional aliases) to the registry; returns it."""
    for key in (fmt.name, *aliases):
        if key in _REGISTRY and _REGISTRY[key] != fmt:
            raise ValueError(f"format name {key!r} is already registered as {_REGISTRY[key]!r}")
        _REGISTRY[key] = fmt
    return fmt


def register_parser(pattern: str) -> Callable:
    """Decorator: a function that builds a format from names matching ``pattern``."""

    def wrap(fn: Callable[[re.Match[str]], Format]) -> Callable[[re.Match[str]], Format]:
        _PARSERS.append((re.compile(pattern), fn))
        return fn

    return wrap


def get_format(fmt: Format | str) -> Format:
    """The format object for a name (or the format itself). Unknown names list the valid ones."""
    if isinstance(fmt, Format):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(f"a format is a Format or its name, not {type(fmt).__name__}")
    key = fmt.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    if key in _PARSED:
        return _PARSED[key]
    for pattern, build in _PARSERS:
        match = pattern.fullmatch(key)
        if match:
            _PARSED[key] = build(match)
            return _PARSED[key]
    raise ValueError(
        f"unknown format {fmt!r}. Named formats: {', '.join(format_names())}. "
        "Also accepted: eXmY[fn|fnuz|_ieee|_finite], intN, uintN (N = 2..16), "
        "and block formats written ELEMENT:SCALE:BLOCK[:SCALE_MODE], e.g. e2m1:e8m0:32."
    )


def format_names() -> list[str]:
    """The canonical names of all preset formats, in registration order."""
    return list(dict.fromkeys(fmt.name for fmt in _REGISTRY.values()))


def check_rounding(rounding: str) -> str:
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding {rounding!r}; valid: {', '.join(ROUNDING_MODES)}")
    return rounding
