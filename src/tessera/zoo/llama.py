"""A small Llama-2 decoder, as in llama2.c: RMSNorm, rotary embeddings on adjacent pairs,
grouped-query attention, SwiGLU feed-forward, and a classifier shared with the token embedding
or separate. ``generate`` decodes greedily.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from tessera.quant.attention import AttentionMatmuls
from tessera.zoo.evaluation import model_device
from tessera.zoo.tokenizer import BOS, EOS, Tokenizer


@dataclass(frozen=True)
class LlamaConfig:
    """Sizes of a Llama model. ``dim`` is split into ``n_heads`` heads; keys and values have
    ``n_kv_heads`` heads, each shared by ``n_heads / n_kv_heads`` query heads."""

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    max_seq_len: int
    shared_classifier: bool = True
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        """Width of one attention head: dim / n_heads."""
        return self.dim // self.n_heads


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, over the last dimension."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary_tables(config: LlamaConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (max_seq_len, head_dim / 2): pair i at position p turns by p * theta^(-2i / head_dim)."""
    pairs = torch.arange(0, config.head_dim, 2, dtype=torch.float64) / config.head_dim
    angles = torch.outer(torch.arange(config.max_seq_len, dtype=torch.float64), config.rope_theta**-pairs)
    return torch.cos(angles).float(), torch.sin(angles).float()


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate elements (2i, 2i+1) of the last dimension of x (B, heads, T, head_dim) by the angles."""
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    """Causal grouped-query self-attention with rotary position embeddings."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.wq = nn.Linear(config.dim, config.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * self.head_dim, config.dim, bias=False)
        self.matmuls = AttentionMatmuls(causal=True)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(t: torch.Tensor, count: int) -> torch.Tensor:
            return t.view(batch, length, count, self.head_dim).transpose(1, 2)

        q = rotate_pairs(heads(self.wq(x), self.n_heads), cos, sin)
        k = rotate_pairs(heads(self.wk(x), self.n_kv_heads), cos, sin)
        v = heads(self.wv(x), self.n_kv_heads)
        out = self.matmuls(q, k, v)
        return self.wo(out.transpose(1, 2).reshape(batch, length, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(config.dim, config.hidden_dim, bias=False)
        self.w2 = nn.Linear(config.hidden_dim, config.dim, bias=False)
        self.w3 = nn.Linear(config.dim, config.hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(functional.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm x), then + feed_forward(norm x)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """Token ids (B, T) with T <= max_seq_len to next-token logits (B, T, vocab_size).

    With ``shared_classifier`` the output layer's weight *is* the token embedding's (one
    Parameter): changing one in place changes the other.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        if config.shared_classifier:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rotary_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.config.max_seq_len:
            raise ValueError(f"sequence of {length} tokens exceeds max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:length], self.rope_sin[:length]
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.output(self.norm(x))


def generate(model: Llama, tokenizer: Tokenizer, max_new_tokens: int, prompt: str = "") -> str:
    """Greedy decoding from BOS (followed by ``prompt`` when given): the text of the prompt and
    up to ``max_new_tokens`` tokens. Stops early at BOS or EOS, or when the sequence reaches the
    model's ``max_seq_len`` (no sliding window)."""
    tokens = tokenizer.encode(prompt, bos=True)
    device = model_device(model)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            if len(tokens) >= model.config.max_seq_len:
                break
            logits = model(torch.tensor([tokens], device=device))[0, -1]
            next_token = int(logits.argmax())
            if next_token in (BOS, EOS):
                break
            tokens.append(next_token)
    return tokenizer.decode(tokens)
