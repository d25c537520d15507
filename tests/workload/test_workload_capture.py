"""Capture on small handmade models: GEMM dims of every op family, edges, formats, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tessera import QuantConfig, quantize_
from tessera.workload import CaptureError, ConvShape, GemmShape, capture
from tessera.zoo.digits import digits_cnn


def only(workload, kind):
    """The single op of ``kind`` in a workload."""
    (op,) = workload.of_kind(kind)
    return op


@pytest.mark.parametrize(
    ("layer", "shape", "gemm", "conv"),
    [
        # depthwise: one 3x3 filter per channel, stride 2 -> 8x8 output pixels per channel
        (
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
            (1, 8, 16, 16),
            GemmShape(m=64, n=1, k=9, count=8),
            ConvShape(18, 18, 3, 3, 8, 8, 2, 2, groups=8),
        ),
        # grouped: 4 groups of 2 input channels and 4 filters, batch 2 of 10x10 pixels
        (
            nn.Conv2d(8, 16, 3, padding=1, groups=4),
            (2, 8, 10, 10),
            GemmShape(m=200, n=4, k=18, count=4),
            ConvShape(12, 12, 3, 3, 8, 16, groups=4, batch=2),
        ),
        # plain, no padding, rectangular kernel and strides
        (
            nn.Conv2d(3, 5, (3, 2), stride=(2, 1)),
            (1, 3, 9, 7),
            GemmShape(m=4 * 6, n=5, k=18),
            ConvShape(9, 7, 3, 2, 3, 5, 2, 1),
        ),
        # 'same' padding with an even kernel pads 3 in total per dimension
        (
            nn.Conv2d(3, 4, 4, padding="same"),
            (1, 3, 9, 9),
            GemmShape(m=81, n=4, k=48),
            ConvShape(12, 12, 4, 4, 3, 4),
        ),
        # 1-D: a 2-D convolution of height 1
        (
            nn.Conv1d(4, 6, 5, stride=2, padding=2),
            (2, 4, 20),
            GemmShape(m=20, n=6, k=20),
            ConvShape(1, 24, 1, 5, 4, 6, 1, 2, batch=2),
        ),
    ],
    ids=["depthwise", "grouped", "strided", "same", "conv1d"],
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_convolution_gemm_and_padded_shape(layer, shape, gemm, conv):
    op = only(capture(layer, torch.randn(shape)), "conv1d" if isinstance(layer, nn.Conv1d) else "conv2d")
    assert op.gemm() == gemm
    assert op.conv() == conv
    assert op.macs == gemm.macs
    assert op.params[0].shape == tuple(layer.weight.shape)


def test_dilated_convolution_has_a_gemm_but_no_scalesim_shape():
    op = only(capture(nn.Conv2d(2, 3, 3, dilation=2), torch.randn(1, 2, 9, 9)), "conv2d")
    assert op.gemm() == GemmShape(m=25, n=3, k=18)
    with pytest.raises(ValueError, match="dilated"):
        op.conv()


class Matmuls(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 7))

    def forward(self, a, b):
        batched = a @ b  # (2, 3, 5, 7) @ (2, 3, 7, 4)
        shared = torch.matmul(batched.transpose(-1, -2), self.w)  # (2, 3, 4, 5) @ (5, 7)
        viewed = shared @ self.w.T  # (2, 3, 4, 7) @ (7, 5): a view of the parameter
        return torch.bmm(viewed.flatten(0, 1), a.flatten(0, 1))  # (6, 4, 5) @ (6, 5, 7)


def test_matmul_flavours_and_their_gemms():
    workload = capture(Matmuls(), (torch.randn(2, 3, 5, 7), torch.randn(2, 3, 7, 4)))
    batched, shared, viewed, bmm = workload.systolic_ops()
    assert (batched.kind, batched.gemm()) == ("matmul", GemmShape(m=5, n=4, k=7, count=6))
    assert (shared.kind, shared.gemm()) == ("gemm", GemmShape(m=24, n=7, k=5))
    assert [p.name for p in shared.params] == ["w"]
    assert (viewed.kind, viewed.gemm()) == ("gemm", GemmShape(m=24, n=5, k=7))
    assert [(p.name, p.shape) for p in viewed.params] == [("w", (5, 7))]
    assert (bmm.kind, bmm.gemm()) == ("matmul", GemmShape(m=4, n=7, k=5, count=6))
    assert bmm.producers == (viewed.name,)  # a is a model input: no producer op
    assert workload.param_bytes == 5 * 7 * 4  # the shared parameter counts once


class Attention(nn.Module):
    def forward(self, q, k, v, mask):
        return F.scaled_dot_product_attention(q.relu(), k, v, attn_mask=mask)


def test_attention_is_two_matmuls_and_a_softmax():
    q, k, v = torch.randn(2, 4, 6, 8), torch.randn(2, 4, 10, 8), torch.randn(2, 4, 10, 16)
    mask = torch.ones(6, 10, dtype=torch.bool)
    workload = capture(Attention(), (q, k, v, mask))
    relu, qk, softmax, av = workload.ops
    assert [op.kind for op in workload] == ["elementwise", "matmul", "elementwise", "matmul"]
    assert qk.gemm() == GemmShape(m=6, n=10, k=8, count=8)  # count = batch x heads
    assert av.gemm() == GemmShape(m=6, n=16, k=10, count=8)
    assert qk.outputs == softmax.inputs[:1] == ((2, 4, 6, 10),)
    assert (qk.producers, softmax.producers, av.producers) == ((relu.name,), (qk.name,), (softmax.name,))
    assert av.outputs == ((2, 4, 6, 16),)


class Block(nn.Module):
    """conv -> in-place relu -> pooled; a residual add; a scatter into a fresh buffer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = self.act(self.conv(x))
        y += x  # in-place residual add: reads the relu and the input
        pooled = self.pool(y)
        canvas = torch.zeros(1, 8, 4, 4)
        canvas[:, :4] = pooled  # the canvas now holds the pool's output
        return self.avg(canvas * 2)


def test_edges_follow_in_place_ops_views_and_scatters():
    workload = capture(Block(), torch.randn(1, 4, 8, 8))
    names = [op.name for op in workload]
    assert names == ["conv", "act", "add", "pool", "mul", "avg"]
    assert workload.op("add").producers == ("act",)  # the input is no op
    assert workload.op("add").inputs == ((1, 4, 8, 8), (1, 4, 8, 8))
    assert workload.op("mul").producers == ("pool",)
    assert [op.name for op in workload.consumers("pool")] == ["mul"]
    assert [op.kind for op in workload.of_kind("pool")] == ["pool", "pool"]


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return self.fc(self.fc(x)) + x


def test_a_module_called_twice_gives_numbered_names_and_a_skip_edge():
    workload = capture(Twice(), torch.randn(3, 6))
    assert [op.name for op in workload] == ["fc", "fc#2", "add"]
    assert workload.op("fc#2").producers == ("fc",)
    assert workload.op("fc").gemm() == GemmShape(m=3, n=6, k=6)
    assert all(op.module == "fc" for op in workload.of_kind("gemm"))


def test_quantized_layers_record_their_formats_and_nothing_of_the_fake_quantization():
    torch.manual_seed(0)
    model = digits_cnn().eval()
    x = torch.rand(2, 1, 8, 8)
    plain = capture(model, x)
    quantize_(model, QuantConfig(weights="mxfp4", activations="mxfp8_e4m3"))
    quantized = capture(model, x)
    assert [op.name for op in quantized] == [op.name for op in plain]
    assert [op.producers for op in quantized] == [op.producers for op in plain]
    for op in quantized.systolic_ops():
        assert op.formats.input == "mxfp8_e4m3"
        assert op.weight_format == "mxfp4"
        assert [p.format for p in op.params] == ["mxfp4", "fp32"]  # the bias stays fp32
    weights = sum(op.params[0].elements for op in quantized.systolic_ops())
    biases = sum(op.params[1].elements for op in quantized.systolic_ops())
    assert quantized.param_bytes == weights * 4.25 / 8 + biases * 4
    assert all(op.formats.input == "fp32" for op in plain.systolic_ops())


def test_capture_leaves_the_model_and_a_mapping_input_as_they_were():
    class Keyed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.drop = nn.Dropout(0.5)

        def forward(self, batch):
            batch["out"] = self.drop(self.fc(batch["x"]))
            return batch

    model = Keyed().train()
    batch = {"x": torch.randn(4, 3)}
    workload = capture(model, batch)
    assert list(batch) == ["x"]
    assert model.training and model.fc.training
    assert [op.name for op in workload] == ["fc"]  # dropout moves no data at inference
    assert workload.inputs == ((4, 3),)


def test_wrong_input_shape_surfaces_the_models_error_with_the_module():
    with pytest.raises(CaptureError, match=r"in module '1' \(Linear\).*\(2, 5\).*RuntimeError") as info:
        capture(nn.Sequential(nn.ReLU(), nn.Linear(4, 2)), torch.randn(2, 5))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_models_own_exception_is_chained():
    class Picky(nn.Module):
        def forward(self, x):
            raise ValueError("sequence too long")

    with pytest.raises(CaptureError, match=r"Picky.*ValueError: sequence too long") as info:
        capture(Picky(), torch.ones(1))
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (torch.randn(0, 3), r"example_input has shape \(0, 3\): every dimension must be positive"),
        ({"ids": torch.ones(2, 0)}, r"example_input\['ids'\] has shape \(2, 0\)"),
        ([1, 2], "example_input holds no tensor"),
    ],
)
def test_inputs_without_data_are_refused(example, message):
    with pytest.raises(ValueError, match=message):
        capture(nn.Identity(), example)


def test_torch_multihead_attention_is_projections_and_attention_per_head():
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True).eval()
    workload = capture(layer, torch.randn(2, 5, 16))
    attention = [op for op in workload if op.module == "self_attn"]
    labels = [op.name.removeprefix("self_attn.") for op in attention]
    assert labels == [
        "q_proj",
        "k_proj",
        "v_proj",
        "attention_qk",
        "attention_softmax",
        "attention_av",
        "out_proj",
    ]
    q, k, v, qk, softmax, av, out = attention
    assert q.gemm() == k.gemm() == v.gemm() == out.gemm() == GemmShape(m=10, n=16, k=16)
    assert qk.gemm() == GemmShape(m=5, n=5, k=4, count=8)  # 4 heads of width 4, batch 2
    assert av.gemm() == GemmShape(m=5, n=4, k=5, count=8)
    assert qk.producers == (q.name, k.name) and av.producers == (softmax.name, v.name)
    assert [p.name for p in q.params] == ["self_attn.in_proj_weight", "self_attn.in_proj_bias"]
    assert workload.op("add").producers == (out.name,)  # the residual: the layer input is no op
    assert len(workload.systolic_ops()) == 6 + 2
    in_proj = 48 * 16 + 48  # shared by the three projections, counted once
    assert sum(p.elements for p in workload.params if "in_proj" in p.name) == in_proj


def test_formats_follow_the_dtype_and_a_computed_weight_makes_a_matmul():
    class Dynamic(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4).to(torch.bfloat16)

        def forward(self, x):
            return F.linear(self.fc(x), x)  # the second product's "weight" is an activation

    workload = capture(Dynamic(), torch.randn(4, 4, dtype=torch.bfloat16))
    fc, dynamic = workload.systolic_ops()
    assert (fc.kind, fc.formats.input, fc.weight_format, fc.formats.output) == (
        "gemm",
        "bf16",
        "bf16",
        "bf16",
    )
    assert workload.param_bytes == (16 + 4) * 2
    assert (dynamic.kind, dynamic.params, dynamic.producers) == ("matmul", (), ("fc",))


def test_results_written_through_views_and_out_arguments_keep_their_producers():
    class Scatter(nn.Module):
        def forward(self, x):
            result = torch.empty(4, 6)  # no input: a constant until it is written
            torch.mul(x, 2, out=result[:, :3])
            torch.add(x.relu(), 1, out=result.view(4, 2, 3)[:, 1])
            buffer = torch.empty_like(x)  # shaped like x, holding nothing of it
            buffer.copy_(result[:, 3:])
            return result.sum(), buffer.tanh()

    workload = capture(Scatter(), torch.randn(4, 3))
    assert [op.name for op in workload] == ["mul", "relu", "add", "sum", "tanh"]
    assert workload.op("sum").producers == ("mul", "add")
    assert workload.op("tanh").producers == ("mul", "add")  # copied from the same memory
