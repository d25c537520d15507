"""The analog read path: variability statistics, ADC quantization and clipping, IR drop."""

import math

import pytest
import torch

from tessera.hw.cim import Crossbar, CrossbarLayer, get_mapping
from tessera.hw.cim.analog import adc_, ir_drop_loss, rectified_moments


def binary_operands(out=16, inp=200, batch=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randint(0, 2, (out, inp), generator=g) * 2.0 - 1
    x = torch.randint(0, 2, (batch, inp), generator=g) * 2.0 - 1
    return weight, x


@pytest.mark.parametrize("mu", [-20.0, -3.0, 0.0, 2.0, 5.0, 50.0])
@pytest.mark.parametrize("sigma", [1.0, 4.0, 16.0])
def test_rectified_moments_match_sampling(mu, sigma):
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    samples = (mu + sigma * z).clamp(min=0)
    mean, var = rectified_moments(torch.tensor(mu, dtype=torch.float64), sigma)
    assert float(mean) == pytest.approx(float(samples.mean()), abs=4e-3 * sigma)
    assert float(var) == pytest.approx(float(samples.var()), abs=1e-2 * sigma**2)


@pytest.mark.parametrize("name", ["bnn-differential", "bnn-single-cell", "bnn-xnor", "bnn-4cell"])
def test_noise_free_analog_path_equals_digital(name):
    weight, x = binary_operands()
    layer = CrossbarLayer(weight, get_mapping(name), Crossbar(rows=64, cols=64))
    analog = layer.forward(x, digital=False)
    assert torch.allclose(analog.double(), layer.forward(x, digital=True), atol=1e-3)


@pytest.mark.parametrize(
    "name", ["bnn-differential", "bnn-single-cell", "bnn-xnor", "bnn-4cell", "tnn-differential", "tnn-2bit"]
)
def test_column_sampling_has_the_statistics_of_per_cell_sampling(name):
    """Drawing each column sum from its exact moments vs drawing every cell: same mean and spread of
    the output error, including clipping (sigma comparable to I_HRS)."""
    weight, x = binary_operands(out=8, inp=128, batch=96, seed=2)
    if name.startswith("tnn"):
        x = x * (torch.arange(128) % 3 != 0)  # some zero inputs
    xbar = Crossbar(rows=64, cols=64, sigma_c2c_ua=6.0)
    exact = x.double() @ weight.double().t()
    errors = {}
    for sampling in ("column", "cell"):
        layer = CrossbarLayer(weight, get_mapping(name), xbar, torch.Generator().manual_seed(3), sampling)
        errors[sampling] = torch.cat([layer.forward(x) - exact for _ in range(4)])
    column, cell = errors["column"], errors["cell"]
    assert float(column.std()) == pytest.approx(float(cell.std()), rel=0.06)
    assert float(column.mean()) == pytest.approx(float(cell.mean()), abs=0.05 * float(cell.std()))


def test_device_to_device_noise_is_drawn_once_per_programming():
    weight, x = binary_operands(seed=4)
    xbar = Crossbar(rows=64, cols=64, sigma_d2d_ua=5.0)
    layer = CrossbarLayer(weight, get_mapping("bnn-differential"), xbar, torch.Generator().manual_seed(0))
    first, second = layer.forward(x), layer.forward(x)
    assert torch.equal(first, second)  # no cycle-to-cycle noise: reads repeat
    other = CrossbarLayer(weight, get_mapping("bnn-differential"), xbar, torch.Generator().manual_seed(1))
    assert not torch.equal(first, other.forward(x))  # another programming, other devices
    exact = x.double() @ weight.double().t()
    assert 0 < float((first - exact).abs().mean()) < 0.2 * float(exact.abs().mean())


def test_cycle_to_cycle_noise_changes_every_read():
    weight, x = binary_operands(seed=5)
    layer = CrossbarLayer(weight, get_mapping("bnn-differential"), Crossbar(sigma_c2c_ua=2.0))
    assert not torch.equal(layer.forward(x), layer.forward(x))


def test_adc_levels_and_clipping():
    signal = torch.tensor([-10.0, -1.0, 0.2, 0.49, 3.0, 7.0, 100.0])
    out = adc_(signal.clone(), low=0.0, high=7.0, bits=3)  # 8 levels 0..7, step 1
    assert out.tolist() == [0.0, 0.0, 0.0, 0.0, 3.0, 7.0, 7.0]
    two_levels = adc_(torch.linspace(-5, 5, 11), low=-5.0, high=5.0, bits=1)
    assert set(two_levels.tolist()) == {-5.0, 5.0}


def test_symmetric_adc_with_enough_bits_is_nearly_exact_and_few_bits_are_not():
    weight, x = binary_operands(inp=32, seed=6)  # 64 physical rows: one row tile
    exact = x.double() @ weight.double().t()
    errors = []
    for bits in (3, 12):
        xbar = Crossbar(rows=64, cols=64, adc_bits=bits, adc_mode="symmetric")
        layer = CrossbarLayer(weight, get_mapping("bnn-4cell"), xbar)
        errors.append(float((layer.forward(x) - exact).abs().max()))
    # 12 bits: step = 2 * 64 rows / 4095 levels ~ 0.03 in output units (four-cell: y = signal)
    assert errors[1] <= 2 * 64 / 4095 / 2 + 1e-4
    assert errors[0] > 1.0


def test_positive_adc_range_is_rows_times_lrs_current():
    xbar = Crossbar(rows=128, cols=128, i_hrs_ua=5.0, i_lrs_ua=30.0, adc_bits=4, adc_mode="positive")
    layer = CrossbarLayer(torch.ones(3, 10), get_mapping("bnn-single-cell"), xbar)
    assert layer.adc_range == (0.0, 128 * 30.0)
    symmetric = CrossbarLayer(torch.ones(3, 10), get_mapping("bnn-4cell"), xbar.with_(adc_mode="symmetric"))
    assert symmetric.adc_range == (-128 * 25.0, 128 * 25.0)


def test_calibrated_adc_range_covers_the_calibration_signals():
    weight, x = binary_operands(seed=7)
    xbar = Crossbar(rows=64, cols=64, adc_bits=6, adc_mode="calibrated")
    layer = CrossbarLayer(weight, get_mapping("bnn-differential"), xbar)
    with pytest.raises(RuntimeError, match="calibrat"):
        layer.forward(x)
    layer.widen_adc_range(x)
    low, high = layer.adc_range
    assert -64 * 45.0 < low < 0 < high < 64 * 45.0
    calibrated = float((layer.forward(x) - x.double() @ weight.double().t()).abs().mean())
    wide = CrossbarLayer(weight, get_mapping("bnn-differential"), xbar.with_(adc_mode="symmetric"))
    full_range = float((wide.forward(x) - x.double() @ weight.double().t()).abs().mean())
    assert calibrated < full_range  # the same 6 bits over a narrower range


def test_ir_drop_by_hand():
    """Two rows, both driven, cells 10 and 20 µA, 1 Ω segments, 0.2 V: segment currents 10 and 30 µA,
    loss = 1e-6 / 0.2 * (10**2 + 30**2) µA."""
    drive = torch.ones(1, 1, 2)
    currents = torch.tensor([[[10.0], [20.0]]])
    loss = ir_drop_loss(drive, currents, ohm=1.0, v_read=0.2)
    assert float(loss) == pytest.approx(1e-6 / 0.2 * (10**2 + 30**2))
    # direct: row 1 (next to the sense amp) sits at r*30 µA, row 0 at r*(30 + 10) µA
    v1, v0 = 1.0 * 30e-6, 1.0 * 40e-6
    assert float(loss) == pytest.approx(10 * v0 / 0.2 + 20 * v1 / 0.2)


def test_ir_drop_lowers_column_currents_more_with_more_resistance():
    weight, x = binary_operands(inp=256, seed=8)
    exact = x.double() @ weight.double().t()
    drops = []
    for ohm in (0.0, 1.0, 5.0):
        xbar = Crossbar(rows=256, cols=64, wire_resistance_ohm=ohm)
        layer = CrossbarLayer(weight, get_mapping("bnn-single-cell"), xbar)
        drops.append(float((layer.forward(x, digital=False) - exact).abs().mean()))
    assert drops[0] < 1e-3 < drops[1] < drops[2]
    assert math.isfinite(drops[2])
