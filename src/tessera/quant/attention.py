"""Fake-quantized attention matmuls: ``q kᵀ`` and ``softmax(...) v`` with operands on a format's grid.

Each operand is blocked along its matmul's reduction dimension: ``q`` and ``k`` along the head
width, the attention probabilities along the keys, ``v`` along the tokens. The softmax, the
scaling and the mask stay in fp32. Two kinds of model are routed through it:

- Tessera's own models, whose attention calls an ``AttentionMatmuls`` module;
- Hugging Face models (``transformers.PreTrainedModel``), through the attention-function registry
  that transformers provides for custom implementations (no patching of library code).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import handle_torch_function, has_torch_function

from tessera.formats import quantize

HF_IMPLEMENTATION = "tessera_fake_quant"
_FORMAT_ATTRIBUTE = "tessera_attention_format"
_PREVIOUS_ATTRIBUTE = "tessera_previous_attention"


def fake_quant_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    fmt: str,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """softmax(q kᵀ · scale + mask) v for (batch, heads, tokens, head_dim) tensors, both matmuls
    computed on ``fmt``-quantized operands. ``key``/``value`` may have fewer heads (grouped-query
    attention); ``mask`` is boolean (True = attend) or additive; ``scale`` defaults to
    1/sqrt(head_dim). Like ``torch.nn.functional``'s functions it honours ``__torch_function__``,
    so a function mode (e.g. workload capture) sees one call instead of its internals."""
    if has_torch_function((query, key, value)):
        return handle_torch_function(
            fake_quant_attention, (query, key, value), query, key, value, fmt, mask, scale, causal
        )
    if key.shape[1] != query.shape[1]:
        group = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(group, dim=1), value.repeat_interleave(group, dim=1)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = quantize(query, fmt, axis=-1) @ quantize(key, fmt, axis=-1).transpose(-2, -1) * scale
    if causal:
        future = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probabilities = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    return quantize(probabilities, fmt, axis=-1) @ quantize(value, fmt, axis=-2)


class AttentionMatmuls(nn.Module):
    """The two matmuls of scaled dot-product attention as a module that ``quantize_`` can find.

    With ``operand_format`` None it is ``F.scaled_dot_product_attention``; with a format name
    it is ``fake_quant_attention`` in that format.
    """

    def __init__(self, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.operand_format: str | None = None

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
        scale: float | None = None,
    ) -> torch.Tensor:
        if self.operand_format is None:
            return F.scaled_dot_product_attention(
                query, key, value, attn_mask=mask, is_causal=self.causal, scale=scale, enable_gqa=True
            )
        return fake_quant_attention(query, key, value, self.operand_format, mask, scale, self.causal)

    def extra_repr(self) -> str:
        return f"causal={self.causal}, operand_format={self.operand_format}"


def quantize_attention(model: nn.Module, fmt: str) -> list[str]:
    """Route every attention of ``model`` through ``fmt``-quantized matmuls; returns the names of
    the attention modules affected (empty when the model has none that Tessera can reach)."""
    names = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionMatmuls):
            module.operand_format = fmt
            names.append(name)
    for hf_name, hf_model in _hugging_face_models(model):
        _register_hugging_face_function()
        config = hf_model.config
        if not hasattr(config, _PREVIOUS_ATTRIBUTE):
            setattr(config, _PREVIOUS_ATTRIBUTE, config._attn_implementation)
        setattr(config, _FORMAT_ATTRIBUTE, fmt)
        hf_model.set_attn_implementation(HF_IMPLEMENTATION)
        names += [
            _join(hf_name, name)
            for name, module in hf_model.named_modules()
            if getattr(module, "config", None) is config and hasattr(module, "is_causal")
        ]
    return names


def restore_attention(model: nn.Module) -> int:
    """Undo ``quantize_attention``; returns how many models or modules were put back."""
    restored = 0
    for module in model.modules():
        if isinstance(module, AttentionMatmuls) and module.operand_format is not None:
            module.operand_format = None
            restored += 1
    for _, hf_model in _hugging_face_models(model):
        config = hf_model.config
        if hasattr(config, _PREVIOUS_ATTRIBUTE):
            hf_model.set_attn_implementation(getattr(config, _PREVIOUS_ATTRIBUTE))
            delattr(config, _PREVIOUS_ATTRIBUTE)
            delattr(config, _FORMAT_ATTRIBUTE)
            restored += 1
    return restored


def _hugging_face_models(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost ``transformers.PreTrainedModel`` modules inside ``model`` (transformers is only
    consulted when something has already imported it)."""
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return []
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        inside_found = any(name.startswith(f"{outer}.") or outer == "" for outer, _ in found)
        if isinstance(module, transformers.PreTrainedModel) and not inside_found:
            found.append((name, module))
    return found


def _register_hugging_face_function() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(HF_IMPLEMENTATION, _hugging_face_attention)
    AttentionMaskInterface.register(HF_IMPLEMENTATION, eager_mask)


def _hugging_face_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **_: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: returns (batch, tokens, heads, head_dim)."""
    if dropout and module.training:
        raise ValueError("fake-quantized attention has no dropout: put the model in eval mode")
    fmt = getattr(module.config, _FORMAT_ATTRIBUTE)
    out = fake_quant_attention(query, key, value, fmt, attention_mask, scaling)
    return out.transpose(1, 2).contiguous(), None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name
