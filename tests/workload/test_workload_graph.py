"""The workload graph's own rules: validation, edges, totals and rows."""

import pytest

from tessera.workload import ConvShape, GemmShape, Op, OpFormats, Param, Workload

FP32 = OpFormats("fp32", "fp32")


def gemm_op(name, producers=(), weight="fc.weight", fmt="fp32", m=4, n=8, k=16):
    return Op(
        name,
        "gemm",
        inputs=((m, k),),
        outputs=((m, n),),
        formats=FP32,
        producers=producers,
        params=(Param(weight, (n, k), fmt),),
        gemm_shape=GemmShape(m, n, k),
    )


def add_op(name, producers):
    return Op(
        name, "elementwise", inputs=((4, 8), (4, 8)), outputs=((4, 8),), formats=FP32, producers=producers
    )


@pytest.fixture
def diamond():
    """a -> b, a -> c, (b, c) -> d: a skip connection around b."""
    return Workload(
        "diamond",
        (
            gemm_op("a"),
            gemm_op("b", ("a",), weight="b.weight", fmt="mxfp4", k=8),
            add_op("c", ("a",)),
            add_op("d", ("b", "c")),
        ),
        inputs=((4, 16),),
    )


def test_edges_in_both_directions(diamond):
    assert [op.name for op in diamond.consumers("a")] == ["b", "c"]
    assert [op.name for op in diamond.producers("d")] == ["b", "c"]
    assert diamond.consumers("d") == ()
    with pytest.raises(KeyError, match="no op 'e'"):
        diamond.consumers("e")


def test_totals_add_across_ops(diamond):
    assert diamond.macs == 4 * 8 * 16 + 4 * 8 * 8
    # a's weight in fp32; b's in MXFP4: 4-bit elements and one 8-bit scale per 32 elements
    assert diamond.param_bytes == 8 * 16 * 4 + 8 * 8 * (4 + 8 / 32) / 8
    assert [op.name for op in diamond.systolic_ops()] == ["a", "b"]
    assert len(diamond) == 4 and [op.name for op in diamond] == ["a", "b", "c", "d"]


def test_layers_are_the_shapes_hardware_models_take(diamond):
    conv = Op(
        "conv",
        "conv2d",
        inputs=((1, 16, 4, 4),),
        outputs=((1, 8, 4, 4),),
        formats=FP32,
        gemm_shape=GemmShape(16, 8, 16),
        conv_shape=ConvShape(4, 4, 1, 1, 16, 8),
    )
    workload = Workload("w", (*diamond.ops, conv))
    assert workload.layers() == (GemmShape(4, 8, 16), GemmShape(4, 8, 8), ConvShape(4, 4, 1, 1, 16, 8))
    assert sum(layer.macs for layer in workload.layers()) == workload.macs


def test_a_weight_shared_by_two_ops_counts_once():
    shared = Workload("shared", (gemm_op("a"), gemm_op("b", ("a",), m=4, k=16)))
    assert shared.param_bytes == 8 * 16 * 4


def test_rows_for_tables(diamond):
    rows = diamond.to_rows()
    assert rows[1] == {
        "name": "b",
        "kind": "gemm",
        "input": "4x8",
        "output": "4x8",
        "input_format": "fp32",
        "weight_format": "mxfp4",
        "output_format": "fp32",
        "m": 4,
        "n": 8,
        "k": 8,
        "count": 1,
        "macs": 256,
        "param_bytes": 34.0,
        "producers": "a",
    }
    assert rows[3]["m"] is None and rows[3]["producers"] == "b,c" and rows[3]["input"] == "4x8 4x8"


def test_gemm_is_only_for_systolic_ops(diamond):
    assert diamond.op("b").gemm() == GemmShape(4, 8, 8)
    with pytest.raises(ValueError, match="op 'c' \\(elementwise\\) is not a GEMM"):
        diamond.op("c").gemm()
    with pytest.raises(ValueError, match="not a convolution"):
        diamond.op("b").conv()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "conv3d"}, "unknown kind 'conv3d'"),
        ({"gemm_shape": None}, "a gemm op needs a gemm_shape"),
        ({"inputs": ((4, 0),)}, r"op 'x' inputs\[0\] must hold positive integer sizes, got \[4, 0\]"),
        ({"outputs": ((4, -8),)}, r"outputs\[0\] must hold positive integer sizes"),
        ({"producers": ("a", "a")}, "producers repeat a name"),
        ({"conv_shape": ConvShape(4, 4, 1, 1, 16, 8)}, "a gemm op has no conv_shape"),
        ({"name": ""}, "Op.name must be a non-empty string"),
    ],
)
def test_invalid_ops_are_refused_naming_the_field(change, message):
    fields = {
        "name": "x",
        "kind": "gemm",
        "inputs": ((4, 16),),
        "outputs": ((4, 8),),
        "formats": FP32,
        "gemm_shape": GemmShape(4, 8, 16),
    }
    with pytest.raises(ValueError, match=message):
        Op(**{**fields, **change})


def test_workloads_keep_names_unique_and_order_topological():
    with pytest.raises(ValueError, match="two ops are named 'a'"):
        Workload("w", (gemm_op("a"), gemm_op("a")))
    with pytest.raises(ValueError, match="op 'a' reads 'b', which is not an earlier op"):
        Workload("w", (gemm_op("a", ("b",)), gemm_op("b")))
    with pytest.raises(ValueError, match=r"Param 'w' shape must hold positive integer sizes"):
        Param("w", (3, 0), "fp32")
    with pytest.raises(ValueError, match=r"OpFormats\.input: unknown format 'fp31'"):
        OpFormats("fp31", "fp32")
    with pytest.raises(ValueError, match="unknown kind 'conv'"):
        Workload("w", ()).of_kind("conv")
