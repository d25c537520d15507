"""Hardware objectives of explore points on the digits CNN: per-layer formats, batched systolic costs
against per-layer ``cost``, CIM costs against ``workload_cost``, weight memory, area proxies and the
CIM read energy."""

import math

import numpy as np
import pytest
from torch import nn

import tessera
import tessera.zoo
from tessera.dse.explore.area import crossbar_area_mm2, pe_area_um2, systolic_area_mm2
from tessera.dse.explore.hardware import (
    LayerFormats,
    cim_incompatibility,
    cost_designs,
    layer_formats,
    memory_bytes,
)
from tessera.dse.explore.space import CIMSpace, SystolicSpace
from tessera.hw.cim.latency import CIMArch, layer_cost, workload_cost
from tessera.hw.systolic import SystolicArray, cost
from tessera.quant.config import LayerRule, QuantConfig
from tessera.workload.shapes import ConvShape, GemmShape

# Layer names of the digits CNN (nn.Sequential indices): two convolutions, two linear layers.
CONV1, CONV2, FC1, FC2 = "0", "2", "6", "8"
INT_BITS = {"int8_channel": 8, "int4_g32": 4}


@pytest.fixture(scope="module")
def digits():
    spec = tessera.zoo.get_model("digits-cnn")
    model = spec.build()
    workload = tessera.capture(model, spec.calibration(n_samples=1, batch_size=1)[0])
    return model, workload


@pytest.fixture(scope="module")
def workload(digits):
    return digits[1]


def config(weights, activations, *rules):
    return QuantConfig(weights=weights, activations=activations, rules=rules)


def mixed_formats(workload):
    """int4_g32 weights and int8_channel activations (int8 words) except the first convolution, which
    a rule puts in int4_g32 x int4_g32 (int4_g32 words): two word formats in one point."""
    rule = LayerRule(pattern=CONV1, weights="int4_g32", activations="int4_g32")
    return layer_formats(workload, config("int4_g32", "int8_channel", rule))


def test_the_digits_workload_has_the_expected_layers(workload):
    assert [(op.name, op.kind) for op in workload.systolic_ops()] == [
        (CONV1, "conv2d"),
        (CONV2, "conv2d"),
        (FC1, "gemm"),
        (FC2, "gemm"),
    ]


def test_layer_formats_apply_defaults_and_rules(workload):
    rules = (
        LayerRule(pattern=CONV1, skip=True),
        LayerRule(pattern="*", types=("linear",), weights="int4_g32", activations=None),
    )
    formats = layer_formats(workload, config("int8_channel", "mxfp8_e4m3", *rules))
    assert formats == (
        LayerFormats(CONV1, "conv2d", None, None),
        LayerFormats(CONV2, "conv2d", "int8_channel", "mxfp8_e4m3"),
        LayerFormats(FC1, "gemm", "int4_g32", None),
        LayerFormats(FC2, "gemm", "int4_g32", None),
    )


@pytest.mark.parametrize(
    ("weights", "activations", "word"),
    [
        ("int4_g32", "int8_channel", "int8_channel"),  # 4.5 < 8 bits
        ("int8_channel", "int4_g32", "int8_channel"),
        ("int8_channel", "mxfp8_e4m3", "mxfp8_e4m3"),  # 8 < 8.25 bits
        ("mxfp4", "int4_g32", "int4_g32"),  # 4.25 < 4.5 bits
        ("int4_g32", None, "fp32"),  # a float operand is fp32
        (None, "int8_channel", "fp32"),
        (None, None, "fp32"),
    ],
)
def test_word_format_is_the_wider_operand_format(weights, activations, word):
    assert LayerFormats("x", "gemm", weights, activations).word_format == word


def systolic_designs(space):
    return [(space, design) for design in space.designs()]


def per_layer_systolic(workload, formats, space, design):
    """Each layer costed alone with ``cost`` on the array in its own word format, then summed."""
    ops = {op.name: op for op in workload.systolic_ops()}
    costs = []
    for layer in formats:
        op = ops[layer.name]
        costs.append(cost(op.conv_shape or op.gemm(), space.array(design, layer.word_format)))
    latency = sum(c.latency_us for c in costs)
    energy = sum(c.energy_pj for c in costs)
    macs = sum(c.macs for c in costs)
    cycles = sum(c.total_cycles for c in costs)
    return latency, energy, macs / (design.value("rows") * design.value("cols") * cycles), costs


def test_mixed_formats_use_two_word_formats(workload):
    words = [layer.word_format for layer in mixed_formats(workload)]
    assert words == ["int4_g32", "int8_channel", "int8_channel", "int8_channel"]


def test_systolic_cost_designs_equal_per_layer_costs_with_mixed_word_formats(workload):
    space = SystolicSpace(rows=(8, 16, 32), cols=(8, 32), dataflow=("ws", "os", "is"), sram_kb=(16.0, 64.0))
    designs = systolic_designs(space)
    formats = mixed_formats(workload)
    results = cost_designs(workload, formats, designs)
    assert len(results) == len(designs) == 36
    for (_, design), result in zip(designs, results):
        latency, energy, utilization, _ = per_layer_systolic(workload, formats, space, design)
        got = result.metrics
        assert got["latency_us"] == pytest.approx(latency, rel=1e-12), design.label
        assert got["energy_pj"] == pytest.approx(energy, rel=1e-12), design.label
        assert got["utilization"] == pytest.approx(utilization, rel=1e-12), design.label


def test_systolic_per_layer_rows_equal_per_layer_costs(workload):
    space = SystolicSpace(rows=(8, 16), cols=(16,), dataflow=("ws", "os"))
    designs = systolic_designs(space)
    formats = mixed_formats(workload)
    for (_, design), result in zip(designs, cost_designs(workload, formats, designs)):
        *_, costs = per_layer_systolic(workload, formats, space, design)
        assert [row["layer"] for row in result.layers] == [CONV1, CONV2, FC1, FC2]
        assert [row["word_format"] for row in result.layers] == [f.word_format for f in formats]
        for row, c in zip(result.layers, costs):
            assert row["latency_us"] == pytest.approx(c.latency_us, rel=1e-12), (design.label, row["layer"])
            assert row["energy_pj"] == pytest.approx(c.energy_pj, rel=1e-12), (design.label, row["layer"])
            assert row["utilization"] == pytest.approx(c.utilization, rel=1e-12), (design.label, row["layer"])


def test_systolic_cost_designs_with_a_float_operand_cost_fp32_words(workload):
    space = SystolicSpace(rows=(8, 16), cols=(8,), sram_kb=(32.0,))
    designs = systolic_designs(space)
    formats = layer_formats(workload, config("int8_channel", None))
    assert {layer.word_format for layer in formats} == {"fp32"}
    for (_, design), result in zip(designs, cost_designs(workload, formats, designs)):
        latency, energy, utilization, _ = per_layer_systolic(workload, formats, space, design)
        assert result.metrics["latency_us"] == pytest.approx(latency, rel=1e-12)
        assert result.metrics["energy_pj"] == pytest.approx(energy, rel=1e-12)
        assert result.metrics["utilization"] == pytest.approx(utilization, rel=1e-12)


def test_systolic_area_is_that_of_the_array_in_the_widest_word_format(workload):
    space = SystolicSpace(rows=(8, 16), cols=(16,), sram_kb=(32.0,))
    designs = systolic_designs(space)
    for (_, design), result in zip(designs, cost_designs(workload, mixed_formats(workload), designs)):
        expected = systolic_area_mm2(space.array(design, "int8_channel"))
        assert result.metrics["area_mm2"] == pytest.approx(expected, rel=1e-12)


def cim_space():
    return CIMSpace(rows=(128, 256), cols=(128,), cell_bits=(2, 4), input_bits=(1, 2), adc_bits=(6, 8))


def test_cim_cost_designs_equal_workload_cost(workload):
    space = cim_space()
    designs = [(space, design) for design in space.designs()]
    formats = mixed_formats(workload)
    bits = {f.name: (INT_BITS[f.weights], INT_BITS[f.activations]) for f in formats}
    assert bits == {CONV1: (4, 4), CONV2: (4, 8), FC1: (4, 8), FC2: (4, 8)}
    results = cost_designs(workload, formats, designs)
    assert len(results) == len(designs) == 16
    for (_, design), result in zip(designs, results):
        arch = space.arch(design)
        expected = workload_cost(workload, arch, bits)
        got = result.metrics
        assert got["crossbars"] == expected.crossbars, design.label
        assert got["latency_us"] == pytest.approx(expected.latency_us, rel=1e-12), design.label
        assert got["energy_pj"] == pytest.approx(expected.energy_pj, rel=1e-12), design.label
        assert [(row["layer"], row["weight_bits"], row["input_bits"]) for row in result.layers] == [
            (name, *bits[name]) for name in (CONV1, CONV2, FC1, FC2)
        ]


def test_cim_area_is_crossbars_times_crossbar_area(workload):
    space = cim_space()
    designs = [(space, design) for design in space.designs()]
    formats = layer_formats(workload, config("int8_channel", "int8_channel"))
    for (_, design), result in zip(designs, cost_designs(workload, formats, designs)):
        arch = space.arch(design)
        crossbars = workload_cost(workload, arch, {f.name: (8, 8) for f in formats}).crossbars
        assert result.metrics["area_mm2"] == pytest.approx(crossbars * crossbar_area_mm2(arch), rel=1e-12)


def test_mixed_systolic_and_cim_designs_come_back_in_order(workload):
    systolic, cim = SystolicSpace(rows=(8, 16)), CIMSpace(rows=(128, 256))
    designs = [(cim, cim.designs()[0]), *systolic_designs(systolic), (cim, cim.designs()[1])]
    results = cost_designs(workload, mixed_formats(workload), designs)
    assert ["crossbars" in r.metrics for r in results] == [True, False, False, True]
    assert ["utilization" in r.metrics for r in results] == [False, True, True, False]
    alone = cost_designs(workload, mixed_formats(workload), designs[1:3])
    assert [r.metrics for r in results[1:3]] == [r.metrics for r in alone]


def test_cim_cost_designs_reject_a_float_weight_format_naming_the_layer(workload):
    space = CIMSpace()
    rule = LayerRule(pattern=FC1, weights="mxfp4", activations="int8_channel")
    formats = layer_formats(workload, config("int8_channel", "int8_channel", rule))
    with pytest.raises(ValueError, match=r"cannot run this point: layer '6' has weights in mxfp4"):
        cost_designs(workload, formats, [(space, space.designs()[0])])


def test_cim_incompatibility_names_a_float_operand(workload):
    rule = LayerRule(pattern=FC1, weights="mxfp4", activations="int8_channel")
    formats = layer_formats(workload, config("int8_channel", "int8_channel", rule))
    assert cim_incompatibility(formats) == "layer '6' has weights in mxfp4, not an integer format"


def test_cim_incompatibility_names_a_skipped_layer_as_float(workload):
    formats = layer_formats(
        workload, config("int8_channel", "int8_channel", LayerRule(pattern=CONV1, skip=True))
    )
    assert cim_incompatibility(formats) == "layer '0' has weights in float, not an integer format"


@pytest.mark.parametrize(
    ("weights", "activations"), [("int8_channel", "int8_channel"), ("int4_g32", "int8_channel")]
)
def test_cim_incompatibility_is_none_for_integer_formats(workload, weights, activations):
    assert cim_incompatibility(layer_formats(workload, config(weights, activations))) is None


def weight_elements(model):
    return [m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_the_digits_weight_counts(digits):
    assert weight_elements(digits[0]) == [144, 4608, 32768, 640]


@pytest.mark.parametrize(("weights", "bits"), [("int8_channel", 8.0), ("int4_g32", 4.5), (None, 32.0)])
def test_memory_bytes_is_weight_elements_times_format_bits(digits, weights, bits):
    model, workload = digits
    expected = sum(weight_elements(model)) * bits / 8
    assert memory_bytes(workload, layer_formats(workload, config(weights, "int8_channel"))) == expected


def test_memory_bytes_counts_each_layer_in_its_own_format(digits):
    model, workload = digits
    formats = layer_formats(workload, config("int4_g32", None, LayerRule(pattern=CONV2, skip=True)))
    counts = dict(zip((CONV1, CONV2, FC1, FC2), weight_elements(model)))
    expected = (counts[CONV1] + counts[FC1] + counts[FC2]) * 4.5 / 8 + counts[CONV2] * 4
    assert memory_bytes(workload, formats) == pytest.approx(expected, rel=1e-12)


def test_memory_bytes_is_a_metric_of_both_hardware_kinds(digits):
    model, workload = digits
    formats = layer_formats(workload, config("int8_channel", "int8_channel"))
    designs = [(SystolicSpace(), SystolicSpace().designs()[0]), (CIMSpace(), CIMSpace().designs()[0])]
    for result in cost_designs(workload, formats, designs):
        assert result.metrics["memory_bytes"] == sum(weight_elements(model))


def test_pe_area_of_int8_is_a_multiplier_and_an_adder():
    assert pe_area_um2("int8") == 282 + 137


def test_pe_area_of_int4_scales_the_multiplier_by_width_squared():
    assert pe_area_um2("int4") == pytest.approx(282 / 4 + 137)


def test_pe_area_of_a_block_format_uses_its_element():
    assert pe_area_um2("int8_channel") == pe_area_um2("int8")
    assert pe_area_um2("mxfp4") == pytest.approx(13.5 * 2**2 + 4184)  # e2m1: 1 mantissa bit


def test_pe_area_of_fp16_is_a_mantissa_squared_multiplier_and_a_float_adder():
    assert pe_area_um2("fp16") == pytest.approx(13.5 * 11**2 + 4184)


def systolic_area_by_formula(rows, cols, sram_kb, pe_um2):
    """rows x cols PEs plus three buffers of sram_kb kB at 0.346 µm² per bit / 0.5 efficiency, in mm²."""
    return (rows * cols * pe_um2 + 3 * sram_kb * 1024 * 8 * 0.346 / 0.5) / 1e6


@pytest.mark.parametrize(
    ("rows", "cols", "sram_kb", "fmt"),
    [(8, 8, 16.0, "int8"), (16, 32, 64.0, "int8"), (32, 32, 256.0, "fp16"), (16, 16, 64.0, "int4_g32")],
)
def test_systolic_area_is_pes_plus_three_srams(rows, cols, sram_kb, fmt):
    array = SystolicArray(
        rows=rows,
        cols=cols,
        ifmap_sram_kb=sram_kb,
        filter_sram_kb=sram_kb,
        ofmap_sram_kb=sram_kb,
        element_format=fmt,
    )
    expected = systolic_area_by_formula(rows, cols, sram_kb, pe_area_um2(fmt))
    assert systolic_area_mm2(array) == pytest.approx(expected, rel=1e-12)


def test_systolic_area_grows_with_pes_and_sram():
    def area(rows, cols, kb):
        return systolic_area_mm2(
            SystolicArray(rows, cols, ifmap_sram_kb=kb, filter_sram_kb=kb, ofmap_sram_kb=kb)
        )

    pe_mm2 = (282 + 137) / 1e6
    assert area(32, 16, 64) - area(16, 16, 64) == pytest.approx(256 * pe_mm2, rel=1e-9)
    assert area(16, 16, 128) - area(16, 16, 64) == pytest.approx(3 * 64 * 8192 * 0.692 / 1e6, rel=1e-9)


def crossbar_area_by_formula(rows, cols, adc_bits, input_bits):
    """ISAAC at 32 nm scaled by (45/32)²: cells, one ADC, a DAC per row, a sample-and-hold per column,
    a shift-and-add unit."""
    um2 = (
        rows * cols * 25.0 / 128**2
        + 1200.0 * 2.0 ** (adc_bits - 8)
        + rows * 0.166 * 2.0 ** (input_bits - 1)
        + cols * 0.039
        + 60.0
    )
    return um2 * (45 / 32) ** 2 / 1e6


@pytest.mark.parametrize(
    ("rows", "cols", "adc_bits", "input_bits"), [(128, 128, 8, 1), (256, 128, 6, 2), (512, 256, 10, 4)]
)
def test_crossbar_area_follows_the_isaac_formula(rows, cols, adc_bits, input_bits):
    arch = CIMArch(rows=rows, cols=cols, adc_bits=adc_bits, input_bits=input_bits)
    expected = crossbar_area_by_formula(rows, cols, adc_bits, input_bits)
    assert crossbar_area_mm2(arch) == pytest.approx(expected, rel=1e-12)


def test_crossbar_area_of_isaacs_array():
    """128x128, 8-bit ADC, 1-bit DACs: 25 + 1200 + 128 x 0.166 + 128 x 0.039 + 60 µm² at 32 nm."""
    assert crossbar_area_mm2(CIMArch(rows=128, cols=128)) == pytest.approx(
        (25 + 1200 + 21.248 + 4.992 + 60) * (45 / 32) ** 2 / 1e6, rel=1e-12
    )


LAYERS = [ConvShape(10, 10, 3, 3, 16, 32), GemmShape(m=3, n=300, k=700, count=2)]


@pytest.mark.parametrize("shape", LAYERS)
@pytest.mark.parametrize(("rows", "cols"), [(128, 128), (256, 64)])
def test_cim_read_energy_defaults_to_isaac_scaled_by_array_size(shape, rows, cols):
    arch = CIMArch(rows=rows, cols=cols)
    c = layer_cost(shape, 8, 8, arch)
    assert c.executes > 0
    assert c.read_energy_pj == pytest.approx(c.executes * 3.75 * rows * cols / 128**2, rel=1e-12)


@pytest.mark.parametrize("shape", LAYERS)
def test_cim_read_energy_uses_the_given_energy_per_read(shape):
    c = layer_cost(shape, 8, 4, CIMArch(read_energy_pj=0.7))
    assert c.read_energy_pj == pytest.approx(c.executes * 0.7, rel=1e-12)
    assert layer_cost(shape, 8, 4, CIMArch(read_energy_pj=0.0)).read_energy_pj == 0


@pytest.mark.parametrize("arch", [CIMArch(), CIMArch(read_energy_pj=2.0, adc_energy_pj=0.5, adc_bits=6)])
def test_cim_layer_energy_is_adc_plus_read_energy(arch):
    for shape in LAYERS:
        c = layer_cost(shape, 4, 8, arch)
        assert c.adc_energy_pj > 0 and c.read_energy_pj > 0
        assert c.energy_pj == c.adc_energy_pj + c.read_energy_pj
        assert c.to_dict()["energy_pj"] == c.energy_pj


def test_cim_workload_energy_sums_layer_energies(workload):
    cost_ = workload_cost(workload, CIMArch(rows=128, cols=128))
    assert cost_.energy_pj == pytest.approx(sum(c.energy_pj for c in cost_.layers), rel=1e-12)
    assert cost_.energy_pj > cost_.adc_energy_pj


@pytest.mark.parametrize("value", [-1.0, -1e-9, math.nan])
def test_a_negative_or_nan_read_energy_is_an_error_naming_the_field(value):
    with pytest.raises(ValueError, match=r"CIMArch\.read_energy_pj must be >= 0 pJ"):
        CIMArch(read_energy_pj=value)


def test_weight_counts_are_consistent_with_the_workload_shapes(digits):
    """The memory formula's k x n x count is the weight element count of every digits layer."""
    model, workload = digits
    shapes = [op.conv_shape.gemm() if op.conv_shape else op.gemm() for op in workload.systolic_ops()]
    assert [g.k * g.n * g.count for g in shapes] == weight_elements(model)
    assert np.all(np.array(weight_elements(model)) > 0)
