"""Format properties against the OCP MX v1.0 tables, names, and invalid definitions."""

import math

import pytest

from tessera.formats import BlockFormat, FloatFormat, IntFormat, format_names, get_format

# (name, max normal, min normal, min subnormal, has inf, has nan, emax) from OCP MX v1.0 / OFP8
SPEC_TABLE = [
    ("e4m3", 448.0, 2**-6, 2**-9, False, True, 8),
    ("e5m2", 57344.0, 2**-14, 2**-16, True, True, 15),
    ("e3m2", 28.0, 2**-2, 2**-4, False, False, 4),
    ("e2m3", 7.5, 1.0, 2**-3, False, False, 2),
    ("e2m1", 6.0, 1.0, 2**-1, False, False, 2),
    ("e4m3fnuz", 240.0, 2**-7, 2**-10, False, True, 7),
    ("e5m2fnuz", 57344.0, 2**-15, 2**-17, False, True, 15),
    ("fp16", 65504.0, 2**-14, 2**-24, True, True, 15),
    ("bf16", 3.3895313892515355e38, 2**-126, 2**-133, True, True, 127),
]


@pytest.mark.parametrize(("name", "max_normal", "min_normal", "min_sub", "inf", "nan", "emax"), SPEC_TABLE)
def test_float_properties_match_the_spec(name, max_normal, min_normal, min_sub, inf, nan, emax):
    fmt = get_format(name)
    assert (fmt.max_normal, fmt.min_normal, fmt.min_subnormal) == (max_normal, min_normal, min_sub)
    assert (fmt.has_inf, fmt.has_nan, fmt.emax) == (inf, nan, emax)


@pytest.mark.parametrize("name", [row[0] for row in SPEC_TABLE if row[0] not in ("bf16",)])
def test_formula_limits_agree_with_the_enumerated_grid(name):
    fmt = get_format(name)
    positives = [v for v in fmt.grid if v > 0]
    assert fmt.max_normal == positives[-1] and fmt.min_subnormal == positives[0]


def test_mxint8_element_and_e8m0_scale():
    mxint8 = get_format("mxint8")
    assert mxint8.element.max_normal == 127 / 64 and mxint8.element.emax == 0
    e8m0 = get_format("e8m0")
    assert (e8m0.max_normal, e8m0.min_subnormal, e8m0.bits) == (2.0**127, 2.0**-127, 8)
    assert math.isnan(e8m0.decode_code(0xFF))


def test_block_presets():
    assert get_format("mxfp4").bits_per_element == 4.25
    assert get_format("mxfp6_e2m3").bits_per_element == 6.25
    nvfp4 = get_format("nvfp4")
    assert (nvfp4.element.name, nvfp4.scale.name, nvfp4.block_size, nvfp4.tensor_scale) == (
        "e2m1",
        "e4m3",
        16,
        True,
    )
    bfp16 = get_format("bfp16")
    assert (bfp16.block_size, bfp16.scale.name) == (8, "e8m0")
    for name in ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8"]:
        fmt = get_format(name)
        assert (fmt.block_size, fmt.scale.name, fmt.scale_mode) == (32, "e8m0", "floor")


def test_names_are_interned_and_case_insensitive():
    assert get_format("MXFP4") is get_format("mxfp4")
    assert get_format("e4m3fn") is get_format("e4m3")
    assert get_format("e3m4") is get_format("e3m4")


def test_generic_names_parse():
    assert get_format("e3m4") == FloatFormat(3, 4, "finite")
    assert get_format("e4m3_ieee").max_normal == 240.0
    assert get_format("e5m2_finite").max_normal == 114688.0
    assert get_format("int6") == IntFormat(6)
    assert get_format("uint3").qmax == 7 and get_format("int4_full").qmin == -8
    custom = get_format("e2m1:e4m3:16:floor")
    assert custom == BlockFormat(get_format("e2m1"), get_format("e4m3"), 16, scale_mode="floor")
    assert get_format("int8:fp32:axis").block_size is None


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown format 'mxfp5'") as info:
        get_format("mxfp5")
    for name in ["mxfp4", "nvfp4", "e4m3", "int8"]:
        assert name in str(info.value)
    assert set(format_names()) >= {"mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxint8", "bfp16"}


@pytest.mark.parametrize("block_size", [0, -4, 2.5])
def test_block_size_must_be_positive(block_size):
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        BlockFormat(get_format("e2m1"), get_format("e8m0"), block_size)


def test_scale_format_must_hold_a_range():
    with pytest.raises(ValueError, match="cannot hold a range of scales"):
        BlockFormat(get_format("e2m1"), get_format("int8"), 32)


def test_unknown_scale_mode_lists_valid_modes():
    with pytest.raises(ValueError, match="floor, ceil, rceil, even"):
        BlockFormat(get_format("e2m1"), get_format("e8m0"), 32, scale_mode="round")


def test_invalid_scalar_definitions():
    with pytest.raises(ValueError, match="2 to 16 bits"):
        IntFormat(17)
    with pytest.raises(ValueError, match="special must be one of"):
        FloatFormat(4, 3, "saturating")
    with pytest.raises(ValueError, match="ebits"):
        FloatFormat(9, 3)
