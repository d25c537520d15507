"""Scalar casts against ml_dtypes (an independent implementation) and against the reference.

ml_dtypes rounds to nearest even but overflows to NaN/Inf and maps NaN oddly for fp4/fp6, so it
is an oracle only after clamping to ±max (Tessera saturates finite values).
"""

import ml_dtypes
import numpy as np
import pytest
import torch
from tests.tolerances import assert_bit_exact

from tessera import encode, get_format, quantize
from tessera.formats import reference
from tessera.formats.packing import unpack
from tessera.formats.quantize import stochastic_noise

ORACLES = {
    "e4m3": ml_dtypes.float8_e4m3fn,
    "e5m2": ml_dtypes.float8_e5m2,
    "e4m3fnuz": ml_dtypes.float8_e4m3fnuz,
    "e5m2fnuz": ml_dtypes.float8_e5m2fnuz,
    "e3m2": ml_dtypes.float6_e3m2fn,
    "e2m3": ml_dtypes.float6_e2m3fn,
    "e2m1": ml_dtypes.float4_e2m1fn,
    "bf16": ml_dtypes.bfloat16,
    "fp16": np.float16,
}


def oracle_cast(x: torch.Tensor, name: str) -> torch.Tensor:
    fmt = get_format(name)
    clamped = np.clip(x.numpy(), -fmt.max_normal, fmt.max_normal)
    return torch.from_numpy(clamped.astype(ORACLES[name]).astype(np.float32))


def all_float16_values() -> torch.Tensor:
    x = torch.arange(2**16, dtype=torch.int32).to(torch.int16).view(torch.float16).float()
    return x[torch.isfinite(x)]


def random_float32(n: int, seed: int) -> torch.Tensor:
    """Uniformly random bit patterns: every binade equally likely, subnormals included."""
    generator = torch.Generator().manual_seed(seed)
    bits = torch.randint(-(2**31), 2**31 - 1, (n,), generator=generator, dtype=torch.int64).to(torch.int32)
    x = bits.view(torch.float32)
    return x[torch.isfinite(x)]


def tie_points(name: str) -> torch.Tensor:
    """Midpoints between neighbouring values, their float32 neighbours, and both signs."""
    grid = torch.tensor(get_format(name).grid, dtype=torch.float64)
    mids = ((grid[1:] + grid[:-1]) / 2).float()
    mids = mids[torch.isfinite(mids)]
    around = torch.cat([mids, torch.nextafter(mids, mids + 1), torch.nextafter(mids, mids - 1)])
    return torch.cat([around, -around])


@pytest.mark.parametrize("name", ORACLES)
def test_every_float16_value(name):
    x = all_float16_values()
    assert_bit_exact(quantize(x, name), oracle_cast(x, name), name)


@pytest.mark.parametrize("name", ORACLES)
def test_every_tie_point(name):
    x = tie_points(name)
    assert_bit_exact(quantize(x, name), oracle_cast(x, name), name)
    assert_bit_exact(reference.quantize(x, name), oracle_cast(x, name), f"reference {name}")


@pytest.mark.parametrize("name", ORACLES)
def test_a_million_random_float32(name):
    x = random_float32(1_000_000, seed=len(name))
    assert x.numel() > 990_000
    assert_bit_exact(quantize(x, name), oracle_cast(x, name), name)


@pytest.mark.parametrize("name", [n for n in ORACLES if n not in ("bf16", "fp16")])
def test_codes_equal_the_oracle_bit_patterns(name):
    x = torch.cat([all_float16_values(), tie_points(name)])
    fmt = get_format(name)
    codes = unpack(encode(x, name).elements, fmt.bits, x.numel())
    expected = np.clip(x.numpy(), -fmt.max_normal, fmt.max_normal).astype(ORACLES[name]).view(np.uint8)
    assert torch.equal(codes, torch.from_numpy(expected.astype(np.int64)))


@pytest.mark.parametrize("name", ["int8", "int4", "int2", "uint8", "uint4", "int16", "int8_full"])
def test_integers_round_half_even_and_saturate(name):
    fmt = get_format(name)
    x = torch.cat([torch.arange(-300, 300, 0.25), random_float32(10_000, 1).clamp(-1e5, 1e5)])
    expected = torch.from_numpy(np.clip(np.rint(x.numpy()), fmt.qmin, fmt.qmax).astype(np.float32)) + 0.0
    assert_bit_exact(quantize(x, name), expected, name)


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e2m1", "e3m2", "e4m3fnuz", "int8", "uint4", "fp16"])
@pytest.mark.parametrize("rounding", ["nearest_away", "toward_zero", "stochastic"])
def test_rounding_modes_match_the_reference(name, rounding):
    x = torch.cat(
        [tie_points(name) if "int" not in name else torch.arange(-20, 20, 0.125), random_float32(4000, 7)]
    )
    noise = stochastic_noise(x.shape, 11)
    got = quantize(x, name, rounding=rounding, seed=11)
    assert_bit_exact(got, reference.quantize(x, name, rounding=rounding, noise=noise), f"{name} {rounding}")


def test_special_values():
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, -1e-30, 1e-30])
    nan, inf = float("nan"), float("inf")
    cases = {
        "e4m3": [nan, 448, -448, -0.0, -0.0, 0.0],
        "e5m2": [nan, inf, -inf, -0.0, -0.0, 0.0],
        "e2m1": [nan, 6, -6, -0.0, -0.0, 0.0],
        "e4m3fnuz": [nan, 240, -240, 0.0, 0.0, 0.0],
        "int8": [nan, 127, -127, 0.0, 0.0, 0.0],
        "binary": [nan, 1, -1, 1, -1, 1],
        "ternary": [nan, 1, -1, 0.0, 0.0, 0.0],
    }
    for name, expected in cases.items():
        assert_bit_exact(quantize(x, name), torch.tensor(expected, dtype=torch.float32), name)


def test_ternary_threshold():
    x = torch.tensor([-0.8, -0.3, 0.2, 0.31, 0.5, 0.7])
    assert quantize(x, "ternary").tolist() == [-1, 0, 0, 0, 0, 1]
    fmt = get_format("ternary").__class__(threshold=0.3)
    assert quantize(x, fmt).tolist() == [-1, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_input_dtypes_keep_their_dtype(dtype):
    x = torch.linspace(-500, 500, 1001, dtype=dtype)
    got = quantize(x, "e4m3")
    assert got.dtype == dtype
    assert_bit_exact(got, reference.quantize(x, "e4m3"), str(dtype))
