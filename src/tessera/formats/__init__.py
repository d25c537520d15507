"""Number formats: scalar and block-scaled, with fake quantization and real bit encodings.

``quantize(x, fmt)`` rounds onto a format, ``encode``/``decode`` store it in real bits, and
``reference`` holds the slow implementation written straight from the specifications.
"""

from tessera.formats.base import ROUNDING_MODES, Format, format_names, get_format, register
from tessera.formats.block import SCALE_MODES, BlockFormat
from tessera.formats.compiled import compiled_quantizer
from tessera.formats.encoding import Encoded, decode, encode
from tessera.formats.quantize import quantize
from tessera.formats.scalar import (
    BinaryFormat,
    ExponentFormat,
    FloatFormat,
    IntFormat,
    TernaryFormat,
)

__all__ = [
    "ROUNDING_MODES",
    "SCALE_MODES",
    "BinaryFormat",
    "BlockFormat",
    "Encoded",
    "ExponentFormat",
    "FloatFormat",
    "Format",
    "IntFormat",
    "TernaryFormat",
    "compiled_quantizer",
    "decode",
    "encode",
    "format_names",
    "get_format",
    "quantize",
    "register",
]
