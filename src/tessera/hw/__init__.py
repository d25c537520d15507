"""Hardware models: an architecture dataclass and functions that cost a workload on it.

``simulate(workload, arch)`` dispatches on the architecture's type; today that is the systolic
array of ``tessera.hw.systolic``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tessera.hw.systolic import SystolicArray, SystolicCost
from tessera.hw.systolic import simulate as _simulate_systolic
from tessera.hw.workload_cost import WorkloadCost, simulate_workload
from tessera.workload.shapes import ConvShape, GemmShape


def simulate(
    workload: GemmShape | ConvShape | Iterable[GemmShape | ConvShape],
    arch: SystolicArray,
    fidelity: str = "model",
) -> SystolicCost:
    """The summed cost of a layer or a sequence of layers on a hardware model (see
    ``tessera.hw.systolic.simulate``; ``fidelity`` is ``model`` or ``trace``)."""
    if isinstance(arch, SystolicArray):
        return _simulate_systolic(workload, arch, fidelity)
    raise TypeError(f"no hardware model for {type(arch).__name__}; known: SystolicArray")


__all__ = ["SystolicArray", "SystolicCost", "WorkloadCost", "simulate", "simulate_workload"]
