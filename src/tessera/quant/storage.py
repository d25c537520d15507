"""Saving and loading quantized models: packed weights in safetensors, metadata in JSON.

A saved folder holds ``weights.safetensors`` (every quantized weight as its real encoding:
``<layer>.weight.elements``, ``.scales``, ``.zero_points``; every other tensor as it is) and
``tessera.json`` (the config, each layer's formats and encoding metadata, the model's name).
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tessera.formats import Encoded, decode, encode, get_format
from tessera.quant.attention import quantize_attention
from tessera.quant.config import QuantConfig
from tessera.quant.layers import WEIGHT_AXIS, QuantizedLayer

WEIGHTS_FILE = "weights.safetensors"
META_FILE = "tessera.json"
STORAGE_VERSION = 1
_PARTS = ("elements", "scales", "zero_points")


def save(
    model: nn.Module,
    folder: str | Path,
    config: QuantConfig | None = None,
    model_name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a quantized model to ``folder``; an existing saved model is kept unless ``overwrite``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    if (folder / META_FILE).exists() and not overwrite:
        raise FileExistsError(
            f"{folder} already holds a saved model; pass overwrite=True (--force) to replace it"
        )
    folder.mkdir(parents=True, exist_ok=True)
    layers = {name: m for name, m in model.named_modules() if isinstance(m, QuantizedLayer)}
    packed = {f"{name}.weight" for name, layer in layers.items() if layer.weight_format}
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in packed}
    layer_meta = {}
    for name, layer in layers.items():
        layer_meta[name] = {"weight_format": layer.weight_format, "input_format": layer.input_format}
        if layer.weight_format:
            layer_meta[name].update(_pack(name, layer.weight.detach(), layer.weight_format, tensors))
    meta = {
        "storage_version": STORAGE_VERSION,
        "model": model_name,
        "config": config.to_dict() if config else None,
        "layers": layer_meta,
        "attention_format": config.attention if config else None,
    }
    save_file(tensors, str(folder / WEIGHTS_FILE))
    (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    return folder


def _pack(name: str, weight: torch.Tensor, fmt: str, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Store one weight's encoding; weights the encoding cannot reproduce exactly stay float32."""
    enc = encode(weight, fmt, axis=WEIGHT_AXIS)
    if not torch.equal(decode(enc), weight):
        tensors[f"{name}.weight"] = weight.contiguous()
        return {"packed": False, "note": "scales not recoverable from the values; stored as float32"}
    for part in _PARTS:
        if getattr(enc, part) is not None:
            tensors[f"{name}.weight.{part}"] = getattr(enc, part)
    return {"packed": True, "shape": list(enc.shape), "tensor_scale": enc.tensor_scale, "nbytes": enc.nbytes}


def load(folder: str | Path, model: nn.Module) -> nn.Module:
    """Load a saved quantized model into ``model`` (the float architecture it was made from), in place."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_metadata(folder)
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{folder / WEIGHTS_FILE} is missing or corrupted: {err}") from None
    for name, info in meta["layers"].items():
        try:
            original = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"{folder}: layer {name!r} does not exist in the given model") from None
        weight = _unpack(name, info, tensors, original)
        input_scale = tensors.get(f"{name}.input_scale")
        layer = QuantizedLayer(
            original, name, weight, info["weight_format"], info["input_format"], input_scale
        )
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer)
        tensors[f"{name}.weight"] = weight
    if meta.get("attention_format"):
        quantize_attention(model, meta["attention_format"])
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        kind, key = ("missing", missing[0]) if missing else ("unexpected", unexpected[0])
        raise ValueError(f"{folder / WEIGHTS_FILE} does not fit the model: {kind} key {key!r}")
    return model


def read_metadata(folder: Path) -> dict[str, Any]:
    """The saved model's metadata, checked."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} holds no saved Tessera model ({META_FILE} is missing)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if meta.get("storage_version") != STORAGE_VERSION:
        raise ValueError(f"{path}: storage_version {meta.get('storage_version')!r} is not {STORAGE_VERSION}")
    return meta


def _unpack(
    name: str, info: dict[str, Any], tensors: dict[str, torch.Tensor], original: nn.Module
) -> torch.Tensor:
    if not info["weight_format"]:
        return tensors.pop(f"{name}.weight")
    if not info.get("packed"):
        return tensors.pop(f"{name}.weight")
    parts = {part: tensors.pop(f"{name}.weight.{part}", None) for part in _PARTS}
    if parts["elements"] is None:
        raise ValueError(f"the saved weights lack {name}.weight.elements")
    shape = tuple(info["shape"])
    if shape != tuple(original.weight.shape):
        raise ValueError(f"{name}: saved weight shape {shape} != model's {tuple(original.weight.shape)}")
    enc = Encoded(
        get_format(info["weight_format"]),
        shape,
        WEIGHT_AXIS,
        torch.float32,
        **parts,
        tensor_scale=info.get("tensor_scale"),
    )
    return decode(enc)
