"""Bad input gets clear errors from the public API, not tracebacks from deep inside."""

import pytest
import torch

from tessera import encode, quantize


def test_integer_tensors_are_refused():
    with pytest.raises(TypeError, match="floating tensors"):
        quantize(torch.arange(4), "mxfp4")


def test_non_tensors_are_refused():
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        quantize([1.0, 2.0], "e4m3")


@pytest.mark.parametrize("axis", [2, -3, 1.0])
def test_axis_out_of_range(axis):
    with pytest.raises(ValueError, match="out of range for a tensor of shape"):
        quantize(torch.randn(4, 4), "mxfp4", axis=axis)


def test_unknown_rounding_lists_the_modes():
    with pytest.raises(ValueError, match="nearest_even, nearest_away, toward_zero, stochastic"):
        quantize(torch.randn(4), "e4m3", rounding="nearest")


def test_unknown_format_in_quantize_and_encode():
    for fn in (quantize, encode):
        with pytest.raises(ValueError, match=r"unknown format .fp5.*mxfp4"):
            fn(torch.randn(4), "fp5")


def test_format_must_be_a_name_or_format():
    with pytest.raises(TypeError, match="a format is a Format or its name"):
        quantize(torch.randn(4), 4)


def test_threshold_formats_take_no_rounding_mode():
    with pytest.raises(ValueError, match="threshold format"):
        quantize(torch.randn(4), "ternary", rounding="stochastic")


def test_bad_block_format_names():
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        quantize(torch.randn(4), "e2m1:e8m0:0")
    with pytest.raises(ValueError, match="cannot hold a range of scales"):
        quantize(torch.randn(4), "e2m1:int8:32")
