"""Workloads as YAML and JSON: round trips, and strict reading that names the key and line."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tessera.workload import (
    Workload,
    capture,
    from_json,
    from_yaml,
    load_workload,
    save_workload,
    to_json,
    to_yaml,
)
from tessera.zoo.resnet import CifarResNet


class TinyTransformer(nn.Module):
    """Embedding, attention with a residual, a norm: every field of an op gets used."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.qkv = nn.Linear(16, 48)
        self.out = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)

    def forward(self, ids):
        x = self.embed(ids)
        q, k, v = self.qkv(x).view(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
        mixed = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.norm(x + self.out(mixed.transpose(1, 2).reshape(2, 5, 16)))


@pytest.fixture(scope="module")
def workloads():
    torch.manual_seed(0)
    resnet = capture(CifarResNet(8).eval(), torch.randn(1, 3, 32, 32), name="resnet8")
    transformer = capture(TinyTransformer(), torch.randint(0, 50, (2, 5)), name="tiny")
    return {"resnet8": resnet, "tiny": transformer}


@pytest.mark.parametrize("name", ["resnet8", "tiny"])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip_keeps_every_field(workloads, name, suffix, tmp_path):
    workload = workloads[name]
    path = tmp_path / f"{name}{suffix}"
    save_workload(workload, path)
    back = load_workload(path)
    assert back == workload
    assert back.to_rows() == workload.to_rows()
    assert [op.conv_shape for op in back] == [op.conv_shape for op in workload]


def test_the_yaml_reads_as_documented(workloads):
    text = to_yaml(workloads["tiny"])
    assert text.startswith("schema_version: 1\nname: tiny\ninputs:\n- [2, 5]\nops:\n")
    assert "  gemm: {m: 5, n: 5, k: 8, count: 4}\n" in text  # attention q kᵀ per head and example
    assert "  producers: [embed, out]\n" in text  # the residual add
    assert from_yaml(text) == workloads["tiny"]
    assert from_json(to_json(workloads["tiny"])) == workloads["tiny"]


def test_embedding_indices_have_no_number_format(workloads):
    embed = workloads["tiny"].op("embed")
    assert embed.formats.input is None and embed.formats.output == "fp32"
    assert embed.kind == "embedding" and embed.params[0].shape == (50, 16)


def yaml_with(workloads, old: str, new: str) -> str:
    text = to_yaml(workloads["resnet8"])
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("name: resnet8\n", "name: resnet8\nname: again\n", r"line 3: duplicate key 'name'"),
        (
            "  kind: conv2d\n",
            "  kind: conv2d\n  kinds: conv2d\n",
            r"ops\[0\] \(line 6\): unknown key 'kinds'",
        ),
        ("  kind: conv2d\n", "", r"ops\[0\] \(line 6\): missing key 'kind'"),
        ("  kind: conv2d\n", "  kind: convolution\n", r"ops\[0\] \(line 6\): .*unknown kind 'convolution'"),
        ("schema_version: 1", "schema_version: 7", r"schema_version 7 is not supported"),
        (
            "  - [1, 3, 32, 32]\n",
            "  - [1, 0, 32, 32]\n",
            r"ops\[0\] \(line 6\), field 'inputs'\[0\].*positive",
        ),
        ("  - [1, 3, 32, 32]\n", "  - 1x3x32x32\n", r"field 'inputs'\[0\] must be a list of sizes"),
        ("input: fp32", "input: fp33", r"field 'formats'.*unknown format 'fp33'"),
        ("m: 1024", "m: -1024", r"field 'gemm'.*GemmShape.m must be a positive integer"),
        ("m: 1024", "m: '1024'", r"field 'gemm'.*field 'm': expected an integer"),
        ("count: 1}", "count: 1, rows: 2}", r"field 'gemm'.*unknown key 'rows'"),
        ("  producers: [conv1]\n", "  producers: [layer9]\n", r"reads 'layer9', which is not an earlier op"),
        ("filters: 16", "filters: 17", r"differs from the convolution"),
        ("schema_version: 1\n", "schema_version: 1\n  bad: [\n", r"not valid YAML"),
    ],
    ids=[
        "duplicate",
        "unknown",
        "missing",
        "kind",
        "version",
        "zero-size",
        "shape-type",
        "format",
        "negative",
        "int-type",
        "nested-unknown",
        "producer",
        "inconsistent",
        "syntax",
    ],
)
def test_malformed_yaml_names_key_and_line(workloads, old, new, message):
    with pytest.raises(ValueError, match=message):
        from_yaml(yaml_with(workloads, old, new), "resnet8.yaml")


def test_malformed_json_names_the_key(workloads):
    text = to_json(workloads["resnet8"])
    with pytest.raises(ValueError, match=r"net\.json: duplicate key 'name'"):
        from_json(text.replace('"name": "resnet8"', '"name": "resnet8", "name": "x"', 1), "net.json")
    data = json.loads(text)
    data["ops"][2]["producer"] = ["bn1"]
    with pytest.raises(ValueError, match=r"net\.json: ops\[2\]: unknown key 'producer'"):
        from_json(json.dumps(data), "net.json")
    with pytest.raises(ValueError, match=r"net\.json: not valid JSON"):
        from_json(text[:-2], "net.json")
    with pytest.raises(ValueError, match=r"expected a mapping, got list"):
        Workload.from_dict([1, 2], "net.json")


def test_pooling_windows_are_recorded_and_round_trip():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, stride=2, padding=1), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)
    )
    workload = capture(model.eval(), torch.randn(1, 3, 17, 17), name="pools")
    windows = [op.window for op in workload if op.kind == "pool"]
    assert [(w.kernel_h, w.stride_h, w.pad_h) if w else None for w in windows] == [(3, 2, 1), (2, 2, 0), None]
    text = to_yaml(workload)
    assert "  window: {kernel_h: 3, kernel_w: 3, stride_h: 2, stride_w: 2, pad_h: 1, pad_w: 1}\n" in text
    assert from_yaml(text) == workload
    with pytest.raises(ValueError, match=r"field 'window'.*PoolWindow.pad_h must be an integer >= 0, got -1"):
        from_yaml(text.replace("pad_h: 1", "pad_h: -1", 1))
