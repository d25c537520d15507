"""Costing a captured workload op by op: per-layer results with names, and their total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera.hw.systolic import SystolicArray, SystolicCost, cost, total
from tessera.workload import Workload


@dataclass(frozen=True)
class WorkloadCost:
    """The cost of every op a hardware model runs, by op name, and their sum."""

    workload: str
    layers: tuple[tuple[str, SystolicCost], ...]

    @property
    def total(self) -> SystolicCost:
        return total(c for _, c in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """Totals at the top level (``compute_cycles``, ``total_cycles``, ...; ``layer_count``) and a
        ``layers`` list with one row per op."""
        totals = self.total.to_dict()
        totals["layer_count"] = totals.pop("layers")
        return {
            "workload": self.workload,
            **totals,
            "layers": [{"name": name, **c.to_dict()} for name, c in self.layers],
        }


def simulate_workload(workload: Workload, arch: SystolicArray, fidelity: str = "model") -> WorkloadCost:
    """Cost each op of ``workload`` that the array runs (GEMMs, convolutions, attention matmuls)."""
    ops = workload.systolic_ops()
    if not ops:
        raise ValueError(f"workload {workload.name!r} has no GEMM, convolution or matmul to simulate")
    layers = tuple((op.name, cost(op.conv_shape or op.gemm(), arch, fidelity)) for op in ops)
    return WorkloadCost(workload.name, layers)
