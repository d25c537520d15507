"""The closed form against hand derivations of SCALE-Sim's formulas (REFERENCES section 4)."""

import math

import pytest

from tessera.hw.systolic import SystolicArray, SystolicCost, cost, simulate, total
from tessera.hw.systolic.energy import EnergyTable
from tessera.workload.shapes import ConvShape, GemmShape


def test_references_example_32x32_ws():
    # Inception 5b 3x3 (SCALE-Sim's test layer): 7x7x192 input given as is, 3x3, 384 filters:
    # M = 5*5, K = 3*3*192 = 1728, N = 384; WS folds = ceil(1728/32) * ceil(384/32) = 54 * 12
    arch = SystolicArray(32, 32, "ws", 64, 64, 64)
    c = cost(ConvShape(7, 7, 3, 3, 192, 384), arch)
    assert c.folds == 648
    assert c.compute_cycles == 648 * (2 * 32 + 32 + 25 - 2) - 1 == 77_111
    # the same layer padded to 9x9 has M = 49
    assert cost(ConvShape(9, 9, 3, 3, 192, 384), arch).compute_cycles == 648 * (64 + 32 + 49 - 2) - 1


# GEMM 7x13x5 (M, N, K) on a 4x4 array, worked by hand:
#   OS: Sr=M=7, Sc=N=13, T=K=5: folds 2*4, 4+4+5-2 = 11 cycles each
#   WS: Sr=K=5, Sc=N=13, T=M=7: folds 2*4, 2*4+4+7-2 = 17 cycles each
#   IS: Sr=K=5, Sc=M=7, T=N=13: folds 2*2, 2*4+4+13-2 = 23 cycles each
HAND = {
    # dataflow: (folds, compute cycles, ifmap reads, filter reads, ofmap writes, mapped PE-folds)
    "os": (8, 8 * 11 - 1, 4 * 35, 2 * 65, 91 + 8 * (4 + 4), 7 * 13),
    "ws": (8, 8 * 17 - 1, 4 * 35, 65, 2 * 91, 5 * 13),
    "is": (4, 4 * 23 - 1, 35, 2 * 65, 2 * 91, 5 * 7),
}


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_hand_derived_gemm(dataflow):
    arch = SystolicArray(4, 4, dataflow, 1, 1, 1)
    c = cost(GemmShape(m=7, n=13, k=5), arch)
    folds, cycles, ifmap, filt, ofmap, mapped = HAND[dataflow]
    assert (c.folds, c.compute_cycles, c.stall_cycles) == (folds, cycles, 0)
    assert (c.ifmap_sram_reads, c.filter_sram_reads, c.ofmap_sram_writes) == (ifmap, filt, ofmap)
    assert c.mapping_efficiency == mapped / (folds * 16)
    assert c.utilization == 7 * 13 * 5 / (16 * cycles)
    # every operand fits its buffer: each word comes from DRAM once (WS/IS rewrite partial sums)
    assert (c.dram_ifmap_reads_words, c.dram_filter_reads_words) == (35, 65)
    assert c.dram_ofmap_writes_words == (91 if dataflow == "os" else 2 * 91)


def test_os_filter_blocks_calc_mode():
    # OS, 8x8 array, 2 kB buffers: the CALC window is 50 * floor(2048 / 100) = 1000 words.
    # K=100, N=24: three weight blocks of 100 x 8 = 800 words, each read twice (M=16: 2 row folds).
    # block 1 stays (800 < 1000 remembered); block 2 fills the window after 200 of its words, the
    # window resets and keeps its last 600, so its second pass refetches the first 200; block 3
    # starts from 800 remembered words again and does the same.
    arch = SystolicArray(8, 8, "os", 2, 2, 2)
    c = cost(GemmShape(m=16, n=24, k=100), arch)
    assert c.dram_filter_reads_words == 800 + (800 + 200) + (800 + 200)


def test_ifmap_larger_than_window_is_refetched_each_col_fold():
    # WS, 8x8, 2 kB: window 1000 words. The ifmap (40 x 30 = 1200 words) does not stay, so each of
    # the ceil(24 / 8) = 3 col folds reads it again; at 1 kB more, it stays.
    gemm = GemmShape(m=40, n=24, k=30)
    assert cost(gemm, SystolicArray(8, 8, "ws", 2, 2, 2)).dram_ifmap_reads_words == 3 * 1200
    assert cost(gemm, SystolicArray(8, 8, "ws", 3, 2, 2)).dram_ifmap_reads_words == 1200


def test_user_mode_small_operand_is_one_padded_fill():
    # WS 4x4, 1 kB, 4 words/cycle: the ifmap prefetch sequence has ceil(5/4) * 7 * 4 = 56 slots
    # (padding included); it fits the first half (512 words), so DRAM reads 56 words, no refills.
    arch = SystolicArray(4, 4, "ws", 1, 1, 1, "user", 4)
    c = cost(GemmShape(m=7, n=13, k=5), arch)
    assert c.dram_ifmap_reads_words == 56
    assert c.stall_cycles == 0


def test_conv_footprint_is_read_once_when_it_fits():
    conv = ConvShape(9, 9, 3, 3, 16, 32)  # 9 * 9 * 16 distinct input words, im2col reads 7*7*144
    c = cost(conv, SystolicArray(16, 16, "ws", 64, 64, 64))
    assert c.dram_ifmap_reads_words == 9 * 9 * 16
    assert c.ifmap_sram_reads == 2 * 49 * 144  # read once per col fold (32 filters / 16 cols)


def test_grouped_conv_costs_each_group():
    arch = SystolicArray(8, 8, "ws", 4, 4, 4)
    grouped = cost(ConvShape(10, 10, 3, 3, 16, 16, groups=4), arch)
    one = cost(ConvShape(10, 10, 3, 3, 4, 4), arch)
    assert grouped.compute_cycles == 4 * one.compute_cycles
    assert grouped.macs == 4 * one.macs
    assert grouped.layers == 1
    assert grouped.utilization == pytest.approx(one.utilization)


def test_costs_add_across_layers():
    arch = SystolicArray(16, 16, "os", 8, 8, 8)
    a, b = cost(GemmShape(64, 96, 40), arch), cost(GemmShape(7, 13, 5), arch)
    s = a + b
    assert s == total([a, b]) == simulate([GemmShape(64, 96, 40), GemmShape(7, 13, 5)], arch)
    assert s.layers == 2
    assert s.total_cycles == a.total_cycles + b.total_cycles
    assert s.energy_pj == pytest.approx(a.energy_pj + b.energy_pj)
    assert s.utilization == (a.macs + b.macs) / (256 * (a.total_cycles + b.total_cycles))
    row = s.to_dict()
    assert row["dram_ifmap_reads_words"] == s.dram_ifmap_reads_words
    assert row["utilization"] == s.utilization
    assert row["latency_us"] == s.total_cycles / 1000.0


def test_adding_costs_of_different_arrays_fails():
    a = cost(GemmShape(8, 8, 8), SystolicArray(8, 8, "ws", 1, 1, 1))
    b = cost(GemmShape(8, 8, 8), SystolicArray(16, 16, "ws", 1, 1, 1))
    with pytest.raises(ValueError, match="pe_count"):
        a + b
    with pytest.raises(ValueError, match="at least one"):
        total([])


def test_energy_model_figures():
    e = EnergyTable()
    assert e.mac_pj(8) == pytest.approx(0.2 + 0.1)
    assert e.mac_pj(16) == pytest.approx(0.8 + 0.1)
    for kb, pj64 in ((8, 10.0), (32, 20.0), (1024, 100.0)):
        assert e.sram_pj_per_bit(kb) == pytest.approx(pj64 / 64)
    assert e.sram_pj_per_bit(4) < e.sram_pj_per_bit(8) < e.sram_pj_per_bit(16) < e.sram_pj_per_bit(32)
    assert e.sram_pj_per_bit(4096) > e.sram_pj_per_bit(1024)
    arch = SystolicArray(8, 8, "ws", 8, 8, 8)
    c = cost(GemmShape(16, 16, 16), arch)
    assert c.mac_energy_pj == pytest.approx(16**3 * 0.3)
    assert c.dram_energy_pj == pytest.approx(c.dram_words * 8 * 1300 / 64)
    accesses = (
        c.ifmap_sram_reads + c.filter_sram_reads + c.ofmap_sram_writes + c.dram_words
    )  # all three buffers are 8 kB
    assert c.sram_energy_pj == pytest.approx(accesses * 8 * 10 / 64)
    assert c.energy_pj == pytest.approx(c.mac_energy_pj + c.sram_energy_pj + c.dram_energy_pj)


def test_wider_words_cost_more_energy_and_hold_fewer_words():
    gemm = GemmShape(200, 150, 300)
    int8 = cost(gemm, SystolicArray(16, 16, "ws", 8, 8, 8))
    fp16 = cost(gemm, SystolicArray(16, 16, "ws", 8, 8, 8, element_format="fp16"))
    assert fp16.compute_cycles == int8.compute_cycles
    assert fp16.dram_ifmap_reads_words >= int8.dram_ifmap_reads_words
    assert fp16.energy_pj > int8.energy_pj


def test_user_mode_stalls_when_bandwidth_is_short():
    gemm = GemmShape(200, 150, 300)
    slow = cost(gemm, SystolicArray(32, 32, "ws", 64, 64, 64, "user", 1))
    fast = cost(gemm, SystolicArray(32, 32, "ws", 64, 64, 64, "user", 64))
    assert slow.stall_cycles > fast.stall_cycles >= 0
    assert slow.compute_cycles == fast.compute_cycles
    assert math.isclose(slow.latency_us, slow.total_cycles / 1000.0)


def test_scaled_rejects_non_positive():
    c = cost(GemmShape(8, 8, 8), SystolicArray(8, 8, "ws", 1, 1, 1))
    assert isinstance(c.scaled(3), SystolicCost)
    with pytest.raises(ValueError, match="times"):
        c.scaled(0)
