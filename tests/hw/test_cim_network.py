"""Whole networks on crossbars: exact in digital mode, restorable, clear errors."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tessera.hw.cim import CIMLayer, Crossbar, get_mapping, map_to_cim, restore_cim, set_digital
from tessera.hw.cim.network import layer_rows


class Sign(nn.Module):
    def forward(self, x):
        return torch.where(x >= 0, 1.0, -1.0)


def sign_mlp(values=(-1.0, 1.0), seed=0) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(
        Sign(), nn.Linear(120, 64, bias=False), nn.BatchNorm1d(64), Sign(), nn.Linear(64, 10, bias=False)
    )
    with torch.no_grad():
        for module in net:
            if isinstance(module, nn.Linear):
                choice = torch.randint(0, len(values), module.weight.shape, generator=g)
                module.weight.copy_(torch.tensor(values)[choice])
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-3, 3, generator=g)
    return net.eval()


def conv_net(seed=0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),  # grouped: left in place
        nn.Conv2d(8, 6, 3, padding=(1, 2), dilation=(1, 2)),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5),
    ).eval()


@pytest.mark.parametrize("name", ["bnn-differential", "bnn-single-cell", "bnn-xnor", "bnn-4cell"])
def test_binary_network_on_ideal_crossbars_equals_the_float_network(name):
    net = sign_mlp()
    x = torch.randn(40, 120)
    expected = net(x)
    originals = [m for m in net if isinstance(m, nn.Linear)]
    report = map_to_cim(net, Crossbar(rows=32, cols=32), get_mapping(name))
    assert [layer.name for layer in report.layers] == ["1", "4"]
    assert all(isinstance(net[i], CIMLayer) for i in (1, 4))
    assert torch.equal(net(x), expected)
    assert restore_cim(net) == 2
    assert [m for m in net if isinstance(m, nn.Linear)] == originals


@pytest.mark.parametrize("name", ["tnn-differential", "tnn-2bit"])
def test_ternary_network_on_ideal_crossbars_equals_the_float_network(name):
    net = sign_mlp(values=(-1.0, 0.0, 1.0))
    x = torch.randn(40, 120)
    expected = net(x)
    map_to_cim(net, Crossbar(rows=64, cols=64), get_mapping(name))
    assert torch.equal(net(x), expected)


def test_weights_outside_the_domain_name_the_layer_and_change_nothing():
    net = sign_mlp()
    with torch.no_grad():
        net[4].weight[0, 0] = 0.5
    before = list(net)
    with pytest.raises(ValueError, match=r"layer '4' \(Linear 64->10\): mapping 'bnn-xnor' needs weights"):
        map_to_cim(net, Crossbar(), get_mapping("bnn-xnor"))
    assert list(net) == before


def test_integer_conv_network_matches_an_independent_integer_computation():
    net = conv_net()
    calib = [torch.randn(4, 3, 8, 8)]
    x = torch.randn(3, 3, 8, 8)
    reference = nn.Sequential(*list(net)).eval()
    mapping = get_mapping("int-offset", weight_bits=6, input_bits=7)
    report = map_to_cim(net, Crossbar(rows=32, cols=32, cell_bits=2), mapping, calib=calib)
    assert report.skipped == {"2": "grouped convolution (groups=2)"}
    assert [layer.name for layer in report.layers] == ["0", "3", "5"]
    # first layer by hand: per-channel symmetric 6-bit weights, signed 7-bit inputs from the calibration max
    conv = reference[0]
    w_scale = conv.weight.abs().amax(dim=(1, 2, 3)) / 31
    w_int = torch.round(conv.weight / w_scale[:, None, None, None])
    x_scale = calib[0].abs().max() / 63
    x_int = torch.round(x / x_scale).clamp(-64, 63)
    expected = (
        F.conv2d(x_int.double(), w_int.double(), padding=1) * (w_scale[:, None, None] * x_scale).double()
    )
    expected = expected + conv.bias[:, None, None].double()
    assert net[0].mapping.input_signed
    assert torch.allclose(net[0](x).double(), expected, rtol=1e-5, atol=1e-4)
    # the whole network stays close to the float one at these widths
    with torch.no_grad():
        assert torch.allclose(net(x), reference(x), atol=0.05 * float(reference(x).abs().max()))


def test_unsigned_inputs_after_relu_use_unsigned_codes():
    net = nn.Sequential(nn.ReLU(), nn.Linear(16, 4)).eval()
    map_to_cim(
        net,
        Crossbar(),
        get_mapping("int-differential", weight_bits=8, input_bits=4),
        calib=[torch.randn(8, 16)],
    )
    assert not net[1].mapping.input_signed
    assert net[1].mapping.input_range == (0, 15)


def test_integer_mappings_and_calibrated_adcs_need_calibration_data():
    with pytest.raises(ValueError, match="needs calibration inputs"):
        map_to_cim(conv_net(), Crossbar(), get_mapping("int-offset"))
    with pytest.raises(ValueError, match="needs calibration inputs"):
        map_to_cim(sign_mlp(), Crossbar(adc_bits=4, adc_mode="calibrated"), get_mapping("bnn-4cell"))


def test_calibrated_adc_beats_the_full_range_at_few_bits():
    net = sign_mlp(seed=3)
    x = torch.randn(256, 120)
    exact = net(x).argmax(dim=1)
    agreement = {}
    for mode in ("symmetric", "calibrated"):
        crossbar = Crossbar(rows=128, cols=128, adc_bits=4, adc_mode=mode)
        map_to_cim(net, crossbar, get_mapping("bnn-differential"), calib=[torch.randn(256, 120)])
        agreement[mode] = float((net(x).argmax(dim=1) == exact).float().mean())
        set_digital(net, True)
        assert torch.equal(net(x).argmax(dim=1), exact)  # digital mode ignores the ADC
        restore_cim(net)
    assert agreement["calibrated"] > agreement["symmetric"]


def test_noise_seeds_are_reproducible():
    net = sign_mlp()
    x = torch.randn(64, 120)
    outputs = []
    for seed in (0, 0, 1):
        map_to_cim(net, Crossbar(sigma_d2d_ua=8.0), get_mapping("bnn-single-cell"), seed=seed)
        outputs.append(net(x))
        restore_cim(net)
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], outputs[2])


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation"),
    [(3, 1, 1, 1), ((3, 2), (2, 1), (1, 2), 1), (1, 2, 0, 1), ((2, 3), 1, 0, (2, 1))],
)
def test_conv_rows_are_im2col_in_weight_order(kernel, stride, padding, dilation):
    """The crossbar rows of a convolution equal torch's unfold, and rows @ weights is the conv."""
    conv = nn.Conv2d(3, 5, kernel, stride, padding, dilation, bias=False)
    x = torch.randn(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    rows, to_map = layer_rows(conv, x)
    unfolded = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)
    assert torch.equal(rows, unfolded.transpose(1, 2).reshape(rows.shape))
    products = rows @ conv.weight.detach().reshape(5, -1).t()
    assert torch.allclose(to_map(products), conv(x).detach(), atol=1e-5)
