"""Block formats against the reference on exhaustive grids, special blocks and hand-derived values."""

import math

import pytest
import torch
from tests.tolerances import assert_bit_exact

from tessera import get_format, quantize
from tessera.formats import BlockFormat, reference
from tessera.formats.quantize import stochastic_noise

PRESETS = [
    "mxfp8_e4m3",
    "mxfp8_e5m2",
    "mxfp6_e3m2",
    "mxfp6_e2m3",
    "mxfp4",
    "mxint8",
    "nvfp4",
    "bfp16",
    "int8_channel",
    "int4_g32",
    "uint4_g32_zp",
]
SCALE_MODE_FORMATS = [
    f"{elem}:e8m0:32:{mode}"
    for elem in ("e2m1", "e4m3", "e3m2", "int8_f6")
    for mode in ("ceil", "rceil", "even")
] + ["e2m1:e4m3:16:floor", "e2m1:e4m3:16:ceil", "e2m1:bf16:32", "e2m1:fp16:32:ceil"]


def exhaustive_grid() -> torch.Tensor:
    """Every float32 bit pattern with 8 exponent bits and 9 mantissa bits (2^18, NaN/Inf included)."""
    return (torch.arange(2**18, dtype=torch.int64) << 14).to(torch.int32).view(torch.float32)


def arrangements(block: int):
    """The grid in order (neighbouring magnitudes share blocks) and shuffled (wide blocks)."""
    grid = exhaustive_grid()
    shuffled = grid[torch.randperm(grid.numel(), generator=torch.Generator().manual_seed(0))]
    return {"sorted": grid.reshape(-1, block * 4), "shuffled": shuffled.reshape(-1, block * 4)}


@pytest.mark.parametrize("name", PRESETS + SCALE_MODE_FORMATS)
def test_exhaustive_grid_equals_reference(name):
    block = get_format(name).block_size or 32
    for label, x in arrangements(block).items():
        assert_bit_exact(quantize(x, name), reference.quantize(x, name), f"{name} {label}")


@pytest.mark.parametrize(
    "name", ["mxfp4", "mxfp8_e4m3", "mxint8", "nvfp4", "uint4_g32_zp", "e3m2:e8m0:32:even"]
)
@pytest.mark.parametrize("rounding", ["nearest_away", "toward_zero", "stochastic"])
def test_rounding_modes_equal_reference(name, rounding):
    x = exhaustive_grid()[::16].reshape(-1, 64)
    x = x[torch.isfinite(x).all(dim=1)]
    noise = stochastic_noise(x.shape, 5)
    got = quantize(x, name, rounding=rounding, seed=5)
    assert_bit_exact(got, reference.quantize(x, name, rounding=rounding, noise=noise), f"{name} {rounding}")


def test_spec_example_957_in_mxfp8_e4m3():
    assert quantize(torch.tensor([957.0, 1.0]), "mxfp8_e4m3").tolist() == [896.0, 1.0]


@pytest.mark.parametrize(("mode", "expected"), [("floor", 6.0), ("ceil", 8.0), ("rceil", 8.0), ("even", 8.0)])
def test_scale_modes_on_a_hand_derived_block(mode, expected):
    # amax 7 in E2M1: floor gives 2^(2-2) = 1 and clips 7 to 6; the others pick scale 2: 7/2 = 3.5 -> 4
    fmt = BlockFormat(get_format("e2m1"), get_format("e8m0"), 32, scale_mode=mode)
    assert quantize(torch.tensor([7.0, 0.5]), fmt).tolist() == [expected, 0.0 if expected == 8 else 0.5]


def test_blocks_at_the_scale_floor_are_exact():
    # amax = 1.5 * 2^-127: the shared exponent floor(log2 amax) - 2 = -129 clamps to -127, P = 1.5
    x = torch.tensor([1.5 * 2.0**-127, 2.0**-127, -(2.0**-128), 2.0**-149])
    assert quantize(x, "mxfp4").tolist() == [1.5 * 2.0**-127, 2.0**-127, -(2.0**-128), 0.0]
    # MXINT8 with amax 1.5 * 2^-127 sits at the floor: steps of 2^-6 * 2^-127 = 2^-133
    y = torch.tensor([1.5 * 2.0**-127, 2.0**-133, -3 * 2.0**-133])
    assert quantize(y, "mxint8").tolist() == y.tolist()


@pytest.mark.parametrize("name", PRESETS)
def test_nan_or_inf_poisons_only_its_block(name):
    x = torch.randn(4, 64)
    x[0, 3] = float("nan")
    x[2, 40] = float("inf")
    got = quantize(x, name)
    block = get_format(name).block_size or 64
    assert got[0, :block].isnan().all() and got[2, 40 // block * block :][:block].isnan().all()
    clean = torch.ones_like(got, dtype=torch.bool)
    clean[0, :block] = False
    clean[2, 40 // block * block : 40 // block * block + block] = False
    assert not got[clean].isnan().any()
    assert_bit_exact(got, reference.quantize(x, name), name)


@pytest.mark.parametrize("name", PRESETS)
def test_zero_blocks_and_negative_zero(name):
    x = torch.zeros(2, 64)
    x[1] = -0.0
    got = quantize(x, name)
    assert (got == 0).all()
    assert_bit_exact(got, reference.quantize(x, name), name)


@pytest.mark.parametrize("name", ["mxfp4", "nvfp4", "mxint8", "uint4_g32_zp", "int8_channel"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((3, 50), -1), ((50, 3), 0), ((2, 5, 7, 33), 1), ((17,), 0), ((), 0)]
)
def test_ragged_shapes_and_axes(name, shape, axis):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * 10
    got = quantize(x, name, axis=axis)
    assert got.shape == x.shape
    assert_bit_exact(got, reference.quantize(x, name, axis=axis), f"{name} {shape} axis {axis}")


def test_axis_selects_the_block_direction():
    x = torch.randn(64, 48)
    assert_bit_exact(quantize(x, "mxfp4", axis=0), quantize(x.T.contiguous(), "mxfp4", axis=1).T.contiguous())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_input_dtypes(dtype):
    x = (torch.randn(8, 64) * 100).to(dtype)
    for name in ("mxfp4", "nvfp4", "mxfp8_e5m2"):
        got = quantize(x, name)
        assert got.dtype == dtype
        assert_bit_exact(got, reference.quantize(x, name), f"{name} {dtype}")


def test_nvfp4_two_level_scale_by_hand():
    # amax 2688 = 6 * 448 -> tensor scale 1; block amax 12 -> block scale e4m3(2) = 2; 5/2 = 2.5 -> 2
    x = torch.zeros(32)
    x[0], x[1], x[16], x[17] = 2688.0, 1000.0, 12.0, 5.0
    got = quantize(x, "nvfp4")
    assert got[16].item() == 12.0 and got[17].item() == 4.0
    assert got[0].item() == 2688.0 and got[1].item() == 896.0


def test_stochastic_rounding_is_seeded_and_unbiased():
    x = torch.full((200, 32), 1.3)
    x[:, 0] = 6.0  # fixes the scale at 1: 1.3 lies between 1 and 1.5
    a = quantize(x, "mxfp4", rounding="stochastic", seed=1)
    assert torch.equal(a, quantize(x, "mxfp4", rounding="stochastic", seed=1))
    assert not torch.equal(a, quantize(x, "mxfp4", rounding="stochastic", seed=2))
    values = a[:, 1:]
    assert set(values.unique().tolist()) == {1.0, 1.5}
    assert math.isclose(values.mean().item(), 1.3, abs_tol=0.01)
