"""RRAM compute-in-memory: crossbars, weight and input mappings, exact and analog simulation.

``Crossbar`` describes the array and its devices; ``get_mapping`` the way a layer is stored
(binary, ternary and integer mappings); ``CrossbarLayer`` runs one weight matrix; ``map_to_cim``
runs a whole network on crossbars and ``restore_cim`` undoes it. ``tessera.hw.cim.latency`` costs a
captured workload's crossbar latency and ADC energy for per-layer bit widths.
"""

from tessera.hw.cim.device import ADC_MODES, PRESETS, Crossbar, preset
from tessera.hw.cim.engine import CrossbarLayer, Footprint
from tessera.hw.cim.latency import CIMArch, CIMLayerCost, CIMWorkloadCost, layer_cost, workload_cost
from tessera.hw.cim.mapping import MAPPING_NAMES, Mapping, get_mapping, mappings_of_kind
from tessera.hw.cim.network import CIMLayer, CIMReport, map_to_cim, restore_cim, set_digital

__all__ = [
    "ADC_MODES",
    "MAPPING_NAMES",
    "PRESETS",
    "CIMArch",
    "CIMLayer",
    "CIMLayerCost",
    "CIMReport",
    "CIMWorkloadCost",
    "Crossbar",
    "CrossbarLayer",
    "Footprint",
    "Mapping",
    "get_mapping",
    "layer_cost",
    "map_to_cim",
    "mappings_of_kind",
    "preset",
    "restore_cim",
    "set_digital",
    "workload_cost",
]
