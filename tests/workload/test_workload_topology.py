"""SCALE-Sim topology files: reading, writing, round trips and errors that name line and column.

``data/convs.csv`` holds the first convolutions of ResNet-18 on a 224x224 image (inputs padded,
as SCALE-Sim wants them) and a depthwise layer; ``data/transformer_gemms.csv`` a few GEMMs.
"""

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from tessera.workload import (
    ConvShape,
    GemmShape,
    capture,
    format_conv_topology,
    format_gemm_topology,
    parse_conv_topology,
    parse_gemm_topology,
    read_conv_topology,
    read_gemm_topology,
    write_conv_topology,
    write_gemm_topology,
)

DATA = Path(__file__).parent / "data"
CONV_HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
)


def test_reads_a_convolution_topology():
    workload = read_conv_topology(DATA / "convs.csv")
    assert workload.name == "convs"
    assert [op.name for op in workload][:3] == ["Conv1", "Conv2_1a", "Conv2_1b"]
    conv1 = workload.op("Conv1")
    assert conv1.conv() == ConvShape(230, 230, 7, 7, 3, 64, 2, 2)
    assert conv1.gemm() == GemmShape(m=112 * 112, n=64, k=7 * 7 * 3)
    assert conv1.outputs == ((1, 64, 112, 112),)
    assert workload.op("Conv3_1a").gemm() == GemmShape(m=28 * 28, n=128, k=9 * 64)
    assert workload.op("Conv3_down").gemm() == GemmShape(m=28 * 28, n=128, k=64)
    assert all(op.kind == "conv2d" and not op.producers for op in workload)
    assert all(op.formats.input == "fp32" for op in workload)


def test_a_dp_layer_is_depthwise_as_scalesim_reads_it():
    dw = read_conv_topology(DATA / "convs.csv").op("Conv3_dw_DP")
    assert dw.conv() == ConvShape(30, 30, 3, 3, 128, 128, groups=128)
    assert dw.gemm() == GemmShape(m=28 * 28, n=1, k=9, count=128)  # one 1-channel layer per channel


def test_reads_a_gemm_topology_in_the_chosen_format():
    workload = read_gemm_topology(DATA / "transformer_gemms.csv", fmt="mxfp8_e4m3")
    assert [op.gemm() for op in workload] == [
        GemmShape(128, 384, 384),
        GemmShape(128, 128, 32),
        GemmShape(128, 32, 128),
        GemmShape(128, 1536, 384),
    ]
    assert workload.op("scores").params[0].shape == (128, 32)  # the K x N operand, stored N x K
    assert workload.op("scores").formats.input == "mxfp8_e4m3"


@pytest.mark.parametrize(
    "text",
    [
        # SCALE-Sim's own quirks: byte-order mark, CRLF, spaces, blank lines, missing trailing comma,
        # a trailing comment, a v2 stride-width column, a v3 dense sparsity column, a batch column
        "\ufeff" + CONV_HEADER + "\r\n\r\nc1, 10, 10, 3, 3, 4, 8, 1,\r\nc2,10,10,3,3,4,8,1\r\n",
        CONV_HEADER + "\nc1, 10, 10, 3, 3, 4, 8, 1,#first\n,,,,,\nc2, 10, 10, 3, 3, 4, 8, 1,\n",
        CONV_HEADER + " Stride Width,\nc1, 10, 10, 3, 3, 4, 8, 1, 1,\nc2, 10, 10, 3, 3, 4, 8, 1,\n",
        CONV_HEADER + " Sparsity,\nc1, 10, 10, 3, 3, 4, 8, 1, 1:1,\nc2, 10, 10, 3, 3, 4, 8, 1,\n",
        CONV_HEADER + " Batch Size,\nc1, 10, 10, 3, 3, 4, 8, 1, 1,\nc2, 10, 10, 3, 3, 4, 8, 1,\n",
    ],
    ids=["bom-crlf", "comment-blank", "stride-width", "sparsity", "batch"],
)
def test_accepts_the_variants_scalesim_ships(text):
    workload = parse_conv_topology(text)
    assert [op.conv() for op in workload] == [ConvShape(10, 10, 3, 3, 4, 8)] * 2


def test_repeated_layer_names_are_numbered():
    text = "Layer, M, N, K,\ng, 2, 3, 4,\ng, 5, 6, 7,\n"
    assert [op.name for op in parse_gemm_topology(text)] == ["g", "g#2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("Layer, M, N, K,\ng, 1, 2, 3,\n", r"line 1: column 2 should be 'IFMAP Height', got 'M'"),
        (CONV_HEADER + " Eh,\n", r"line 1: unexpected column 'Eh' after 'Strides'"),
        (
            CONV_HEADER + "\nc, 10, 10, 3, 3, 0, 8, 1,\n",
            r"line 2, column 'Channels': expected a positive integer, got '0'",
        ),
        (CONV_HEADER + "\nc, 10, -4, 3, 3, 4, 8, 1,\n", r"line 2, column 'IFMAP Width': .* got '-4'"),
        (CONV_HEADER + "\nc, 10, B, 3, 3, 4, 8, 1,\n", r"line 2, column 'IFMAP Width': .* got 'B'"),
        (CONV_HEADER + "\nc, 10, 10, 3, 3,\n", r"line 2, column 'Channels': missing"),
        (CONV_HEADER + "\n\nc, 10, 10, 3, 3, 4, 8, 1, 2,\n", r"line 3: 9 fields, the header has 8 columns"),
        (CONV_HEADER + "\n, 10, 10, 3, 3, 4, 8, 1,\n", r"line 2, column 'Layer name': empty layer name"),
        (CONV_HEADER + "\nc, 2, 10, 3, 3, 4, 8, 1,\n", r"line 2: ConvShape filter 3x3 is larger"),
        (
            CONV_HEADER + " Sparsity,\nc, 10, 10, 3, 3, 4, 8, 1, 2:4,\n",
            r"line 2, column 'Sparsity': 2:4 sparsity",
        ),
        (CONV_HEADER + " Sparsity,\nc, 10, 10, 3, 3, 4, 8, 1, half,\n", r"column 'Sparsity': expected N:M"),
    ],
    ids=[
        "empty",
        "gemm-header",
        "unknown-column",
        "zero",
        "negative",
        "letters",
        "short-row",
        "long-row",
        "no-name",
        "filter-too-large",
        "sparse",
        "bad-ratio",
    ],
)
def test_malformed_convolution_topologies_name_line_and_column(text, message):
    with pytest.raises(ValueError, match=message):
        parse_conv_topology(text, "net.csv")


def test_malformed_gemm_topology_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Layer, M, N, K,\ng, 1, 2, 3,\nh, 4, x, 6,\n")
    with pytest.raises(
        ValueError, match=r"bad\.csv: line 3, column 'N': expected a positive integer, got 'x'"
    ):
        read_gemm_topology(path)


class Small(nn.Module):
    """A plain, a depthwise and a grouped convolution, then a linear layer."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.grouped = nn.Conv2d(8, 4, 1, groups=2)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(self.grouped(self.dw(self.stem(x))).flatten(1))


@pytest.fixture(scope="module")
def small():
    return capture(Small(), torch.randn(1, 3, 16, 16))


def test_convolution_topology_round_trip(small, tmp_path):
    path = tmp_path / "small.csv"
    write_conv_topology(small, path)
    lines = path.read_text().splitlines()
    assert lines[0] == CONV_HEADER
    assert lines[1] == "stem,18,18,3,3,3,8,2,"
    assert lines[2] == "dw_DP,10,10,3,3,8,1,1,"  # depthwise: SCALE-Sim's DP convention
    assert lines[3:5] == ["grouped[0],8,8,1,1,4,2,1,", "grouped[1],8,8,1,1,4,2,1,"]  # one row per group
    assert lines[5] == "fc,1,1,1,1,256,10,1,"  # a GEMM as a 1x1 convolution over M pixels
    back = read_conv_topology(path)
    assert back.op("stem").conv() == small.op("stem").conv()
    assert back.op("dw_DP").conv() == small.op("dw").conv()
    assert back.op("fc").gemm() == small.op("fc").gemm()
    assert back.macs == small.macs


def test_gemm_topology_round_trip_repeats_grouped_products(small, tmp_path):
    path = tmp_path / "small_gemm.csv"
    write_gemm_topology(small, path)
    back = read_gemm_topology(path)
    assert [op.name for op in back] == [
        "stem",
        *(f"dw[{i}]" for i in range(8)),
        "grouped[0]",
        "grouped[1]",
        "fc",
    ]
    assert back.op("stem").gemm() == small.op("stem").gemm()
    assert back.op("dw[3]").gemm() == GemmShape(m=64, n=1, k=9)
    assert back.macs == small.macs
    assert format_gemm_topology(back) == path.read_text()


def test_reading_and_writing_again_gives_the_same_text():
    text = (DATA / "convs.csv").read_text()
    once = format_conv_topology(parse_conv_topology(text))
    assert format_conv_topology(parse_conv_topology(once)) == once
    assert once.splitlines()[1] == "Conv1,230,230,7,7,3,64,2,"
    assert once.splitlines()[-1] == "Conv3_dw_DP,30,30,3,3,128,1,1,"


@pytest.mark.parametrize(
    ("model", "shape", "message"),
    [
        (nn.Conv2d(2, 2, 3), (2, 2, 8, 8), "batch 2; a SCALE-Sim convolution topology holds one image"),
        (nn.Conv2d(2, 2, 3, stride=(1, 2)), (1, 2, 8, 8), "strides 1x2; SCALE-Sim has one stride"),
        (nn.Conv2d(2, 2, 3, dilation=2), (1, 2, 8, 8), "SCALE-Sim has no dilated convolutions"),
    ],
    ids=["batch", "strides", "dilation"],
)
def test_ops_a_convolution_topology_cannot_hold_are_refused(model, shape, message):
    workload = capture(model, torch.randn(shape))
    with pytest.raises(ValueError, match=message):
        format_conv_topology(workload)
    assert format_gemm_topology(workload).count("\n") == 2  # the GEMM form holds them


def test_names_scalesim_would_misread_are_refused():
    dp = capture(nn.Sequential(OrderedDict(convDP=nn.Conv2d(2, 2, 3))), torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="op 'convDP': SCALE-Sim reads a name containing 'DP' as depthwise"):
        format_conv_topology(dp)
    comma = capture(nn.Sequential(OrderedDict([("a,b", nn.Linear(2, 2))])), torch.randn(1, 2))
    with pytest.raises(ValueError, match="cannot hold a comma"):
        format_gemm_topology(comma)
