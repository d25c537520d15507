"""The llama2.c byte-pair tokenizer: sentencepiece-style pieces merged by score.

Encoding (as llama2.c's ``encode``): a leading space is added (sentencepiece's dummy prefix),
each character becomes its piece, or its UTF-8 bytes as byte tokens ``<0xXX>`` when it has no
piece, then the adjacent pair whose concatenation is the highest-scoring piece is merged,
leftmost first on ties, until no pair merges. A heap keeps this O(n log n) in the text length.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from pathlib import Path

BOS = 1  # llama2.c's fixed ids for the begin- and end-of-sequence tokens
EOS = 2
BYTE_TOKEN = re.compile(rb"<0x([0-9A-Fa-f]{2})>")


class Tokenizer:
    """Pieces (UTF-8 bytes) and merge scores indexed by token id; ids 3..258 are raw bytes."""

    def __init__(self, pieces: Sequence[bytes], scores: Sequence[float]) -> None:
        if len(pieces) != len(scores):
            raise ValueError(f"{len(pieces)} pieces but {len(scores)} scores")
        self.pieces = list(pieces)
        self.scores = list(scores)
        self._ids: dict[bytes, int] = {}
        for token_id, piece in enumerate(self.pieces):
            self._ids.setdefault(piece, token_id)
        self._bytes = [_piece_bytes(piece) for piece in self.pieces]

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        """Read a llama2.c ``tok*.bin`` file."""
        from tessera.zoo.llama2c import read_llama2c_tokenizer

        return cls(*read_llama2c_tokenizer(path))

    @property
    def vocab_size(self) -> int:
        """Number of pieces, special and byte tokens included."""
        return len(self.pieces)

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        """Token ids of ``text``, optionally framed by BOS and EOS."""
        ids = self._merge(self._characters(text)) if text else []
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``: BOS and EOS are dropped, a piece right after BOS loses its leading
        space, byte tokens become their bytes; invalid UTF-8 is replaced by U+FFFD."""
        out = bytearray()
        previous = -1
        for token_id in ids:
            if token_id not in (BOS, EOS):
                piece = self._bytes[token_id]
                out += piece[1:] if previous == BOS and piece.startswith(b" ") else piece
            previous = token_id
        return out.decode("utf-8", errors="replace")

    def _characters(self, text: str) -> list[int]:
        if b" " not in self._ids:
            raise ValueError("this vocabulary has no ' ' piece for the leading space")
        ids = [self._ids[b" "]]
        for char in text:
            encoded = char.encode("utf-8")
            if encoded in self._ids:
                ids.append(self._ids[encoded])
            else:
                ids.extend(byte + 3 for byte in encoded)
        return ids

    def _merge(self, ids: list[int]) -> list[int]:
        tokens = list(ids)
        following = list(range(1, len(ids) + 1))
        preceding = list(range(-1, len(ids) - 1))
        alive = [True] * len(ids)
        heap: list[tuple[float, int, int, int, int]] = []

        def push(left: int) -> None:
            right = following[left]
            if right < len(tokens):
                merged = self._ids.get(self.pieces[tokens[left]] + self.pieces[tokens[right]])
                if merged is not None:
                    heapq.heappush(heap, (-self.scores[merged], left, merged, tokens[left], tokens[right]))

        for position in range(len(tokens) - 1):
            push(position)
        while heap:
            _, left, merged, left_token, right_token = heapq.heappop(heap)
            right = following[left]
            stale = not alive[left] or right >= len(tokens) or tokens[right] != right_token
            if stale or tokens[left] != left_token:
                continue
            tokens[left] = merged
            alive[right] = False
            following[left] = following[right]
            if following[right] < len(tokens):
                preceding[following[right]] = left
            push(left)
            if preceding[left] >= 0:
                push(preceding[left])
        return [token for token, keep in zip(tokens, alive) if keep]


def _piece_bytes(piece: bytes) -> bytes:
    match = BYTE_TOKEN.fullmatch(piece)
    return bytes([int(match.group(1), 16)]) if match else piece
