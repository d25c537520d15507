"""Layer inputs and weights as GEMM operands: Gram sums and column order against a direct im2col."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tessera.quant.capture import weight_columns, weight_from_columns
from tessera.quant.methods import LayerTask


def direct_columns(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """GEMM rows (batch x output positions, kernel positions x channels) by slicing the padded input
    once per kernel position."""
    (ph, pw), (sh, sw), (dh, dw) = conv.padding, conv.stride, conv.dilation
    kh, kw = conv.kernel_size
    padded = F.pad(x, (pw, pw, ph, ph))
    out_h = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    per_position = []
    for i in range(kh):
        for j in range(kw):
            window = padded[
                :, :, i * dh : i * dh + sh * (out_h - 1) + 1 : sh, j * dw : j * dw + sw * (out_w - 1) + 1 : sw
            ]
            per_position.append(window.permute(0, 2, 3, 1).reshape(-1, x.shape[1]))
    return torch.cat(per_position, dim=1)


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 5, 3, padding=1),
        nn.Conv2d(4, 6, (2, 3), stride=(2, 1), padding=(0, 2)),
        nn.Conv2d(2, 3, 3, dilation=2, bias=False),
    ],
)
def test_conv_gram_and_column_order_match_a_direct_im2col(conv):
    torch.manual_seed(0)
    x, y = torch.randn(2, conv.in_channels, 9, 8), torch.randn(2, conv.in_channels, 9, 8)
    task = LayerTask("conv", conv, "conv2d", "mxfp4", None)
    gram, cross, rows = task.gram([x, x[:1]], [y, y[:1]])
    a = torch.cat([direct_columns(conv, x), direct_columns(conv, x[:1])]).double()
    b = torch.cat([direct_columns(conv, y), direct_columns(conv, y[:1])]).double()
    assert rows == a.shape[0]
    torch.testing.assert_close(gram, a.T @ a, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(cross, a.T @ b, rtol=1e-5, atol=1e-4)
    weight = weight_columns(conv.weight.detach())
    outputs = conv(x).detach().permute(0, 2, 3, 1).reshape(-1, conv.out_channels)
    bias = conv.bias.detach() if conv.bias is not None else 0.0
    torch.testing.assert_close(direct_columns(conv, x) @ weight.T + bias, outputs, rtol=1e-5, atol=1e-5)
    assert torch.equal(weight_from_columns(weight, conv.weight.shape), conv.weight.detach())
    mean = task.column_mean([x])
    torch.testing.assert_close(mean, direct_columns(conv, x).double().mean(dim=0))


def test_linear_gram_over_leading_dimensions():
    linear = nn.Linear(6, 3)
    x = torch.randn(2, 5, 6)
    gram, cross, rows = LayerTask("fc", linear, "linear", "mxfp4", None).gram([x])
    rows_of_x = x.reshape(-1, 6).double()
    assert rows == 10 and cross is None
    torch.testing.assert_close(gram, rows_of_x.T @ rows_of_x, rtol=1e-5, atol=1e-5)
