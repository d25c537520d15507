"""Every comparison the tests make, named by its metric, in one place."""

from __future__ import annotations

import torch


def _bits(t: torch.Tensor) -> torch.Tensor:
    int_dtype = {torch.float64: torch.int64, torch.float32: torch.int32}.get(t.dtype, torch.int16)
    return t.contiguous().view(int_dtype)


def assert_bit_exact(actual: torch.Tensor, expected: torch.Tensor, context: str = "") -> None:
    """Same shape, dtype and bit pattern everywhere (the sign of zero included); NaN matches NaN."""
    assert actual.shape == expected.shape, (
        f"{context}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    assert actual.dtype == expected.dtype, f"{context}: dtype {actual.dtype} != {expected.dtype}"
    nan_a, nan_e = actual.isnan(), expected.isnan()
    assert torch.equal(nan_a, nan_e), (
        f"{context}: NaN positions differ ({int((nan_a != nan_e).sum())} places)"
    )
    same = _bits(actual)[~nan_a] == _bits(expected)[~nan_e]
    if not bool(same.all()):
        where = (~same).nonzero()[:5].flatten().tolist()
        got, want = actual[~nan_a][~same][:5].tolist(), expected[~nan_e][~same][:5].tolist()
        raise AssertionError(
            f"{context}: {int((~same).sum())} values differ, e.g. at {where}: {got} != {want}"
        )


def sqnr_db(signal: torch.Tensor, approx: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB."""
    noise = (signal.double() - approx.double()).pow(2).sum()
    return float(10 * torch.log10(signal.double().pow(2).sum() / noise))
