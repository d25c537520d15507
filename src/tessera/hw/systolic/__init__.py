"""A systolic-array cost model: SCALE-Sim v3's behaviour, re-derived, as a closed form and a replay.

``simulate(layers, arch)`` returns a ``SystolicCost`` (cycles, SRAM and DRAM traffic, utilization,
energy) for ``GemmShape``/``ConvShape`` layers on a ``SystolicArray``. ``fidelity="model"`` (the
default) is the closed form of ``model``; ``fidelity="trace"`` replays every request
(``trace``) and equals SCALE-Sim's reports. ``cost_batch``/``cost_grid`` evaluate the closed form on
numpy arrays of configurations and GEMMs at once.
"""

from tessera.hw.systolic.api import FIDELITIES, cost, cost_grid, ifmap_footprint_words, simulate
from tessera.hw.systolic.arch import BANDWIDTH_MODES, DATAFLOWS, MIN_BUFFER_WORDS, SystolicArray
from tessera.hw.systolic.batch import BatchCost, cost_batch
from tessera.hw.systolic.energy import EnergyTable
from tessera.hw.systolic.results import SystolicCost, total
from tessera.hw.systolic.trace import TraceStats, trace_cost

__all__ = [
    "BANDWIDTH_MODES",
    "DATAFLOWS",
    "FIDELITIES",
    "MIN_BUFFER_WORDS",
    "BatchCost",
    "EnergyTable",
    "SystolicArray",
    "SystolicCost",
    "TraceStats",
    "cost",
    "cost_batch",
    "cost_grid",
    "ifmap_footprint_words",
    "simulate",
    "total",
    "trace_cost",
]
