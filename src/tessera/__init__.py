"""Tessera: hardware-software co-design of neural networks.

Number formats, quantization and accelerator models in one pipeline. ``import tessera`` pulls
in torch and numpy only; heavier parts are optional extras imported where used.
"""

from tessera.dse.explore import ExploreSpace, explore
from tessera.formats import (
    BlockFormat,
    Encoded,
    FloatFormat,
    Format,
    IntFormat,
    decode,
    encode,
    format_names,
    get_format,
    quantize,
)
from tessera.hw import SystolicArray, simulate
from tessera.quant import LayerRule, QuantConfig, quantize_, restore
from tessera.quant.storage import load, save
from tessera.workload import Workload, capture

__version__ = "0.1.0"

__all__ = [
    "BlockFormat",
    "Encoded",
    "ExploreSpace",
    "FloatFormat",
    "Format",
    "IntFormat",
    "LayerRule",
    "QuantConfig",
    "SystolicArray",
    "Workload",
    "capture",
    "decode",
    "encode",
    "explore",
    "format_names",
    "get_format",
    "load",
    "quantize",
    "quantize_",
    "restore",
    "save",
    "simulate",
]
