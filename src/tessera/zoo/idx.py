"""A reader for the IDX format of MNIST's files, gzip-compressed (``*.gz``) or plain.

Layout: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32
sizes and the values in row-major order (big-endian for multi-byte types).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from tessera.zoo.files import FileFormatError

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> torch.Tensor:
    """The array stored in an IDX file, as a tensor of its native type (uint8 for MNIST)."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise FileFormatError(path, "not an IDX file (it does not start with two zero bytes)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _TYPES:
        raise FileFormatError(path, f"unknown IDX type code 0x{type_code:02x}")
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise FileFormatError(path, f"truncated header: {len(raw)} bytes for {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", raw[4:header_bytes])
    dtype = _TYPES[type_code]
    expected = header_bytes + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise FileFormatError(
            path,
            f"wrong size: the header announces shape {shape} of {dtype.name} "
            f"({expected} bytes in all), the data has {len(raw)} bytes",
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header_bytes).reshape(shape)
    return torch.from_numpy(values.astype(dtype.newbyteorder("="), copy=True))


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise FileFormatError(path, f"corrupted or truncated gzip data ({err})") from err
