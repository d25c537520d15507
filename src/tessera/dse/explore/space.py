"""The explore design space: typed dataclasses, with YAML as their strict serialization.

A space names one model, the quantization choices (weight formats x activation formats x PTQ
methods, plus fixed per-layer rules), one or more hardware families whose parameters each take a
list of values, the objectives and constraints, and the search. ``from_dict`` rejects unknown,
duplicate and missing keys, naming the key and, for YAML, its line.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from tessera.dse.explore.objectives import check_objectives
from tessera.formats import get_format
from tessera.hw.cim.latency import CIMArch
from tessera.hw.systolic import SystolicArray
from tessera.quant.config import METHODS, LayerRule, QuantConfig
from tessera.strict_yaml import loads_yaml_strict
from tessera.workload.strict import Fields

SCHEMA_VERSION = 1
SEARCH_METHODS = ("grid", "random", "nsga2")
SPACES_DIR = Path(__file__).parent / "spaces"


@dataclass(frozen=True)
class HardwareDesign:
    """One concrete hardware configuration: its kind and its parameter values."""

    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def label(self) -> str:
        """A short unique name, e.g. ``systolic rows=16 cols=16 dataflow=ws sram_kb=64``."""
        return " ".join(
            [
                self.kind,
                *(
                    f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                    for name, value in self.params
                ),
            ]
        )

    def value(self, name: str) -> Any:
        return dict(self.params)[name]


def _product(kind: str, grid: Mapping[str, tuple[Any, ...]]) -> list[HardwareDesign]:
    names = list(grid)
    return [HardwareDesign(kind, tuple(zip(names, values))) for values in itertools.product(*grid.values())]


@dataclass(frozen=True)
class SystolicSpace:
    """Systolic arrays: every combination of ``rows`` x ``cols`` x ``dataflow`` x ``sram_kb`` (each
    of the three buffers, kB), clocked at ``clock_mhz``. Operand words take the layer's wider format."""

    kind: ClassVar[str] = "systolic"
    rows: tuple[int, ...] = (16,)
    cols: tuple[int, ...] = (16,)
    dataflow: tuple[str, ...] = ("ws",)
    sram_kb: tuple[float, ...] = (64.0,)
    clock_mhz: float = 1000.0

    def designs(self) -> list[HardwareDesign]:
        return _product(
            self.kind,
            {"rows": self.rows, "cols": self.cols, "dataflow": self.dataflow, "sram_kb": self.sram_kb},
        )

    def array(self, design: HardwareDesign, element_format: str = "int8") -> SystolicArray:
        """The ``SystolicArray`` of one design with operand words in ``element_format``."""
        kb = float(design.value("sram_kb"))
        return SystolicArray(
            rows=design.value("rows"),
            cols=design.value("cols"),
            dataflow=design.value("dataflow"),
            ifmap_sram_kb=kb,
            filter_sram_kb=kb,
            ofmap_sram_kb=kb,
            element_format=element_format,
            clock_mhz=self.clock_mhz,
        )


@dataclass(frozen=True)
class CIMSpace:
    """RRAM crossbar accelerators (``tessera.hw.cim.latency``): every combination of crossbar
    ``rows`` x ``cols`` x ``cell_bits`` x ``input_bits`` (bits fed per read phase) x ``adc_bits``.
    Layers run with their integer formats' bit widths; float formats cannot run here."""

    kind: ClassVar[str] = "cim"
    rows: tuple[int, ...] = (256,)
    cols: tuple[int, ...] = (256,)
    cell_bits: tuple[int, ...] = (4,)
    input_bits: tuple[int, ...] = (1,)
    adc_bits: tuple[int, ...] = (8,)
    crossbars_per_tile: int = 8

    def designs(self) -> list[HardwareDesign]:
        return _product(
            self.kind,
            {
                "rows": self.rows,
                "cols": self.cols,
                "cell_bits": self.cell_bits,
                "input_bits": self.input_bits,
                "adc_bits": self.adc_bits,
            },
        )

    def arch(self, design: HardwareDesign) -> CIMArch:
        return CIMArch(**dict(design.params), crossbars_per_tile=self.crossbars_per_tile)


HardwareSpace = SystolicSpace | CIMSpace
HARDWARE_SPACES: dict[str, type] = {"systolic": SystolicSpace, "cim": CIMSpace}


@dataclass(frozen=True)
class QuantSpace:
    """Weight formats x activation formats x PTQ methods (``None`` keeps an operand in float).
    ``rules`` are fixed per-layer overrides applied at every point (e.g. keep the first layer in
    int8); ``calibration_samples`` feed the data-aware methods."""

    weights: tuple[str | None, ...] = ("int8_channel",)
    activations: tuple[str | None, ...] = (None,)
    methods: tuple[str, ...] = ("rtn",)
    rules: tuple[LayerRule, ...] = ()
    calibration_samples: int = 128

    def widest_word_format(self) -> str:
        """The widest operand format any point can give a layer (a float operand is fp32)."""
        names = [*self.weights, *self.activations]
        names += [name for rule in self.rules for name in (rule.weights, rule.activations)]
        if any(rule.skip for rule in self.rules):
            names.append(None)
        return max((name or "fp32" for name in names), key=storage_bits)

    def config(self, weights: str | None, activations: str | None, method: str) -> QuantConfig:
        return QuantConfig(
            weights=weights,
            activations=activations,
            method=method,
            rules=self.rules,
            calibration_samples=self.calibration_samples,
        )


@dataclass(frozen=True)
class Constraint:
    """``objective <= bound`` (``sense='max'``) or ``objective >= bound`` (``sense='min'``)."""

    objective: str
    sense: str
    bound: float

    @property
    def key(self) -> str:
        return f"{self.sense}_{self.objective}"

    def holds(self, value: float) -> bool:
        return value <= self.bound if self.sense == "max" else value >= self.bound


@dataclass(frozen=True)
class SearchSettings:
    """``grid``: every point; ``random``: ``trials`` points drawn without replacement (seeded);
    ``nsga2``: Optuna's NSGA-II for ``trials`` trials in generations of ``population``."""

    method: str = "grid"
    trials: int | None = None
    population: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in SEARCH_METHODS:
            raise ValueError(f"unknown search method {self.method!r}; valid: {', '.join(SEARCH_METHODS)}")
        if self.trials is not None and self.trials < 1:
            raise ValueError(f"search.trials must be a positive integer, got {self.trials}")
        if self.method != "grid" and self.trials is None:
            raise ValueError(f"search.trials is required for method {self.method!r}")
        if self.population < 2:
            raise ValueError(f"search.population must be at least 2, got {self.population}")


@dataclass(frozen=True)
class ExploreSpace:
    """Everything ``tessera.explore`` needs: model, quantization, hardware, objectives, search.

    ``eval_limit``: score on the first N test examples (``None``: the whole test split).
    ``objectives``: names from ``tessera.dse.explore.objectives.OBJECTIVES``; ``constraints``
    bound them (e.g. ``max_accuracy_drop: 1.0``).
    """

    model: str
    quantization: QuantSpace = field(default_factory=QuantSpace)
    hardware: tuple[HardwareSpace, ...] = (SystolicSpace(),)
    objectives: tuple[str, ...] = ("accuracy", "latency_us", "energy_pj")
    constraints: tuple[Constraint, ...] = ()
    search: SearchSettings = field(default_factory=SearchSettings)
    eval_limit: int | None = None
    name: str = "explore"

    def __post_init__(self) -> None:
        if not self.hardware:
            raise ValueError("hardware: give at least one hardware family")
        check_objectives(self.objectives, self.constraints, self.kinds)
        widest = self.quantization.widest_word_format()
        for family, design in self.designs():  # each design must be buildable before any work starts
            try:
                family.array(design, widest) if isinstance(family, SystolicSpace) else family.arch(design)
            except ValueError as err:
                raise ValueError(f"hardware: {design.label}: {err}") from None
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"eval_limit must be a positive number of examples, got {self.eval_limit}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(space.kind for space in self.hardware))

    def designs(self) -> list[tuple[HardwareSpace, HardwareDesign]]:
        """Every hardware design with the family it comes from, in file order."""
        return [(space, design) for space in self.hardware for design in space.designs()]

    def to_dict(self) -> dict[str, Any]:
        quant = self.quantization
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "model": self.model,
            "eval_limit": self.eval_limit,
            "quantization": {
                "weights": list(quant.weights),
                "activations": list(quant.activations),
                "methods": list(quant.methods),
                "rules": [_rule_dict(rule) for rule in quant.rules],
                "calibration_samples": quant.calibration_samples,
            },
            "hardware": [_hardware_dict(space) for space in self.hardware],
            "objectives": list(self.objectives),
            "constraints": {c.key: c.bound for c in self.constraints},
            "search": {f.name: getattr(self.search, f.name) for f in fields(self.search)},
        }

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    @classmethod
    def from_dict(cls, data: Any, source: str = "space") -> ExploreSpace:
        top = Fields(data, source, tuple(cls._KEYS))
        version = top.take("schema_version", int, SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"{top.field('schema_version')}: unsupported version {version}; expected 1")
        return top.build(
            cls,
            name=top.take("name", str, "explore"),
            model=_model_name(top),
            eval_limit=_optional_int(top, "eval_limit"),
            quantization=_quant_space(top),
            hardware=tuple(
                _hardware_space(item, f"{top.field('hardware')}[{i}]")
                for i, item in enumerate(top.take("hardware", list))
            ),
            objectives=tuple(_strings(top, "objectives", required=True)),
            constraints=_constraints(top),
            search=_search(top),
        )

    _KEYS: ClassVar[tuple[str, ...]] = (
        "schema_version",
        "name",
        "model",
        "eval_limit",
        "quantization",
        "hardware",
        "objectives",
        "constraints",
        "search",
    )


def storage_bits(name: str) -> float:
    """Stored bits per element of a format (block formats include their shared scale)."""
    fmt = get_format(name)
    return float(getattr(fmt, "bits_per_element", fmt.bits))


def load_space(path: str | Path) -> ExploreSpace:
    """Read a space from a YAML file; ValueError naming the key and line of any problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(f"cannot read space file {path}: {err.strerror}") from None
    return loads_space(text, str(path))


def loads_space(text: str, source: str = "space.yaml") -> ExploreSpace:
    return ExploreSpace.from_dict(loads_yaml_strict(text, source), source)


def shipped_spaces() -> list[str]:
    """Names of the spaces that ship with Tessera (``default``, ``resnet20``, ``minilm``)."""
    return sorted(path.stem for path in SPACES_DIR.glob("*.yaml"))


def shipped_space(name: str = "default") -> ExploreSpace:
    """A space shipped with Tessera, by name; ValueError listing the valid names."""
    path = SPACES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no shipped space {name!r}; valid: {', '.join(shipped_spaces())}")
    return load_space(path)


# Reading helpers: each takes the enclosing ``Fields`` so that errors name the key and line.


def _model_name(top: Fields) -> str:
    from tessera.zoo import model_names

    name = top.text("model")
    if name not in model_names():
        raise ValueError(f"{top.field('model')}: unknown model {name!r}; valid: {', '.join(model_names())}")
    return name


def _optional_int(fields_: Fields, key: str) -> int | None:
    value = fields_.take(key, object, None)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"{fields_.field(key)}: expected an integer or null, got {value!r}")
    return value


def _values(fields_: Fields, key: str, kind: type | tuple[type, ...], default: tuple) -> tuple:
    """A list of values of ``kind`` (a single value means a list of one); ``default`` when absent."""
    if key not in fields_.data:
        return default
    raw = fields_.data[key]
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise ValueError(f"{fields_.field(key)}: give at least one value")
    for value in values:
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
            raise ValueError(f"{fields_.field(key)}: {value!r} is not {_kind_name(kind)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{fields_.field(key)}: repeated values in {values!r}")
    return tuple(values)


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in _tuple(kind))


def _strings(fields_: Fields, key: str, required: bool = False) -> list[str]:
    values = fields_.take(key, list) if required else fields_.take(key, list, [])
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"{fields_.field(key)}: expected strings, got {value!r}")
    return values


def _quant_space(top: Fields) -> QuantSpace:
    data = top.take("quantization", Mapping)
    quant = Fields(data, top.field("quantization"), tuple(f.name for f in fields(QuantSpace)))
    formats = (str, type(None))
    methods = _values(quant, "methods", str, ("rtn",))
    for method in methods:
        if method not in METHODS:
            raise ValueError(
                f"{quant.field('methods')}: unknown method {method!r}; valid: {', '.join(METHODS)}"
            )
    rules = tuple(
        _rule(item, f"{quant.field('rules')}[{i}]") for i, item in enumerate(quant.take("rules", list, []))
    )
    return quant.build(
        QuantSpace,
        weights=_checked_formats(quant, "weights", _values(quant, "weights", formats, ("int8_channel",))),
        activations=_checked_formats(quant, "activations", _values(quant, "activations", formats, (None,))),
        methods=methods,
        rules=rules,
        calibration_samples=quant.take("calibration_samples", int, 128),
    )


def _checked_formats(quant: Fields, key: str, names: tuple[str | None, ...]) -> tuple[str | None, ...]:
    from tessera.formats import get_format

    for name in names:
        if name is not None:
            try:
                get_format(name)
            except ValueError as err:
                raise ValueError(f"{quant.field(key)}: {err}") from None
    return names


def _rule(data: Any, where: str) -> LayerRule:
    rule = Fields(data, where, ("pattern", "types", "weights", "activations", "skip"))
    values: dict[str, Any] = {"pattern": rule.take("pattern", str, "*")}
    if "types" in rule.data:
        values["types"] = tuple(_strings(rule, "types"))
    for key in ("weights", "activations"):
        value = rule.take(key, object, None)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{rule.field(key)}: expected a format name or null, got {value!r}")
        values[key] = value
    values["skip"] = rule.take("skip", bool, False)
    return rule.build(LayerRule, **values)


def _rule_dict(rule: LayerRule) -> dict[str, Any]:
    return {
        "pattern": rule.pattern,
        "types": list(rule.types),
        "weights": rule.weights,
        "activations": rule.activations,
        "skip": rule.skip,
    }


_HARDWARE_VALUE_KINDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "systolic": {"rows": int, "cols": int, "dataflow": str, "sram_kb": (int, float)},
    "cim": {"rows": int, "cols": int, "cell_bits": int, "input_bits": int, "adc_bits": int},
}
_HARDWARE_SCALARS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "systolic": {"clock_mhz": (int, float)},
    "cim": {"crossbars_per_tile": int},
}


def _hardware_space(data: Any, where: str) -> HardwareSpace:
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in HARDWARE_SPACES:
        line = getattr(data, "line", None)
        at = f"{where} (line {line})" if line else where
        raise ValueError(
            f"{at}, field 'kind': unknown hardware kind {kind!r}; valid: {', '.join(HARDWARE_SPACES)}"
        )
    lists, scalars = _HARDWARE_VALUE_KINDS[kind], _HARDWARE_SCALARS[kind]
    hw = Fields(data, where, ("kind", *lists, *scalars))
    cls = HARDWARE_SPACES[kind]
    defaults = cls()
    values: dict[str, Any] = {
        name: _values(hw, name, k, getattr(defaults, name)) for name, k in lists.items()
    }
    for name, k in scalars.items():
        values[name] = hw.take(name, k, getattr(defaults, name))
    if kind == "systolic":
        values["sram_kb"] = tuple(float(v) for v in values["sram_kb"])
    return hw.build(cls, **values)


def _hardware_dict(space: HardwareSpace) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": space.kind}
    for f in fields(space):
        value = getattr(space, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _constraints(top: Fields) -> tuple[Constraint, ...]:
    data = top.take("constraints", Mapping, {})
    where = top.field("constraints")
    out = []
    for key, bound in data.items():
        sense, _, objective = str(key).partition("_")
        if sense not in ("max", "min") or not objective:
            raise ValueError(f"{where}: key {key!r} must be max_<objective> or min_<objective>")
        if not isinstance(bound, (int, float)) or isinstance(bound, bool):
            raise ValueError(f"{where}, field {key!r}: expected a number, got {bound!r}")
        out.append(Constraint(objective, sense, float(bound)))
    return tuple(out)


def _search(top: Fields) -> SearchSettings:
    data = top.take("search", Mapping, {})
    search = Fields(data, top.field("search"), tuple(f.name for f in fields(SearchSettings)))
    return search.build(
        SearchSettings,
        method=search.take("method", str, "grid"),
        trials=_optional_int(search, "trials"),
        population=search.take("population", int, 16),
        seed=search.take("seed", int, 0),
    )
