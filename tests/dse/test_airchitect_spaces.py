"""The three case studies' design spaces: configurations, sampling, input checks, the cost model's
symmetry that case 3 relies on."""

import numpy as np
import pytest

from tessera.dse.airchitect import DIM_HIGH, SPACES, get_space
from tessera.hw.systolic import SystolicArray, cost
from tessera.workload.shapes import GemmShape


@pytest.mark.parametrize(("case", "configs"), [(1, 180), (2, 512), (3, 4)])
def test_configuration_counts(case, configs):
    assert get_space(case).num_configs == configs


def test_case1_configs_fill_their_budget():
    c = get_space(1).configs
    assert np.array_equal(c["rows"] * c["cols"], c["mac_budget"])
    assert min(c["rows"].min(), c["cols"].min()) >= 2
    per_budget = np.bincount(np.log2(c["mac_budget"]).astype(int))[5:]
    assert per_budget.tolist() == [3 * (b - 1) for b in range(5, 13)]


@pytest.mark.parametrize("case", sorted(SPACES))
def test_every_configuration_is_a_valid_array_and_allowed_somewhere(case):
    space = get_space(case)
    x = space.check(space.sample(400, seed=0))
    assert space.feasible(x).any(axis=0).all(), "a configuration no sampled workload may use"
    row = {name: int(v[0]) for name, v in x.items()}
    for config in range(space.num_configs):
        assert space.scalar_cost(row, config).total_cycles > 0


@pytest.mark.parametrize("case", sorted(SPACES))
def test_sampling_is_seeded_and_in_range(case):
    space = get_space(case)
    a, b, c = space.sample(1000, 7), space.sample(1000, 7), space.sample(1000, 8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    for f in space.features:
        values = a[f.name]
        if f.choices:
            assert set(values.tolist()) == set(f.choices)
        else:
            assert values.min() >= 1 and values.max() <= DIM_HIGH
            # log-uniform: about as many values in each octave
            octaves = np.bincount(np.floor(np.log2(values)).astype(int), minlength=12)[:12]
            assert octaves.min() > 1000 / 12 / 2


def test_max_dim_narrows_the_gemms():
    x = get_space(1).sample(500, 0, max_dim=64)
    assert max(x[d].max() for d in "mnk") <= 64


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"m": [0], "n": [1], "k": [1], "mac_budget": [32]}, "input m must be positive"),
        ({"m": [1.5], "n": [1], "k": [1], "mac_budget": [32]}, "input m must be integers"),
        ({"m": [1], "n": [1], "k": [1], "mac_budget": [100]}, "input mac_budget 100 is not one of"),
        ({"m": [1], "n": [1], "k": [1]}, "needs the inputs mac_budget"),
        ({"m": [1], "n": [1], "k": [1], "mac_budget": [32], "rows": [8]}, "has no input 'rows'"),
        ({"m": [1, 2], "n": [1], "k": [1], "mac_budget": [32]}, "one value per workload"),
    ],
)
def test_bad_inputs_name_the_input(inputs, message):
    with pytest.raises(ValueError, match=message):
        get_space(1).check(inputs)


@pytest.mark.parametrize("case", [0, 4, "1", True])
def test_unknown_case(case):
    with pytest.raises(ValueError, match="unknown case"):
        get_space(case)


def test_describe_names_dataflows_and_checks_the_id():
    space = get_space(3)
    assert [space.describe(i) for i in range(4)] == [
        {"dataflow": "os", "transposed": 0},
        {"dataflow": "os", "transposed": 1},
        {"dataflow": "ws", "transposed": 0},
        {"dataflow": "is", "transposed": 0},
    ]
    with pytest.raises(ValueError, match=r"configurations 0\.\.3"):
        space.describe(4)


def test_ws_on_the_transposed_gemm_costs_as_is():
    """Why case 3 lists four mappings, not six: with equal buffers the model is symmetric under
    transposition (the two inputs swap buffers; cycles and traffic stay)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        m, n, k = (int(v) for v in np.floor(np.exp2(rng.uniform(0, 12, 3))))
        rows, cols = (int(v) for v in rng.choice([8, 16, 32, 64, 128], 2))
        ws, is_ = (SystolicArray(rows, cols, df, 64.0, 64.0, 64.0, "user", 8) for df in ("ws", "is"))
        a, b = cost(GemmShape(n, m, k), ws), cost(GemmShape(m, n, k), is_)
        assert (a.compute_cycles, a.stall_cycles) == (b.compute_cycles, b.stall_cycles)
        assert (a.ifmap_sram_reads, a.filter_sram_reads) == (b.filter_sram_reads, b.ifmap_sram_reads)
        assert (a.dram_ifmap_reads_words, a.dram_filter_reads_words) == (
            b.dram_filter_reads_words,
            b.dram_ifmap_reads_words,
        )
        assert a.dram_ofmap_writes_words == b.dram_ofmap_writes_words
