"""Readers for llama2.c's legacy files: the model ``.bin`` and the tokenizer ``tok*.bin``.

Model: a header of 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
vocab_size, seq_len; a negative vocab_size means the classifier is not shared with the token
embedding), then float32 arrays: token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
rms_final, the RoPE tables (seq_len x head_size/2 twice, skipped: recomputed), and the
classifier when unshared. Matrices are stored as ``nn.Linear`` weights, (out, in).

Tokenizer: an int32 maximum piece length, then per piece a float32 merge score, an int32 byte
length and the UTF-8 bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

from tessera.zoo.files import FileFormatError
from tessera.zoo.llama import LlamaConfig

HEADER_FORMAT = "<7i"


def read_llama2c_model(path: str | Path) -> tuple[LlamaConfig, dict[str, torch.Tensor]]:
    """The configuration and the weights, named as ``tessera.zoo.llama.Llama``'s state dict."""
    path = Path(path)
    raw = path.read_bytes()
    header_bytes = struct.calcsize(HEADER_FORMAT)
    if len(raw) < header_bytes:
        raise FileFormatError(path, f"truncated: {len(raw)} bytes, shorter than the 28-byte header")
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack_from(HEADER_FORMAT, raw)
    if min(dim, hidden, layers, heads, kv_heads, abs(vocab), seq_len) < 1 or dim % heads or heads % kv_heads:
        raise FileFormatError(
            path,
            "not a llama2.c model: implausible header "
            f"(dim {dim}, hidden_dim {hidden}, n_layers {layers}, n_heads {heads}, "
            f"n_kv_heads {kv_heads}, vocab_size {vocab}, seq_len {seq_len})",
        )
    config = LlamaConfig(
        dim, hidden, layers, heads, kv_heads, abs(vocab), seq_len, shared_classifier=vocab > 0
    )
    shapes = _layout(config)
    expected = header_bytes + 4 * sum(int(np.prod(shape)) for _, shape in shapes)
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise FileFormatError(
            path, f"{problem}: the header describes {expected} bytes, the file has {len(raw)}"
        )
    values = torch.from_numpy(np.frombuffer(raw, dtype="<f4", offset=header_bytes).copy())
    arrays: dict[str, torch.Tensor] = {}
    offset = 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        arrays[name] = values[offset : offset + size].reshape(shape)
        offset += size
    return config, _state_dict(config, arrays)


def _layout(c: LlamaConfig) -> list[tuple[str, tuple[int, ...]]]:
    head = c.dim // c.n_heads
    kv_dim = head * c.n_kv_heads
    layout = [
        ("token_embedding", (c.vocab_size, c.dim)),
        ("rms_att", (c.n_layers, c.dim)),
        ("wq", (c.n_layers, c.dim, c.dim)),
        ("wk", (c.n_layers, kv_dim, c.dim)),
        ("wv", (c.n_layers, kv_dim, c.dim)),
        ("wo", (c.n_layers, c.dim, c.dim)),
        ("rms_ffn", (c.n_layers, c.dim)),
        ("w1", (c.n_layers, c.hidden_dim, c.dim)),
        ("w2", (c.n_layers, c.dim, c.hidden_dim)),
        ("w3", (c.n_layers, c.hidden_dim, c.dim)),
        ("rms_final", (c.dim,)),
        ("freq_cis", (2, c.max_seq_len, head // 2)),
    ]
    if not c.shared_classifier:
        layout.append(("wcls", (c.vocab_size, c.dim)))
    return layout


def _state_dict(c: LlamaConfig, a: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = {"tok_embeddings.weight": a["token_embedding"], "norm.weight": a["rms_final"]}
    state["output.weight"] = a["token_embedding"] if c.shared_classifier else a["wcls"]
    per_layer = {
        "attention_norm.weight": "rms_att",
        "attention.wq.weight": "wq",
        "attention.wk.weight": "wk",
        "attention.wv.weight": "wv",
        "attention.wo.weight": "wo",
        "ffn_norm.weight": "rms_ffn",
        "feed_forward.w1.weight": "w1",
        "feed_forward.w2.weight": "w2",
        "feed_forward.w3.weight": "w3",
    }
    for layer in range(c.n_layers):
        for name, source in per_layer.items():
            state[f"layers.{layer}.{name}"] = a[source][layer]
    return state


def read_llama2c_tokenizer(path: str | Path) -> tuple[list[bytes], list[float]]:
    """The pieces (as UTF-8 bytes) and their merge scores, in token-id order."""
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) < 4:
        raise FileFormatError(path, "truncated: no header")
    (max_length,) = struct.unpack_from("<i", raw)
    pieces: list[bytes] = []
    scores: list[float] = []
    offset = 4
    while offset < len(raw):
        if offset + 8 > len(raw):
            raise FileFormatError(path, f"truncated inside the entry of token {len(pieces)}")
        score, length = struct.unpack_from("<fi", raw, offset)
        offset += 8
        if length < 0 or length > max_length or offset + length > len(raw):
            raise FileFormatError(
                path,
                f"token {len(pieces)} claims {length} bytes (maximum {max_length}, {len(raw) - offset} left)",
            )
        pieces.append(raw[offset : offset + length])
        scores.append(score)
        offset += length
    return pieces, scores
