"""The STS benchmark (semantic textual similarity): sentence pairs with a gold score from 0 to 5.

Files ``stsb/sts-{train,dev,test}.csv`` are tab-separated despite the name: genre, file, year,
id, score, sentence1, sentence2, and on some lines extra source columns (ignored). Sentences may
contain quotes, so no CSV quoting is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tessera.zoo.files import FileFormatError, require_file

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SentencePair:
    """Two sentences and their gold similarity, 0 (unrelated) to 5 (equivalent)."""

    sentence1: str
    sentence2: str
    score: float


def load_stsb(data_dir: Path, split: str) -> list[SentencePair]:
    """All pairs of one split, in file order."""
    if split not in SPLITS:
        raise ValueError(f"unknown STS-B split {split!r}; valid: {', '.join(SPLITS)}")
    path = require_file(data_dir, f"stsb/sts-{split}.csv")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        try:
            score = float(fields[4])
            pair = SentencePair(fields[5], fields[6], score)
        except (IndexError, ValueError) as err:
            raise FileFormatError(
                path, f"line {number} is not 'genre, file, year, id, score, sentence1, sentence2' ({err})"
            ) from err
        if not 0.0 <= score <= 5.0:
            raise FileFormatError(path, f"line {number}: score {score} is outside 0..5")
        pairs.append(pair)
    return pairs
