"""Real encodings: exact round trips, theoretical sizes, bit layout."""

import pytest
import torch
from tests.tolerances import assert_bit_exact

from tessera import decode, encode, format_names, get_format, quantize
from tessera.formats.packing import pack, unpack

SCALAR = [
    "e4m3",
    "e5m2",
    "e3m2",
    "e2m3",
    "e2m1",
    "e4m3fnuz",
    "bf16",
    "fp16",
    "fp32",
    "int8",
    "int4",
    "uint8",
    "binary",
    "ternary",
    "int11",
]


ELEMENT_AND_BLOCK_FORMATS = [n for n in format_names() if n != "e8m0"]


@pytest.mark.parametrize(
    "name", [*ELEMENT_AND_BLOCK_FORMATS, "e2m1:e4m3:16:ceil", "int5:fp16:24", "e3m4:e8m0:32"]
)
@pytest.mark.parametrize(("shape", "axis"), [((16, 96), -1), ((5, 7, 33), 1), ((31,), 0)])
def test_decode_of_encode_equals_quantize(name, shape, axis):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 4
    if get_format(name).has_nan:
        x.view(-1)[5] = float("nan")
    enc = encode(x, name, axis=axis)
    assert_bit_exact(decode(enc), quantize(x, name, axis=axis), name)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_round_trip_keeps_dtype(dtype):
    x = torch.randn(4, 64).to(dtype)
    for name in ("mxfp4", "nvfp4", "e4m3"):
        assert_bit_exact(decode(encode(x, name)), quantize(x, name), f"{name} {dtype}")


@pytest.mark.parametrize(
    ("name", "bytes_per_n"),
    [
        ("mxfp4", lambda n: n // 2 + n // 32),
        ("mxfp6_e2m3", lambda n: 3 * n // 4 + n // 32),
        ("mxfp8_e4m3", lambda n: n + n // 32),
        ("mxint8", lambda n: n + n // 32),
        ("nvfp4", lambda n: n // 2 + n // 16 + 4),
        ("bfp16", lambda n: n + n // 8),
        ("e2m1", lambda n: n // 2),
        ("uint4_g32_zp", lambda n: n // 2 + 2 * n // 32 + n // 64),
    ],
)
def test_encoded_size_is_the_theoretical_size(name, bytes_per_n):
    x = torch.randn(64, 128)
    assert encode(x, name).nbytes == bytes_per_n(x.numel())


def test_ragged_size_counts_partial_blocks():
    # 3 rows of 50: two blocks of 32 per row (the second partial), 150 fp4 codes
    assert encode(torch.randn(3, 50), "mxfp4").nbytes == 75 + 6


def test_fp4_nibbles_and_fp6_bytes_layout():
    assert pack(torch.tensor([0x1, 0x2, 0xF]), 4).tolist() == [0x21, 0x0F]
    codes = torch.tensor([0b000001, 0b000010, 0b000011, 0b111111])
    assert pack(codes, 6).tolist() == [0b10_000001, 0b0011_0000, 0b111111_00]
    enc = encode(torch.tensor([0.5, 6.0, -0.5]), "e2m1")
    assert enc.elements.tolist() == [0x71, 0x09] and enc.nbytes == 2


@pytest.mark.parametrize("width", [*range(1, 17), 24, 32])
@pytest.mark.parametrize("count", [1, 7, 8, 9, 1000])
def test_pack_round_trip(width, count):
    codes = torch.randint(0, 2**width, (count,), generator=torch.Generator().manual_seed(width))
    packed = pack(codes, width)
    assert packed.dtype == torch.uint8 and packed.numel() == (count * width + 7) // 8
    assert torch.equal(unpack(packed, width, count), codes)


@pytest.mark.parametrize("name", ["int8", "e2m1", "e3m2", "uint4", "binary"])
def test_nan_cannot_be_encoded_where_there_is_no_nan_code(name):
    with pytest.raises(ValueError, match="has no NaN encoding"):
        encode(torch.tensor([1.0, float("nan")]), name)


def test_nan_blocks_encode_as_nan_scale():
    x = torch.randn(64)
    x[3] = float("nan")
    enc = encode(x, "mxfp4")
    assert enc.scales.tolist()[0] == 0xFF and enc.scales.tolist()[1] != 0xFF
    assert decode(enc)[:32].isnan().all()


def test_empty_and_zero_dim():
    assert encode(torch.empty(0, 32), "mxfp4").nbytes == 0
    assert decode(encode(torch.empty(0, 32), "mxfp4")).shape == (0, 32)
    scalar = torch.tensor(3.3)
    assert decode(encode(scalar, "mxfp4")).shape == () and quantize(scalar, "mxfp4").item() == 3.0
