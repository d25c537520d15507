"""The three AIRCHITECT case studies as design spaces: inputs and their distribution, the configurations
a classifier chooses among, which of them a workload may use, and what each costs.

Every workload is one GEMM, ``(M x K) @ (K x N)``, with ``M``, ``N``, ``K`` drawn log-uniformly (see
``Feature``) from 1 to ``DIM_HIGH`` = 4096, plus the inputs of its case study. Costs come from the
closed-form systolic model (``tessera.hw.systolic.cost_batch``; ``scalar_cost`` is the same through
``tessera.hw.systolic.cost``), with 8-bit words (``int8``) and a 1 GHz clock.

1. ``ArrayShapeSpace``: array shape and dataflow under a MAC budget. Inputs ``m, n, k, mac_budget``
   (``2^5 .. 2^12`` MACs, uniform over the 8 powers of two). Configurations: every ``rows x cols``
   with ``rows * cols`` a budget and both sides powers of two of at least 2, times the dataflows
   ``os``, ``ws``, ``is`` (180 configurations; a workload may use those of its budget, 12 to 33).
   64 kB per buffer, CALC bandwidth (no stalls: the fewest cycles is the fewest compute cycles).
2. ``BufferSpace``: SRAM buffer sizes under a total SRAM budget, for a fixed 32 x 32 weight-stationary
   array whose DRAM interface moves 4 words per cycle per operand (USER bandwidth: a small buffer
   stalls). Inputs ``m, n, k, sram_budget_kb`` (8 to 512 kB, uniform over the 7 powers of two).
   Configurations: ifmap, filter and ofmap buffers of 1 to 128 kB each, powers of two (512
   configurations); a workload may use those whose sum is at most its budget.
3. ``MappingSpace``: the mapping of a GEMM onto a given array. Inputs ``m, n, k, rows, cols`` (8 to
   128 each, uniform over the 5 powers of two). Configurations: the dataflows and the operand
   order: ``transposed`` computes ``C^T = B^T A^T``, i.e. the GEMM ``(N, M, K)``, which swaps the
   roles of the two inputs. Four distinct mappings: ``os`` (rows <- M, cols <- N), ``os``
   transposed (rows <- N, cols <- M), ``ws`` (rows <- K, cols <- N, M streamed) and ``is`` (rows <- K,
   cols <- M, N streamed); ``ws`` transposed is not listed, the model costs it exactly as ``is``, and
   ``is`` transposed likewise equals ``ws``. All four are allowed; 64 kB per buffer, USER bandwidth
   of 8 words per cycle.

The label of a workload is the configuration with the fewest total cycles (compute plus stall).
Ties are broken by a second key, then by the lowest configuration id: case 1 and 3 prefer the fewest
DRAM words moved (ifmap and filter reads plus ofmap writes), case 2 the least total SRAM (kB).
Configuration ids are row numbers of ``configs`` in the order written in each class's docstring.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from tessera.hw.systolic import DATAFLOWS, BatchCost, SystolicArray, SystolicCost, cost, cost_batch
from tessera.workload.shapes import GemmShape

DIM_LOW, DIM_HIGH = 1, 4096
"""The range of ``M``, ``N`` and ``K`` in generated workloads (inclusive)."""


@dataclass(frozen=True)
class Feature:
    """One input of a case study, an integer. Either drawn log-uniformly in ``[low, high]`` (``x =
    floor(2^u)``, ``u`` uniform in ``[log2 low, log2(high + 1))``, so each octave is equally likely)
    or, when ``choices`` is set, uniformly among ``choices``; then only those values are accepted."""

    name: str
    doc: str
    low: int = DIM_LOW
    high: int = DIM_HIGH
    choices: tuple[int, ...] = ()

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` values as an int64 array."""
        if self.choices:
            return np.asarray(self.choices, dtype=np.int64)[rng.integers(0, len(self.choices), size)]
        u = rng.uniform(np.log2(self.low), np.log2(self.high + 1), size)
        return np.minimum(np.floor(np.exp2(u)).astype(np.int64), self.high)

    def check(self, values: object) -> np.ndarray:
        """``values`` as an int64 array; ValueError naming the feature if one is not a positive
        integer or, for a feature with ``choices``, not one of them."""
        arr = np.asarray(values)
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise ValueError(f"input {self.name} must be integers, got {arr.dtype} values")
        arr = arr.astype(np.int64)
        if (arr < 1).any():
            raise ValueError(f"input {self.name} must be positive, got {arr[arr < 1].ravel()[0]}")
        if self.choices:
            bad = ~np.isin(arr, self.choices)
            if bad.any():
                allowed = ", ".join(str(c) for c in self.choices)
                raise ValueError(f"input {self.name} {arr[bad].ravel()[0]} is not one of {allowed}")
        return arr


def _dims() -> tuple[Feature, ...]:
    return (
        Feature("m", "rows of the left operand and of the output"),
        Feature("n", "columns of the right operand and of the output"),
        Feature("k", "the reduction dimension"),
    )


def _dram_words(c: BatchCost | SystolicCost) -> object:
    return c.dram_ifmap_reads_words + c.dram_filter_reads_words + c.dram_ofmap_writes_words


class DesignSpace(ABC):
    """A case study: ``features`` (the classifier's inputs), ``configs`` (one column per property, one
    row per configuration id) and the cost of a configuration on a workload. Subclasses set the
    class attributes and implement ``feasible``, ``cost_pairs``, ``scalar_cost``, ``tie_break``."""

    case: int
    name: str
    features: tuple[Feature, ...]
    configs: dict[str, np.ndarray]
    budget_input: str | None = None
    """The input that is a budget (it decides which configurations are allowed), if any."""

    @property
    @abstractmethod
    def settings(self) -> dict[str, object]:
        """The fixed parameters of the space (buffers, bandwidth...), recorded with datasets and models."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The names of the inputs, in the classifier's order."""
        return tuple(f.name for f in self.features)

    @property
    def num_configs(self) -> int:
        """The number of configurations (ids ``0 .. num_configs - 1``)."""
        return len(next(iter(self.configs.values())))

    def sample(self, size: int, seed: int, max_dim: int = DIM_HIGH) -> dict[str, np.ndarray]:
        """``size`` workloads drawn with ``numpy.random.default_rng(seed)``, feature by feature;
        ``M``, ``N``, ``K`` log-uniformly from 1 to ``max_dim`` (default ``DIM_HIGH``)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"the number of samples must be a positive integer, got {size!r}")
        if isinstance(max_dim, bool) or not isinstance(max_dim, int) or max_dim < 1:
            raise ValueError(f"max_dim must be a positive integer, got {max_dim!r}")
        rng = np.random.default_rng(seed)
        return {
            f.name: (f if f.choices else replace(f, high=max_dim)).sample(rng, size) for f in self.features
        }

    def check(self, x: dict[str, object]) -> dict[str, np.ndarray]:
        """The workloads ``x`` (feature name -> values) as 1-D int64 arrays of one length, checked."""
        missing = [name for name in self.feature_names if name not in x]
        if missing:
            raise ValueError(f"case {self.case} needs the inputs {', '.join(missing)}")
        extra = sorted(set(x) - set(self.feature_names))
        if extra:
            raise ValueError(f"case {self.case} has no input {extra[0]!r}")
        out = {f.name: np.atleast_1d(f.check(x[f.name])).ravel() for f in self.features}
        if len({len(v) for v in out.values()}) != 1:
            raise ValueError("every input needs one value per workload")
        return out

    @abstractmethod
    def feasible(self, x: dict[str, np.ndarray]) -> np.ndarray:
        """A ``(workloads, configs)`` boolean mask: the configurations each workload may use."""

    @abstractmethod
    def cost_pairs(self, x: dict[str, np.ndarray], ids: np.ndarray) -> BatchCost:
        """The cost of configuration ``ids[i]`` on workload ``i`` (``x`` and ``ids`` of one length)."""

    @abstractmethod
    def scalar_cost(self, row: dict[str, int], config_id: int) -> SystolicCost:
        """One configuration on one workload through ``tessera.hw.systolic.cost``: the reference."""

    @abstractmethod
    def tie_break(self, c: BatchCost | SystolicCost, ids: object) -> object:
        """The second key of the label (smaller wins) among configurations with the fewest cycles."""

    def describe(self, config_id: int) -> dict[str, object]:
        """Configuration ``config_id``'s properties by name (dataflows by name)."""
        if not 0 <= config_id < self.num_configs:
            raise ValueError(
                f"case {self.case} has configurations 0..{self.num_configs - 1}, not {config_id}"
            )
        out: dict[str, object] = {}
        for key, column in self.configs.items():
            value = column[config_id].item()
            out[key] = DATAFLOWS[value] if key == "dataflow" else value
        return out

    def to_dict(self) -> dict[str, object]:
        """What defines the space, as JSON-ready values (saved beside datasets and models)."""
        return {
            "case": self.case,
            "name": self.name,
            "features": {
                f.name: {"doc": f.doc, "choices": list(f.choices)}
                if f.choices
                else {"doc": f.doc, "low": f.low, "high": f.high}
                for f in self.features
            },
            "settings": dict(self.settings),
            "configs": {key: column.tolist() for key, column in self.configs.items()},
        }


class ArrayShapeSpace(DesignSpace):
    """Case 1: array shape and dataflow under a MAC budget (see the module docstring). Configuration
    ids run over budgets (ascending), then rows (ascending), then dataflow (os, ws, is)."""

    case = 1
    name = "array shape and dataflow"
    budgets = tuple(2**b for b in range(5, 13))
    min_side = 2
    buffer_kb = 64.0
    budget_input = "mac_budget"
    features = (
        *_dims(),
        Feature("mac_budget", "multiply-accumulate units the array may have", choices=budgets),
    )

    def __init__(self) -> None:
        rows = [
            (b, r, b // r, df)
            for b in self.budgets
            for r in (2**i for i in range(b.bit_length()))
            if min(r, b // r) >= self.min_side
            for df in range(len(DATAFLOWS))
        ]
        table = np.asarray(rows, dtype=np.int64)
        self.configs = {
            "mac_budget": table[:, 0],
            "rows": table[:, 1],
            "cols": table[:, 2],
            "dataflow": table[:, 3],
        }

    @property
    def settings(self) -> dict[str, object]:
        return {"buffer_kb": self.buffer_kb, "bandwidth_mode": "calc", "min_side": self.min_side}

    def feasible(self, x: dict[str, np.ndarray]) -> np.ndarray:
        return x["mac_budget"][:, None] == self.configs["mac_budget"][None, :]

    def cost_pairs(self, x: dict[str, np.ndarray], ids: np.ndarray) -> BatchCost:
        c = self.configs
        return cost_batch(
            x["m"],
            x["n"],
            x["k"],
            rows=c["rows"][ids],
            cols=c["cols"][ids],
            dataflow=c["dataflow"][ids],
            ifmap_sram_kb=self.buffer_kb,
            filter_sram_kb=self.buffer_kb,
            ofmap_sram_kb=self.buffer_kb,
            bandwidth_mode="calc",
        )

    def scalar_cost(self, row: dict[str, int], config_id: int) -> SystolicCost:
        c = self.describe(config_id)
        kb = self.buffer_kb
        arch = SystolicArray(c["rows"], c["cols"], c["dataflow"], kb, kb, kb)
        return cost(GemmShape(row["m"], row["n"], row["k"]), arch)

    def tie_break(self, c: BatchCost | SystolicCost, ids: object) -> object:
        return _dram_words(c)


class BufferSpace(DesignSpace):
    """Case 2: SRAM buffer sizes under a total budget (see the module docstring). Configuration ids
    run over ifmap kB, then filter kB, then ofmap kB, each ascending."""

    case = 2
    name = "SRAM buffer sizing"
    sizes_kb = tuple(2**i for i in range(8))
    budgets_kb = tuple(2**b for b in range(3, 10))
    rows = cols = 32
    dataflow = "ws"
    bandwidth_words_per_cycle = 4
    budget_input = "sram_budget_kb"
    features = (
        *_dims(),
        Feature("sram_budget_kb", "total kB the three buffers may have", choices=budgets_kb),
    )

    def __init__(self) -> None:
        table = np.asarray(list(itertools.product(self.sizes_kb, repeat=3)), dtype=np.int64)
        self.configs = {"ifmap_kb": table[:, 0], "filter_kb": table[:, 1], "ofmap_kb": table[:, 2]}
        self._total_kb = table.sum(axis=1)

    @property
    def settings(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "cols": self.cols,
            "dataflow": self.dataflow,
            "bandwidth_mode": "user",
            "dram_bandwidth_words_per_cycle": self.bandwidth_words_per_cycle,
        }

    def feasible(self, x: dict[str, np.ndarray]) -> np.ndarray:
        return self._total_kb[None, :] <= x["sram_budget_kb"][:, None]

    def cost_pairs(self, x: dict[str, np.ndarray], ids: np.ndarray) -> BatchCost:
        c = self.configs
        return cost_batch(
            x["m"],
            x["n"],
            x["k"],
            rows=self.rows,
            cols=self.cols,
            dataflow=self.dataflow,
            ifmap_sram_kb=c["ifmap_kb"][ids].astype(float),
            filter_sram_kb=c["filter_kb"][ids].astype(float),
            ofmap_sram_kb=c["ofmap_kb"][ids].astype(float),
            bandwidth_mode="user",
            dram_bandwidth_words_per_cycle=self.bandwidth_words_per_cycle,
        )

    def scalar_cost(self, row: dict[str, int], config_id: int) -> SystolicCost:
        c = self.describe(config_id)
        arch = SystolicArray(
            self.rows,
            self.cols,
            self.dataflow,
            float(c["ifmap_kb"]),
            float(c["filter_kb"]),
            float(c["ofmap_kb"]),
            "user",
            self.bandwidth_words_per_cycle,
        )
        return cost(GemmShape(row["m"], row["n"], row["k"]), arch)

    def tie_break(self, c: BatchCost | SystolicCost, ids: object) -> object:
        return self._total_kb[ids]


class MappingSpace(DesignSpace):
    """Case 3: dataflow and operand order for a given array (see the module docstring). Configuration
    ids: 0 ``os``, 1 ``os`` transposed, 2 ``ws``, 3 ``is``."""

    case = 3
    name = "mapping (dataflow and operand order)"
    sides = tuple(2**i for i in range(3, 8))
    buffer_kb = 64.0
    bandwidth_words_per_cycle = 8
    features = (
        *_dims(),
        Feature("rows", "rows of the array", choices=sides),
        Feature("cols", "columns of the array", choices=sides),
    )

    def __init__(self) -> None:
        table = np.asarray([(0, 0), (0, 1), (1, 0), (2, 0)], dtype=np.int64)
        self.configs = {"dataflow": table[:, 0], "transposed": table[:, 1]}

    @property
    def settings(self) -> dict[str, object]:
        return {
            "buffer_kb": self.buffer_kb,
            "bandwidth_mode": "user",
            "dram_bandwidth_words_per_cycle": self.bandwidth_words_per_cycle,
        }

    def feasible(self, x: dict[str, np.ndarray]) -> np.ndarray:
        return np.ones((len(x["m"]), self.num_configs), dtype=bool)

    def cost_pairs(self, x: dict[str, np.ndarray], ids: np.ndarray) -> BatchCost:
        swap = self.configs["transposed"][ids] == 1
        kb, bw = self.buffer_kb, self.bandwidth_words_per_cycle
        return cost_batch(
            np.where(swap, x["n"], x["m"]),
            np.where(swap, x["m"], x["n"]),
            x["k"],
            rows=x["rows"],
            cols=x["cols"],
            dataflow=self.configs["dataflow"][ids],
            ifmap_sram_kb=kb,
            filter_sram_kb=kb,
            ofmap_sram_kb=kb,
            bandwidth_mode="user",
            dram_bandwidth_words_per_cycle=bw,
        )

    def scalar_cost(self, row: dict[str, int], config_id: int) -> SystolicCost:
        c = self.describe(config_id)
        m, n = (row["n"], row["m"]) if c["transposed"] else (row["m"], row["n"])
        kb, bw = self.buffer_kb, self.bandwidth_words_per_cycle
        arch = SystolicArray(row["rows"], row["cols"], c["dataflow"], kb, kb, kb, "user", bw)
        return cost(GemmShape(m, n, row["k"]), arch)

    def tie_break(self, c: BatchCost | SystolicCost, ids: object) -> object:
        return _dram_words(c)


SPACES: dict[int, DesignSpace] = {s.case: s for s in (ArrayShapeSpace(), BufferSpace(), MappingSpace())}
"""The three case studies by number."""


def get_space(case: int) -> DesignSpace:
    """The design space of AIRCHITECT case study ``case`` (1, 2 or 3)."""
    if isinstance(case, bool) or case not in SPACES:
        raise ValueError(f"unknown case {case!r}: the case studies are {', '.join(map(str, SPACES))}")
    return SPACES[case]
