"""stories260K: a 260k-parameter Llama-2 trained on TinyStories (llama2.c), scored by perplexity.

Text: the raw WikiText-2 test split for evaluation, its validation split for calibration. Each
non-empty line (a paragraph or heading), stripped, is encoded with the tok512 tokenizer after a
BOS, as llama2.c frames its training stories; the lines' tokens are concatenated and cut into
windows of ``WINDOW`` tokens (the model's context), each predicting its next ``WINDOW`` tokens.
The test set is the first ``TEST_WINDOWS`` windows (131,072 predicted tokens, about the first
fifth of the file). WikiText is not stories, so absolute perplexities are high: compare formats
against fp32.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from tessera.zoo.evaluation import first, model_device
from tessera.zoo.files import FileFormatError, require_file
from tessera.zoo.llama import Llama
from tessera.zoo.llama2c import read_llama2c_model
from tessera.zoo.registry import ModelSpec, Progress, register
from tessera.zoo.tokenizer import Tokenizer

MODEL_FILE = "llama2c/stories260K.bin"
TOKENIZER_FILE = "llama2c/tok512.bin"
TEST_TEXT = "text/wikitext2_test.txt"
CALIBRATION_TEXT = "text/wikitext2_valid.txt"
WINDOW = 512  # tokens per example, stories260K's max_seq_len
TEST_WINDOWS = 256  # examples in the test set
EVAL_BATCH = 8  # windows per forward pass


def load_stories260k(data_dir: Path) -> Llama:
    """The pretrained model from ``llama2c/stories260K.bin``, fp32, in eval mode."""
    path = require_file(data_dir, MODEL_FILE)
    config, state = read_llama2c_model(path)
    model = Llama(config)
    model.load_state_dict(state)
    return model.eval()


def load_tokenizer(data_dir: Path) -> Tokenizer:
    """The 512-piece tokenizer from ``llama2c/tok512.bin``."""
    return Tokenizer.from_file(require_file(data_dir, TOKENIZER_FILE))


def windows(data_dir: Path, text_file: str) -> torch.Tensor:
    """The text file's token stream cut into rows of ``WINDOW + 1`` tokens (int64, overlapping by
    one token so that every token after the first is predicted once); the tail is dropped."""
    path = require_file(data_dir, text_file)
    stat = path.stat()
    stream = _token_stream(str(path), stat.st_size, stat.st_mtime_ns, str(data_dir / TOKENIZER_FILE))
    count = (len(stream) - 1) // WINDOW
    if count < 1:
        raise FileFormatError(path, f"too short: {len(stream)} tokens, fewer than one {WINDOW}-token window")
    starts = torch.arange(count) * WINDOW
    return stream[starts[:, None] + torch.arange(WINDOW + 1)]


@functools.lru_cache(maxsize=4)
def _token_stream(path: str, size: int, mtime_ns: int, tokenizer_path: str) -> torch.Tensor:
    """Tokens of every non-empty stripped line, each after a BOS (cached per file version)."""
    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokens: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                tokens += tokenizer.encode(line.strip(), bos=True)
    return torch.tensor(tokens, dtype=torch.int64)


def build(data_dir: Path | None) -> nn.Module:
    """The registry's builder: ``load_stories260k``."""
    assert data_dir is not None
    return load_stories260k(data_dir)


def calibration(data_dir: Path | None, n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """Token windows (N, WINDOW) from the WikiText-2 validation split, the first ``n_samples``."""
    assert data_dir is not None
    rows = windows(data_dir, CALIBRATION_TEXT)[:n_samples, :WINDOW]
    return [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]


def evaluate(model: nn.Module, data_dir: Path | None, limit: int | None, progress: Progress | None) -> float:
    """Perplexity: exp of the mean next-token cross-entropy (nats) over the ``TEST_WINDOWS`` test
    windows, or the first ``limit`` of them."""
    assert data_dir is not None
    rows = windows(data_dir, TEST_TEXT)[:TEST_WINDOWS]
    rows = rows[: first(limit, len(rows))]
    device = model_device(model)
    total_nats = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), EVAL_BATCH):
            batch = rows[start : start + EVAL_BATCH].to(device)
            logits = model(batch[:, :-1])
            loss = functional.cross_entropy(
                logits.flatten(0, 1).double(), batch[:, 1:].flatten(), reduction="sum"
            )
            total_nats += float(loss)
            if progress is not None:
                progress(min(start + EVAL_BATCH, len(rows)), len(rows))
    return float(torch.exp(torch.tensor(total_nats / (len(rows) * WINDOW))))


SPEC = register(
    ModelSpec(
        name="stories260k",
        metric="perplexity",
        higher_is_better=False,
        dataset=f"WikiText-2 test (raw), first {TEST_WINDOWS} windows of {WINDOW} tok512 tokens",
        description="llama2.c stories260K: Llama-2 architecture, 260k parameters, trained on TinyStories",
        needs_data=True,
        builder=build,
        calibrator=calibration,
        evaluator=evaluate,
    )
)
