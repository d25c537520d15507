"""llama2.c files, the tok512 tokenizer and the stories260K model."""

import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.zoo.metric_checks import assert_metric_near

from tessera.zoo import FileFormatError, Llama, LlamaConfig, Tokenizer, generate, get_model, stories
from tessera.zoo.llama2c import read_llama2c_model, read_llama2c_tokenizer

pytestmark = pytest.mark.data

STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
FIRST_4_WINDOWS_PERPLEXITY = 380.07  # measured (full WikiText-2 test, 1537 windows: 263.56)


@pytest.fixture(scope="module")
def tokenizer(data_dir):
    return stories.load_tokenizer(data_dir)


@pytest.fixture(scope="module")
def model(data_dir):
    return stories.load_stories260k(data_dir)


def test_header_and_weights_are_read(data_dir, model):
    config, state = read_llama2c_model(data_dir / "llama2c/stories260K.bin")
    assert config == LlamaConfig(64, 172, 5, 8, 4, 512, 512, shared_classifier=True)
    assert sum(p.numel() for p in model.parameters()) == 260032
    assert model.output.weight is model.tok_embeddings.weight
    assert torch.equal(model.layers[4].feed_forward.w3.weight, state["layers.4.feed_forward.w3.weight"])
    assert model.layers[0].attention.wk.weight.shape == (32, 64)  # 4 KV heads of 8


def test_greedy_decoding_from_bos_tells_the_story(model, tokenizer):
    text = generate(model, tokenizer, max_new_tokens=40)
    assert text.startswith(STORY), text


def test_generation_continues_a_prompt_and_stops_at_the_budget(model, tokenizer):
    text = generate(model, tokenizer, max_new_tokens=3, prompt="Once upon a time")
    assert text == "Once upon a time, there was"


def test_tokenizer_file(tokenizer):
    assert tokenizer.vocab_size == 512
    assert tokenizer.pieces[:3] == [b"<unk>", b"\n<s>\n", b"\n</s>\n"]
    assert tokenizer.encode(STORY)[:6] == [1, 403, 407, 261, 378, 432]
    assert tokenizer.encode("") == [1] and tokenizer.encode("", bos=False, eos=True) == [2]


def reference_encode(tokenizer, text):
    """llama2.c's encode as written there: repeatedly merge the best pair, scanning all pairs (O(n^2))."""
    ids = [tokenizer.pieces.index(b" ")] if text else []
    for char in text:
        piece = char.encode()
        ids += [tokenizer.pieces.index(piece)] if piece in tokenizer.pieces else [b + 3 for b in piece]
    while True:
        best, best_score = None, -1e10
        for i in range(len(ids) - 1):
            merged = tokenizer.pieces[ids[i]] + tokenizer.pieces[ids[i + 1]]
            if merged in tokenizer.pieces and tokenizer.scores[tokenizer.pieces.index(merged)] > best_score:
                best, best_score = i, tokenizer.scores[tokenizer.pieces.index(merged)]
        if best is None:
            return ids
        ids[best : best + 2] = [
            tokenizer.pieces.index(tokenizer.pieces[ids[best]] + tokenizer.pieces[ids[best + 1]])
        ]


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab tehsinolyd.,'\n!é日"), max_size=40))
def test_heap_encoder_matches_the_quadratic_reference(tokenizer, text):
    assert tokenizer.encode(text, bos=False) == reference_encode(tokenizer, text)
    assert tokenizer.decode(tokenizer.encode(text)) == text


@pytest.mark.parametrize("text", [STORY, "naïve café, 日本語 ™ — \t tabs", "  two spaces", "x"])
def test_decode_inverts_encode(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_perplexity_on_the_first_windows(data_dir, model):
    spec = get_model("stories260k")
    assert spec.metric == "perplexity" and not spec.higher_is_better
    value = spec.evaluate(model, data_dir, limit=4)
    assert_metric_near("stories260k perplexity (first 4 windows)", value, FIRST_4_WINDOWS_PERPLEXITY, 0.05)


def test_calibration_uses_validation_text_not_test_text(data_dir):
    batches = get_model("stories260k").calibration(data_dir, n_samples=6, batch_size=4)
    assert [tuple(b.shape) for b in batches] == [(4, 512), (2, 512)]
    test_windows = stories.windows(data_dir, stories.TEST_TEXT)
    assert not torch.equal(batches[0][0], test_windows[0, :512])
    assert batches[0][0, 0] == 1  # the first paragraph starts with BOS


def write_llama2c(path, config, shared=True, drop_bytes=0):
    """A llama2.c legacy file with small random weights."""
    c = config
    head = c.dim // c.n_heads
    kv = head * c.n_kv_heads
    counts = [
        c.vocab_size * c.dim,
        c.n_layers * c.dim,
        c.n_layers * c.dim * c.dim,
        2 * c.n_layers * kv * c.dim,
    ]
    counts += [c.n_layers * c.dim * c.dim, c.n_layers * c.dim, 3 * c.n_layers * c.dim * c.hidden_dim, c.dim]
    counts += [c.max_seq_len * head] + ([] if shared else [c.vocab_size * c.dim])
    values = torch.randn(sum(counts), generator=torch.Generator().manual_seed(0)) * 0.1
    vocab = c.vocab_size if shared else -c.vocab_size
    header = struct.pack(
        "<7i", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, vocab, c.max_seq_len
    )
    raw = header + values.numpy().astype("<f4").tobytes()
    path.write_bytes(raw[: len(raw) - drop_bytes])
    return values


def test_unshared_classifier_is_read_from_the_end(tmp_path):
    config = LlamaConfig(16, 24, 2, 4, 2, 40, 8, shared_classifier=False)
    values = write_llama2c(tmp_path / "tiny.bin", config, shared=False)
    read_config, state = read_llama2c_model(tmp_path / "tiny.bin")
    assert read_config == config
    assert torch.equal(state["output.weight"].flatten(), values[-40 * 16 :])
    model = Llama(config)
    model.load_state_dict(state)
    assert model.output.weight is not model.tok_embeddings.weight
    assert model(torch.tensor([[1, 2, 3]])).shape == (1, 3, 40)


def test_truncated_model_file_is_named(tmp_path):
    write_llama2c(tmp_path / "cut.bin", LlamaConfig(16, 24, 2, 4, 2, 40, 8), drop_bytes=6)
    with pytest.raises(FileFormatError, match=r"cut\.bin: truncated: the header describes \d+ bytes"):
        read_llama2c_model(tmp_path / "cut.bin")
    (tmp_path / "short.bin").write_bytes(b"\x40\x00\x00\x00")
    with pytest.raises(FileFormatError, match=r"short\.bin: truncated: 4 bytes"):
        read_llama2c_model(tmp_path / "short.bin")


def test_implausible_header_is_named(tmp_path):
    (tmp_path / "text.bin").write_bytes(b"this is not a model, just some text" * 4)
    with pytest.raises(FileFormatError, match=r"text\.bin: not a llama2\.c model: implausible header"):
        read_llama2c_model(tmp_path / "text.bin")


def test_truncated_tokenizer_is_named(data_dir, tmp_path):
    path = tmp_path / "tok512.bin"
    path.write_bytes((data_dir / "llama2c/tok512.bin").read_bytes()[:-3])
    with pytest.raises(FileFormatError, match=r"tok512\.bin: token 511 claims"):
        read_llama2c_tokenizer(path)
    with pytest.raises(ValueError, match=r"2 pieces but 1 scores"):
        Tokenizer([b"a", b"b"], [0.0])
