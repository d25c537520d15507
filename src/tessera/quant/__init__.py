"""Quantize real models: ``quantize_(model, config, calib)`` with RTN, GPTQ or error diffusion."""

from tessera.quant.api import LayerResult, QuantReport, quantize_, restore
from tessera.quant.config import ErrorDiffusionOptions, GPTQOptions, LayerRule, QuantConfig
from tessera.quant.layers import QuantizedLayer

__all__ = [
    "ErrorDiffusionOptions",
    "GPTQOptions",
    "LayerResult",
    "LayerRule",
    "QuantConfig",
    "QuantReport",
    "QuantizedLayer",
    "quantize_",
    "restore",
]
