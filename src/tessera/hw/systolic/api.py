"""The systolic model's entry points: cost one layer, or simulate a workload (their sum)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tessera.hw.systolic.arch import SystolicArray
from tessera.hw.systolic.batch import BatchCost, cost_batch
from tessera.hw.systolic.model import gemm_cost
from tessera.hw.systolic.results import SystolicCost, total
from tessera.hw.systolic.trace import trace_cost
from tessera.workload.shapes import ConvShape, GemmShape

FIDELITIES = ("model", "trace")
"""``model``: the closed form (fast; exact cycles and SRAM counts, SCALE-Sim's DRAM model without its
ring wraps); ``trace``: replays every request (slow; equal to SCALE-Sim v3 in every reported count)."""

Layer = GemmShape | ConvShape


def ifmap_footprint_words(conv: ConvShape) -> int:
    """Distinct input words one group of ``conv`` reads (inputs its filter never covers excluded)."""

    def covered(size: int, out: int, kernel: int, stride: int) -> int:
        return min((out - 1) * stride + kernel, out * kernel, size)

    rows = covered(conv.ifmap_h, conv.ofmap_h, conv.filter_h, conv.stride_h)
    cols = covered(conv.ifmap_w, conv.ofmap_w, conv.filter_w, conv.stride_w)
    return conv.batch * rows * cols * (conv.channels // conv.groups)


def ifmap_tap_words(conv: ConvShape) -> int:
    """Distinct input words one filter tap of one group of ``conv`` reads (``M x channels``)."""
    g = conv.gemm()
    return g.m * (conv.channels // conv.groups)


def cost(layer: Layer, arch: SystolicArray, fidelity: str = "model") -> SystolicCost:
    """The cost of one layer (all its groups) on ``arch``."""
    if fidelity not in FIDELITIES:
        raise ValueError(f"fidelity {fidelity!r} is not one of {', '.join(FIDELITIES)}")
    if not isinstance(arch, SystolicArray):
        raise TypeError(f"arch must be a SystolicArray, not {type(arch).__name__}")
    if not isinstance(layer, (GemmShape, ConvShape)):
        raise TypeError(f"a layer is a GemmShape or a ConvShape, not {type(layer).__name__}")
    if fidelity == "trace":
        return trace_cost(arch, layer)[0]
    if isinstance(layer, GemmShape):
        return gemm_cost(arch, layer.m, layer.n, layer.k).scaled(layer.count)
    g = layer.gemm()
    footprint, tap = ifmap_footprint_words(layer), ifmap_tap_words(layer)
    return gemm_cost(arch, g.m, g.n, g.k, footprint, tap).scaled(g.count)


def simulate(workload: Layer | Iterable[Layer], arch: SystolicArray, fidelity: str = "model") -> SystolicCost:
    """The summed cost of one layer or a sequence of layers on ``arch`` (layers run one after
    another, each starting with empty buffers, as in SCALE-Sim)."""
    layers = [workload] if isinstance(workload, (GemmShape, ConvShape)) else list(workload)
    return total(cost(layer, arch, fidelity) for layer in layers)


def cost_grid(archs: Iterable[SystolicArray], layers: Iterable[Layer]) -> BatchCost:
    """Every layer on every architecture with the closed form: a ``(len(archs), len(layers))``
    ``BatchCost`` (``.sum(axis=1)`` gives each architecture's total). The architectures must share
    ``element_format`` and ``energy``."""
    archs, layers = list(archs), list(layers)
    if not archs or not layers:
        raise ValueError("cost_grid needs at least one architecture and one layer")
    first = archs[0]
    for arch in archs:
        if not isinstance(arch, SystolicArray):
            raise TypeError(f"archs must be SystolicArray, not {type(arch).__name__}")
        if (arch.element_format, arch.energy) != (first.element_format, first.energy):
            raise ValueError("cost_grid needs one element_format and one energy table for all archs")
    gemms = []
    for layer in layers:
        if not isinstance(layer, (GemmShape, ConvShape)):
            raise TypeError(f"a layer is a GemmShape or a ConvShape, not {type(layer).__name__}")
        if isinstance(layer, GemmShape):
            gemms.append((layer.m, layer.n, layer.k, layer.count, layer.m * layer.k, layer.m * layer.k))
        else:
            g, footprint = layer.gemm(), ifmap_footprint_words(layer)
            gemms.append((g.m, g.n, g.k, g.count, footprint, ifmap_tap_words(layer)))
    col = np.asarray(gemms, dtype=np.int64).T[:, None, :]

    def per_arch(get) -> np.ndarray:
        return np.asarray([get(a) for a in archs])[:, None]

    return cost_batch(
        col[0],
        col[1],
        col[2],
        count=col[3],
        ifmap_words=col[4],
        tap_words=col[5],
        rows=per_arch(lambda a: a.rows),
        cols=per_arch(lambda a: a.cols),
        dataflow=per_arch(lambda a: a.dataflow),
        ifmap_sram_kb=per_arch(lambda a: a.ifmap_sram_kb),
        filter_sram_kb=per_arch(lambda a: a.filter_sram_kb),
        ofmap_sram_kb=per_arch(lambda a: a.ofmap_sram_kb),
        bandwidth_mode=per_arch(lambda a: a.bandwidth_mode),
        dram_bandwidth_words_per_cycle=per_arch(lambda a: a.dram_bandwidth_words_per_cycle or 1),
        clock_mhz=per_arch(lambda a: a.clock_mhz),
        element_bits=first.element_bits,
        bits_per_word=first.bits_per_word,
        energy=first.energy,
    )
