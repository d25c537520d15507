"""Crossbar mappings: digital mode is bit-exact to the integer matmul; footprints and errors."""

import math

import pytest
import torch

from tessera.hw.cim import MAPPING_NAMES, Crossbar, CrossbarLayer, get_mapping, mappings_of_kind, preset

BINARY = mappings_of_kind("binary")
TERNARY = mappings_of_kind("ternary")
INTEGER = mappings_of_kind("integer")


def random_operands(
    kind: str, out: int, inp: int, batch: int, seed: int, bits: int = 8, signed: bool = False
):
    g = torch.Generator().manual_seed(seed)
    if kind == "binary":
        return (
            torch.randint(0, 2, (out, inp), generator=g) * 2.0 - 1,
            torch.randint(0, 2, (batch, inp), generator=g) * 2.0 - 1,
        )
    if kind == "ternary":
        return (
            torch.randint(-1, 2, (out, inp), generator=g).float(),
            torch.randint(-1, 2, (batch, inp), generator=g).float(),
        )
    half = 1 << (bits - 1)
    low, high = (-half, half) if signed else (0, 1 << bits)
    return (
        torch.randint(-half, half, (out, inp), generator=g).float(),
        torch.randint(low, high, (batch, inp), generator=g).float(),
    )


def test_mapping_names_cover_every_kind():
    assert set(BINARY) == {"bnn-differential", "bnn-single-cell", "bnn-xnor", "bnn-4cell"}
    assert set(TERNARY) == {"tnn-differential", "tnn-2bit"}
    assert set(INTEGER) == {"int-offset", "int-differential"}
    assert set(MAPPING_NAMES) == set(BINARY) | set(TERNARY) | set(INTEGER)


@pytest.mark.parametrize("name", BINARY + TERNARY)
@pytest.mark.parametrize("rows", [16, 64, 256])
def test_binary_and_ternary_digital_mode_is_bit_exact(name, rows):
    mapping = get_mapping(name)
    weight, x = random_operands(mapping.kind, out=23, inp=301, batch=17, seed=rows)
    layer = CrossbarLayer(weight, mapping, Crossbar(rows=rows, cols=32))
    assert torch.equal(layer.forward(x), x.double() @ weight.double().t())


@pytest.mark.parametrize("name", INTEGER)
@pytest.mark.parametrize("cell_bits", [1, 2, 3, 4])
@pytest.mark.parametrize(("weight_bits", "input_bits", "signed"), [(8, 8, False), (4, 6, True), (2, 2, True)])
def test_integer_digital_mode_is_bit_exact(name, cell_bits, weight_bits, input_bits, signed):
    mapping = get_mapping(name, weight_bits=weight_bits, input_bits=input_bits, input_signed=signed)
    weight, _ = random_operands("integer", 19, 200, 1, seed=cell_bits, bits=weight_bits)
    _, x = random_operands("integer", 1, 200, 11, seed=cell_bits + 1, bits=input_bits, signed=signed)
    layer = CrossbarLayer(weight, mapping, Crossbar(rows=64, cols=64, cell_bits=cell_bits))
    assert torch.equal(layer.forward(x), x.double() @ weight.double().t())


def test_integer_extremes_are_exact():
    """The most negative weight and input codes (two's complement corners)."""
    mapping = get_mapping("int-offset", weight_bits=4, input_bits=4, input_signed=True)
    weight = torch.tensor([[-8.0, 7.0, -8.0], [7.0, 7.0, 0.0]])
    x = torch.tensor([[-8.0, -8.0, 7.0], [7.0, -1.0, 0.0]])
    for name in INTEGER:
        mapping = get_mapping(name, weight_bits=4, input_bits=4, input_signed=True)
        layer = CrossbarLayer(weight, mapping, Crossbar(rows=2, cols=8, cell_bits=3))
        assert torch.equal(layer.forward(x), x.double() @ weight.double().t())


def test_differential_binary_cells_and_currents_by_hand():
    """w = [+1, -1] on two columns: (g+, g-) = (1, 0) and (0, 1); input x = [+1, -1] drives row 0
    only, so the column pair reads (I_LRS - I_HRS) - 0... and y = 2*1 - (1 - 1) = 2."""
    xbar = Crossbar(rows=2, cols=2, i_hrs_ua=5.0, i_lrs_ua=50.0)
    layer = CrossbarLayer(torch.tensor([[1.0, -1.0]]), get_mapping("bnn-differential"), xbar)
    assert layer.levels.tolist() == [[1], [-1]]
    # cell currents: plus column [50, 5], minus column [5, 50]; row 0 driven: 50 - 5 = 45 µA
    assert layer.signal_mean[:, 0].tolist() == [45.0, -45.0]
    x = torch.tensor([[1.0, -1.0]])
    assert layer.forward(x, digital=False).item() == pytest.approx(2.0)
    assert layer.forward(x, digital=True).item() == 2.0


def test_xnor_counts_matches_on_row_pairs():
    mapping = get_mapping("bnn-xnor")
    layer = CrossbarLayer(torch.tensor([[1.0, -1.0, 1.0]]), mapping, Crossbar(rows=6, cols=1))
    # rows (a0, b0, a1, b1, a2, b2): a holds [w = +1], b holds [w = -1]
    assert layer.levels[:, 0].tolist() == [1, 0, 0, 1, 1, 0]
    drive = mapping.input_planes(torch.tensor([[1.0, 1.0, -1.0]]))[0].drive
    assert drive.tolist() == [[1, 0, 1, 0, 0, 1]]
    assert layer.forward(torch.tensor([[1.0, 1.0, -1.0]])).item() == -1.0  # 1 match of 3: 2*1 - 3


@pytest.mark.parametrize(
    ("name", "cell_bits", "rows", "cols", "phases"),
    [
        ("bnn-differential", 1, 784, 2 * 512, 1),
        ("bnn-single-cell", 1, 784, 512, 2),
        ("bnn-xnor", 1, 2 * 784, 512, 1),
        ("bnn-4cell", 1, 2 * 784, 2 * 512, 1),
        ("tnn-differential", 1, 784, 2 * 512, 2),
        ("tnn-2bit", 1, 784, 2 * 512, 2),
        ("int-offset", 4, 784, 2 * 512, 8),  # 8-bit weights over two 4-bit cells
        ("int-differential", 4, 784, 2 * 2 * 512, 8),
        ("int-offset", 3, 784, 3 * 512, 8),  # ceil(8 / 3) slices
    ],
)
def test_footprint_by_hand(name, cell_bits, rows, cols, phases):
    mapping = get_mapping(name)
    kind = "integer" if name.startswith("int") else mapping.kind
    weight, _ = random_operands(kind, 512, 784, 1, seed=0)
    footprint = CrossbarLayer(weight, mapping, Crossbar(cell_bits=cell_bits)).footprint
    assert (footprint.physical_rows, footprint.physical_cols, footprint.phases) == (rows, cols, phases)
    assert footprint.crossbars == math.ceil(rows / 256) * math.ceil(cols / 256)
    reads_per_column = 1 if not mapping.differential else 0.5
    assert footprint.adc_reads_per_vector == phases * math.ceil(rows / 256) * cols * reads_per_column


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"i_lrs_ua": 5.0, "i_hrs_ua": 5.0}, "i_lrs_ua"),
        ({"i_lrs_ua": 4.0}, "i_lrs_ua"),
        ({"sigma_d2d_ua": -1.0}, "sigma_d2d_ua"),
        ({"sigma_c2c_ua": float("nan")}, "sigma_c2c_ua"),
        ({"rows": 0}, "rows"),
        ({"cols": 2.5}, "cols"),
        ({"adc_bits": 0}, "adc_bits"),
        ({"adc_bits": 17}, "adc_bits"),
        ({"adc_mode": "log"}, "adc_mode"),
        ({"cell_bits": 9}, "cell_bits"),
        ({"wire_resistance_ohm": -2.0}, "wire_resistance_ohm"),
        ({"v_read": 0.0}, "v_read"),
    ],
)
def test_impossible_crossbars_name_the_field(changes, field):
    with pytest.raises(ValueError, match=f"Crossbar.{field}"):
        Crossbar(**changes)


def test_presets_and_unknown_names():
    assert preset("hrs0.5-lrs4").i_lrs_ua == 4.0
    assert preset("default").rows == 256
    with pytest.raises(ValueError, match="valid: default"):
        preset("nope")
    with pytest.raises(ValueError, match="valid: bnn-differential"):
        get_mapping("bnn-magic")
    with pytest.raises(ValueError, match=r"weight_bits must be an integer in 2\.\.16"):
        get_mapping("int-offset", weight_bits=1)
    with pytest.raises(ValueError, match="takes no options"):
        get_mapping("bnn-xnor", weight_bits=4)


@pytest.mark.parametrize(
    ("name", "weight", "message"),
    [
        ("bnn-differential", [[1.0, 0.0]], r"needs weights in \{1, -1\}"),
        ("tnn-2bit", [[1.0, 0.5]], r"needs weights in \{0, 1, -1\}"),
        ("int-offset", [[1.5, 2.0]], r"needs integer weights in \[-128, 127\]"),
        ("int-offset", [[200.0, 2.0]], r"needs integer weights in \[-128, 127\]"),
    ],
)
def test_weights_outside_the_domain_are_rejected(name, weight, message):
    with pytest.raises(ValueError, match=message):
        CrossbarLayer(torch.tensor(weight), get_mapping(name), Crossbar())


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("bnn-differential", 0.0),
        ("bnn-xnor", 2.0),
        ("bnn-single-cell", float("nan")),
        ("tnn-2bit", 0.5),
        ("tnn-differential", -2.0),
        ("tnn-differential", float("nan")),
    ],
)
def test_inputs_outside_the_domain_are_rejected(name, bad):
    layer = CrossbarLayer(torch.ones(2, 3), get_mapping(name), Crossbar())
    with pytest.raises(ValueError, match="needs inputs"):
        layer.forward(torch.tensor([[1.0, bad, -1.0]]))


def test_pair_mappings_need_even_crossbar_sizes():
    with pytest.raises(ValueError, match=r"Crossbar\.rows must be even"):
        CrossbarLayer(torch.ones(2, 3), get_mapping("bnn-xnor"), Crossbar(rows=5))
    with pytest.raises(ValueError, match=r"Crossbar\.cols must be even"):
        CrossbarLayer(torch.ones(2, 3), get_mapping("bnn-differential"), Crossbar(cols=7))
