"""Typed quantization configuration with a strict JSON/YAML serialization.

The dataclasses are the truth; ``to_dict``/``from_dict`` round-trip them with a schema version,
and unknown or duplicate keys are errors that name the key.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tessera.formats import get_format
from tessera.strict_json import loads_strict
from tessera.strict_yaml import loads_yaml_strict

SCHEMA_VERSION = 1
LAYER_TYPES = ("linear", "conv1d", "conv2d")
METHODS = ("rtn", "gptq", "ed")
ED_VARIANTS = ("intra", "inter")


@dataclass(frozen=True)
class LayerRule:
    """Formats for the layers whose name matches ``pattern`` (fnmatch) and whose type is in ``types``.

    ``None`` for ``weights`` or ``activations`` leaves that operand in floating point; ``skip``
    leaves the layer untouched.
    """

    pattern: str = "*"
    types: tuple[str, ...] = LAYER_TYPES
    weights: str | None = None
    activations: str | None = None
    skip: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(self.types))
        for kind in self.types:
            if kind not in LAYER_TYPES:
                raise ValueError(
                    f"unknown layer type {kind!r} in rule {self.pattern!r}; valid: {', '.join(LAYER_TYPES)}"
                )
        _check_format(self.weights, f"rules[{self.pattern!r}].weights")
        _check_format(self.activations, f"rules[{self.pattern!r}].activations")

    def matches(self, name: str, kind: str) -> bool:
        return kind in self.types and fnmatch.fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class GPTQOptions:
    """GPTQ: ``damp`` x mean(diag H) added to the diagonal; columns in lazy batches of ``batch_size``;
    ``act_order`` quantizes columns by descending diag H."""

    act_order: bool = True
    damp: float = 0.01
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.damp < 0 or self.batch_size <= 0:
            raise ValueError("gptq.damp must be >= 0 and gptq.batch_size > 0")


@dataclass(frozen=True)
class ErrorDiffusionOptions:
    """Error diffusion reading: ``intra`` diffuses each input column's error onto the columns not yet
    quantized, fitted to the inputs of the already-quantized network; ``inter`` quantizes layer by
    layer and absorbs each layer's output error, measured on the already-quantized network's
    inputs, into its bias. Both are hyperparameter-free."""

    variant: str = "intra"

    def __post_init__(self) -> None:
        if self.variant not in ED_VARIANTS:
            raise ValueError(f"unknown ed.variant {self.variant!r}; valid: {', '.join(ED_VARIANTS)}")


@dataclass(frozen=True)
class QuantConfig:
    """What to quantize and how.

    ``weights``/``activations``: default formats for every supported layer (``None`` = float);
    ``rules`` override them per layer, first match wins. ``method``: ``rtn``, ``gptq`` or ``ed``.
    ``smoothquant``: migration strength alpha (e.g. 0.5) or ``None``. ``calibration_samples``:
    how many calibration examples data-aware methods use. ``attention``: a format for both
    operands of the attention matmuls (q kᵀ and probabilities x v), or ``None`` to keep them
    in floating point.
    """

    weights: str | None = "mxfp8_e4m3"
    activations: str | None = None
    method: str = "rtn"
    rules: tuple[LayerRule, ...] = ()
    gptq: GPTQOptions = field(default_factory=GPTQOptions)
    ed: ErrorDiffusionOptions = field(default_factory=ErrorDiffusionOptions)
    smoothquant: float | None = None
    calibration_samples: int = 128
    attention: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        _check_format(self.weights, "weights")
        _check_format(self.activations, "activations")
        _check_format(self.attention, "attention")
        if self.smoothquant is not None and not 0 < self.smoothquant < 1:
            raise ValueError(f"smoothquant alpha must be in (0, 1), got {self.smoothquant}")
        if self.calibration_samples <= 0:
            raise ValueError("calibration_samples must be positive")

    @property
    def needs_calibration(self) -> bool:
        return self.method != "rtn" or self.smoothquant is not None

    def formats_for(self, name: str, kind: str) -> tuple[str | None, str | None] | None:
        """(weight format, activation format) for a layer, or ``None`` when a rule skips it."""
        for rule in self.rules:
            if rule.matches(name, kind):
                return None if rule.skip else (rule.weights, rule.activations)
        return self.weights, self.activations

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rules"] = [dict(rule, types=list(rule["types"])) for rule in data["rules"]]
        return {"schema_version": SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantConfig:
        data = dict(data)
        version = data.pop("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {version} is not supported (this Tessera reads {SCHEMA_VERSION})"
            )
        _check_keys(data, cls, "config")
        if "rules" in data:
            rules = []
            for i, rule in enumerate(data["rules"]):
                _check_keys(rule, LayerRule, f"rules[{i}]")
                rules.append(LayerRule(**rule))
            data["rules"] = tuple(rules)
        for key, option_cls in (("gptq", GPTQOptions), ("ed", ErrorDiffusionOptions)):
            if key in data:
                _check_keys(data[key], option_cls, key)
                data[key] = option_cls(**data[key])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> QuantConfig:
        return cls.from_dict(loads_strict(text, "config"))

    @classmethod
    def from_file(cls, path: str | Path) -> QuantConfig:
        """Read a ``.json``, ``.yaml`` or ``.yml`` file."""
        path = Path(path)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            return cls.from_dict(_load_yaml(text, path))
        return cls.from_json(text)


def _check_format(name: str | None, key: str) -> None:
    if name is None:
        return
    try:
        get_format(name)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None


def _check_keys(data: dict[str, Any], cls: type, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}")
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {where}; valid keys: {', '.join(sorted(valid))}")


def _load_yaml(text: str, path: Path) -> dict[str, Any]:
    data = loads_yaml_strict(text, str(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    return data
