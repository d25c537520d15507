"""SystolicArray: validation that names the field, word sizes from number formats."""

import pytest

from tessera.hw.systolic import EnergyTable, SystolicArray, cost, cost_batch
from tessera.workload.shapes import GemmShape


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rows": 0}, "rows"),
        ({"cols": -4}, "cols"),
        ({"rows": 2.5}, "rows"),
        ({"ifmap_sram_kb": 0}, "ifmap_sram_kb"),
        ({"filter_sram_kb": -1}, "filter_sram_kb"),
        ({"ofmap_sram_kb": 0.5}, "ofmap_sram_kb"),  # 512 words < one 32x32 tile
        ({"rows": 128, "cols": 128, "ifmap_sram_kb": 8}, "ifmap_sram_kb"),
        ({"rows": 2, "cols": 2, "ifmap_sram_kb": 0.05}, "ifmap_sram_kb"),  # 51 words < 100
        ({"bandwidth_mode": "user"}, "dram_bandwidth_words_per_cycle"),
        ({"bandwidth_mode": "user", "dram_bandwidth_words_per_cycle": 0}, "dram_bandwidth_words_per_cycle"),
        ({"dram_bandwidth_words_per_cycle": 8}, "dram_bandwidth_words_per_cycle"),
        ({"bandwidth_mode": "fast"}, "bandwidth_mode"),
        ({"clock_mhz": 0}, "clock_mhz"),
        ({"element_format": "int99"}, "element_format"),
    ],
)
def test_bad_field_is_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SystolicArray(**kwargs)


def test_unknown_dataflow_lists_the_valid_ones():
    with pytest.raises(ValueError, match="os, ws, is"):
        SystolicArray(dataflow="rs")


@pytest.mark.parametrize(
    ("fmt", "bits", "words_in_64kb"),
    [
        ("int8", 8, 65536),
        ("fp16", 16, 32768),
        ("e4m3", 8, 65536),
        ("int4", 4, 131072),
        ("mxfp4", 4.25, 123361),
    ],
)
def test_word_size_comes_from_the_format(fmt, bits, words_in_64kb):
    arch = SystolicArray(element_format=fmt)
    assert arch.bits_per_word == bits
    assert arch.word_bytes == bits / 8
    assert arch.ifmap_sram_words == words_in_64kb


def test_block_format_multiplier_sees_element_bits():
    arch = SystolicArray(element_format="mxfp4")
    assert arch.element_bits == 4


def test_smallest_buffer_is_one_tile():
    SystolicArray(rows=32, cols=32, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)  # 1024 words
    with pytest.raises(ValueError, match="tile"):
        SystolicArray(rows=32, cols=33, ifmap_sram_kb=1)


@pytest.mark.parametrize(("dims", "name"), [((0, 4, 4), "m"), ((4, -1, 4), "n"), ((4, 4, 0), "k")])
def test_non_positive_gemm_dimension_is_named(dims, name):
    m, n, k = dims
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        cost_batch(m, n, k, rows=8, cols=8, dataflow="ws", ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)
    with pytest.raises(ValueError):
        GemmShape(m, n, k)


def test_batch_rejects_bad_configuration_by_name():
    common = {"rows": 8, "cols": 8, "ifmap_sram_kb": 1, "filter_sram_kb": 1, "ofmap_sram_kb": 1}
    with pytest.raises(ValueError, match="os, ws, is"):
        cost_batch(4, 4, 4, dataflow=["ws", "xs"], **common)
    with pytest.raises(ValueError, match="filter_sram_kb"):
        cost_batch(4, 4, 4, dataflow="ws", **{**common, "filter_sram_kb": 0.01})
    with pytest.raises(ValueError, match="rows"):
        cost_batch(4, 4, 4, dataflow="ws", **{**common, "rows": [8, 0]})


def test_unknown_fidelity_and_layer_type():
    with pytest.raises(ValueError, match="model, trace"):
        cost(GemmShape(4, 4, 4), SystolicArray(), fidelity="exact")
    with pytest.raises(TypeError, match="GemmShape or a ConvShape"):
        cost((4, 4, 4), SystolicArray())


def test_energy_table_validation():
    with pytest.raises(ValueError, match="sram_points"):
        EnergyTable(sram_points=((32.0, 20.0), (8.0, 10.0)))
    with pytest.raises(ValueError, match="positive"):
        EnergyTable(dram_pj_per_bit=0)
