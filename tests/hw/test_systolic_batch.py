"""The vectorized closed form equals the scalar one, element by element, on random inputs."""

from dataclasses import fields

import numpy as np
import pytest

from tessera.hw.systolic import BatchCost, SystolicArray, cost_batch, cost_grid
from tessera.hw.systolic.model import gemm_cost
from tessera.workload.shapes import ConvShape, GemmShape

SIZES = np.array([1, 2, 3, 4, 7, 8, 16, 17, 32, 64, 128])
KB = np.array([0.25, 1, 2, 3, 8, 16, 64, 256])


def _random_cases(
    rng: np.random.Generator, count: int
) -> list[tuple[SystolicArray, int, int, int, int, int]]:
    cases = []
    while len(cases) < count:
        rows, cols = (int(rng.choice(SIZES)) for _ in range(2))
        kb = [float(rng.choice(KB)) for _ in range(3)]
        mode = str(rng.choice(["calc", "user"]))
        bw = int(rng.choice([1, 2, 3, 10, 64])) if mode == "user" else None
        fmt = str(rng.choice(["int8", "int8", "fp16", "int4"]))
        try:
            arch = SystolicArray(rows, cols, str(rng.choice(["os", "ws", "is"])), *kb, mode, bw, fmt)
        except ValueError:  # a buffer smaller than one tile
            continue
        m, n, k = (int(rng.choice([1, rng.integers(1, 60), rng.integers(1, 3000)])) for _ in range(3))
        footprint = int(rng.integers(1, m * k + 1)) if rng.random() < 0.3 else m * k
        tap = int(rng.integers(1, footprint + 1)) if rng.random() < 0.5 else footprint
        cases.append((arch, m, n, k, footprint, tap))
    return cases


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_equals_scalar_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    cases = _random_cases(rng, 1500)
    for fmt in ("int8", "fp16", "int4"):
        chosen = [c for c in cases if c[0].element_format == fmt]
        arch = [c[0] for c in chosen]
        batch = cost_batch(
            [c[1] for c in chosen],
            [c[2] for c in chosen],
            [c[3] for c in chosen],
            ifmap_words=[c[4] for c in chosen],
            tap_words=[c[5] for c in chosen],
            rows=[a.rows for a in arch],
            cols=[a.cols for a in arch],
            dataflow=[a.dataflow for a in arch],
            ifmap_sram_kb=[a.ifmap_sram_kb for a in arch],
            filter_sram_kb=[a.filter_sram_kb for a in arch],
            ofmap_sram_kb=[a.ofmap_sram_kb for a in arch],
            bandwidth_mode=[a.bandwidth_mode for a in arch],
            dram_bandwidth_words_per_cycle=[a.dram_bandwidth_words_per_cycle or 1 for a in arch],
            element_bits=arch[0].element_bits,
            bits_per_word=arch[0].bits_per_word,
        )
        for i, (a, m, n, k, footprint, tap) in enumerate(chosen):
            expected = gemm_cost(a, m, n, k, footprint, tap)
            got = batch.item(i)
            for f in fields(expected):
                want, have = getattr(expected, f.name), getattr(got, f.name)
                if isinstance(want, float):
                    assert have == pytest.approx(want, rel=1e-12), f"{f.name} of {a}, {(m, n, k)}"
                else:
                    assert have == want, f"{f.name} of {a}, {(m, n, k, footprint)}"


def test_grid_is_configurations_by_layers():
    archs = [SystolicArray(8, 32, "os", 16, 16, 16), SystolicArray(32, 32, "ws", 64, 64, 64, "user", 10)]
    layers = [
        GemmShape(200, 150, 300),
        ConvShape(9, 9, 3, 3, 64, 128, groups=2),
        GemmShape(7, 13, 5, count=3),
    ]
    grid = cost_grid(archs, layers)
    assert isinstance(grid, BatchCost)
    assert grid.shape == (2, 3)
    from tessera.hw.systolic import cost

    for i, arch in enumerate(archs):
        for j, layer in enumerate(layers):
            assert grid.item((i, j)) == cost(layer, arch)
        per_arch = grid.sum(axis=1)
        assert per_arch.compute_cycles[i] == sum(cost(layer, arch).compute_cycles for layer in layers)
    assert grid.to_dict()["utilization"].shape == (2, 3)


def test_sum_over_mixed_arrays_fails():
    grid = cost_grid(
        [SystolicArray(8, 8, "ws", 1, 1, 1), SystolicArray(16, 16, "ws", 1, 1, 1)], [GemmShape(8, 8, 8)]
    )
    with pytest.raises(ValueError, match="pe_count"):
        grid.sum(axis=0)
