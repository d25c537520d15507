"""Bit packing: codes of any width from 1 to 32 bits into a little-endian byte stream.

Codes are laid out least significant bit first: element 0 fills the low bits of byte 0, so two
fp4 codes share a byte (element 0 in the low nibble) and four fp6 codes fill three bytes.
``n`` codes of width ``w`` take exactly ceil(n * w / 8) bytes.
"""

from __future__ import annotations

import math
import sys

import torch


def packed_nbytes(count: int, width: int) -> int:
    return (count * width + 7) // 8


def _group(width: int) -> int:
    """Codes per whole number of bytes."""
    return 8 // math.gcd(width, 8)


def pack(codes: torch.Tensor, width: int) -> torch.Tensor:
    """Pack non-negative integer codes (< 2^width) into a flat uint8 tensor."""
    if width in (4, 8):
        return _pack_bytes(codes.reshape(-1), width)
    codes = codes.reshape(-1).to(torch.int64)
    count = codes.numel()
    group = _group(width)
    if width * group > 64:
        return _pack_bits(codes, width)
    codes = torch.nn.functional.pad(codes, (0, -count % group)).reshape(-1, group)
    shifts = torch.arange(group, dtype=torch.int64) * width
    words = (codes << shifts).sum(dim=1)
    byte_shifts = torch.arange(width * group // 8, dtype=torch.int64) * 8
    packed = ((words[:, None] >> byte_shifts) & 0xFF).to(torch.uint8).reshape(-1)
    return packed[: packed_nbytes(count, width)]


def unpack(data: torch.Tensor, width: int, count: int) -> torch.Tensor:
    """Inverse of ``pack``: ``count`` codes as int64."""
    if width in (4, 8):
        return _unpack_bytes(data, width, count)
    group = _group(width)
    if width * group > 64:
        return _unpack_bits(data, width, count)
    per_group = width * group // 8
    n_groups = math.ceil(count / group)
    padded = torch.nn.functional.pad(data.to(torch.int64), (0, n_groups * per_group - data.numel()))
    byte_shifts = torch.arange(per_group, dtype=torch.int64) * 8
    words = (padded.reshape(-1, per_group) << byte_shifts).sum(dim=1)
    shifts = torch.arange(group, dtype=torch.int64) * width
    codes = (words[:, None] >> shifts) & ((1 << width) - 1)
    return codes.reshape(-1)[:count]


def _pack_bytes(codes: torch.Tensor, width: int) -> torch.Tensor:
    """Widths 8 and 4 in uint8 arithmetic: bytes as they are, or two nibbles per byte (element
    0 in the low nibble), with no 64-bit words. The result is always a new contiguous tensor."""
    if width == 8 or codes.numel() == 0:
        return codes.to(torch.uint8, copy=True, memory_format=torch.contiguous_format)
    codes = codes.to(torch.uint8).contiguous()
    if codes.numel() % 2:
        codes = torch.nn.functional.pad(codes, (0, 1))
    if sys.byteorder == "little":
        # Each pair as one int16 w = lo + 256 hi: the low byte of w | (w >> 4) is lo | hi << 4.
        pairs = codes.view(torch.int16)
        return (pairs | (pairs >> 4)).to(torch.uint8)
    pairs = codes.view(-1, 2)
    return torch.bitwise_left_shift(pairs[:, 1], 4).bitwise_or_(pairs[:, 0])


def _unpack_bytes(data: torch.Tensor, width: int, count: int) -> torch.Tensor:
    if width == 8:
        return data[:count].to(torch.int64)
    nibbles = torch.stack((data & 0xF, data >> 4), dim=1)
    return nibbles.reshape(-1)[:count].to(torch.int64)


def _pack_bits(codes: torch.Tensor, width: int) -> torch.Tensor:
    """General path for widths whose byte groups exceed 64 bits (9, 11, 13, 15...)."""
    bits = (codes[:, None] >> torch.arange(width)) & 1
    flat = torch.nn.functional.pad(bits.reshape(-1), (0, -bits.numel() % 8)).reshape(-1, 8)
    return (flat << torch.arange(8)).sum(dim=1).to(torch.uint8)


def _unpack_bits(data: torch.Tensor, width: int, count: int) -> torch.Tensor:
    bits = (data.to(torch.int64)[:, None] >> torch.arange(8)) & 1
    bits = bits.reshape(-1)[: count * width].reshape(count, width)
    return (bits << torch.arange(width)).sum(dim=1)
