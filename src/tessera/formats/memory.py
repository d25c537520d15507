"""Allocation of large results.

A fresh tensor costs more than it seems: the kernel maps its memory page by page on first
write, and for a 64 MiB tensor the ~16,000 faults of 4 KiB pages cost several times a full copy
of it. Asking for transparent huge pages (2 MiB, ``madvise(MADV_HUGEPAGE)``) before the first
write cuts that to a few dozen faults where the system allows it (Linux with THP in ``madvise``
or ``always`` mode, as numpy does for its large arrays); elsewhere the advice is a no-op.
"""

from __future__ import annotations

import ctypes
import mmap
import sys

import torch

_MADV_HUGEPAGE = 14  # Linux, every architecture
_MIN_BYTES = 1 << 22  # below 4 MiB there is little to gain


def _load_madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


_madvise = _load_madvise()


def empty_like(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An uninitialized contiguous tensor of ``x``'s shape (and dtype, unless given), advised
    to use huge pages when it is large and on the CPU."""
    tensor = torch.empty(x.shape, dtype=dtype or x.dtype, device=x.device)
    nbytes = tensor.numel() * tensor.element_size()
    if _madvise is not None and tensor.device.type == "cpu" and nbytes >= _MIN_BYTES:
        page = mmap.PAGESIZE
        start = -(-tensor.data_ptr() // page) * page  # the whole pages inside the tensor
        length = (tensor.data_ptr() + nbytes - start) // page * page
        _madvise(start, length, _MADV_HUGEPAGE)  # advice only: failure changes nothing
    return tensor
