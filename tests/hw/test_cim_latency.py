"""The crossbar latency model on hand-computed layers and a captured ResNet-20."""

import math

import pytest
import torch

from tessera.hw.cim.latency import CIMArch, layer_cost, workload_cost
from tessera.workload import capture
from tessera.workload.shapes import ConvShape, GemmShape
from tessera.zoo.resnet import CifarResNet


def test_a_resnet_stage_convolution_by_hand():
    """3x3, 64 -> 64 channels on a padded 10x10 input (8x8 outputs), 8-bit weights on 4-bit cells,
    8-bit inputs 1 bit at a time: 2 slices -> 128 columns; 576 rows -> 3 row tiles -> 3 crossbars;
    64 pixels x 3 crossbars x 8 phases = 1536 executes."""
    cost = layer_cost(ConvShape(10, 10, 3, 3, 64, 64), 8, 8, CIMArch(), name="conv")
    assert (cost.slices, cost.columns, cost.rows, cost.crossbars) == (2, 128, 576, 3)
    assert (cost.phases, cost.executes, cost.vectors) == (8, 1536, 64)
    assert cost.write_us == 3 * 56.0
    assert cost.execute_us == pytest.approx(1536 * 1.4)
    assert cost.latency_us == pytest.approx(168 + 2150.4)
    assert cost.adc_conversions == 64 * 8 * 3 * 128
    assert cost.adc_energy_pj == pytest.approx(cost.adc_conversions * 1.6)
    assert cost.tiles == 1


def test_differential_columns_and_rows_double_the_footprint():
    layer = GemmShape(m=1, n=300, k=300)
    base = layer_cost(layer, 4, 4, CIMArch())
    both = layer_cost(layer, 4, 4, CIMArch(differential_columns=True, differential_rows=True))
    assert (base.columns, base.rows, base.crossbars) == (300, 300, 4)
    assert (both.columns, both.rows, both.crossbars) == (600, 600, 9)
    assert both.adc_conversions == 1 * 4 * 3 * 300  # one conversion per column pair


def test_fewer_bits_cost_less_and_groups_multiply():
    shape = GemmShape(m=49, n=512, k=4608)
    full = layer_cost(shape, 8, 8, CIMArch())
    low = layer_cost(shape, 4, 2, CIMArch())
    assert full.crossbars == 2 * low.crossbars  # one 4-bit slice instead of two
    assert full.executes == 2 * 4 * low.executes  # and 2 input phases instead of 8
    grouped = layer_cost(GemmShape(m=49, n=32, k=9, count=16), 8, 8, CIMArch())
    assert grouped.crossbars == 16


def test_wider_inputs_per_phase_and_adc_energy_scaling():
    arch = CIMArch(input_bits=2, adc_bits=6, crossbars_per_tile=2)
    cost = layer_cost(GemmShape(m=10, n=256, k=1024), 8, 7, arch)
    assert cost.phases == math.ceil(7 / 2)
    assert cost.tiles == math.ceil(cost.crossbars / 2)
    assert arch.conversion_pj == pytest.approx(1.6 / 4)


@pytest.mark.parametrize("bits", [0, 17, 2.5])
def test_bit_widths_out_of_range_name_the_layer(bits):
    with pytest.raises(ValueError, match=r"layer 'fc': weight bits must be an integer in 1\.\.16"):
        layer_cost(GemmShape(1, 2, 3), bits, 8, CIMArch(), name="fc")


def test_bad_architecture_fields_are_named():
    with pytest.raises(ValueError, match=r"CIMArch\.cell_bits"):
        CIMArch(cell_bits=0)
    with pytest.raises(ValueError, match=r"CIMArch\.write_us"):
        CIMArch(write_us=-1.0)


def test_resnet20_per_layer_bits():
    workload = capture(CifarResNet(20).eval(), torch.randn(1, 3, 32, 32), name="resnet20")
    uniform = workload_cost(workload, CIMArch())
    assert len(uniform.layers) == 20  # 19 convolutions and the classifier
    first, last = uniform.layers[0].name, uniform.layers[-1].name
    middle = {layer.name: (4, 4) for layer in uniform.layers[1:-1]}
    mixed = workload_cost(workload, CIMArch(), bits=middle)
    assert mixed.layers[0].weight_bits == 8 and mixed.layers[-1].input_bits == 8
    assert {layer.name for layer in mixed.layers} >= {first, last}
    assert 1 < uniform.latency_us / mixed.latency_us < 8
    # exactly: the first and last layers are unchanged; every middle layer (at most 64 outputs, so
    # one column tile either way) keeps its crossbars and needs 4 input phases instead of 8
    assert mixed.layers[0] == uniform.layers[0] and mixed.layers[-1] == uniform.layers[-1]
    for low, full in zip(mixed.layers[1:-1], uniform.layers[1:-1], strict=True):
        assert low.crossbars == full.crossbars and low.write_us == full.write_us
        assert low.executes * 2 == full.executes
    assert uniform.crossbars == sum(layer.crossbars for layer in uniform.layers)
    with pytest.raises(ValueError, match="unknown layers"):
        workload_cost(workload, CIMArch(), bits={"nope": (4, 4)})
