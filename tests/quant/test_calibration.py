"""The calibration runner against plain full forward passes: same inputs at every step while the
model is quantized layer by layer, execution order, siblings grouped, tricky blocks."""

import pytest
import torch
from torch import nn

from tessera.quant.calibration import CalibrationRunner, run_model
from tessera.quant.layers import QuantizedLayer, layer_kind
from tessera.zoo import get_model


def full_pass_input(model, layer, batches):
    """What ``layer`` receives on each batch, from a complete forward pass (no replay)."""
    seen = []
    handle = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        with torch.no_grad():
            for batch in batches:
                run_model(model, batch)
    finally:
        handle.remove()
    return seen[:: len(seen) // len(batches)]


def quantize_step_by_step(model, batches):
    """Drive the runner like quantize_ does (MXFP4 RTN weights, MXFP8 inputs), checking every group
    against a full forward pass; returns the groups' names."""
    runner = CalibrationRunner(model, batches)
    pending = {m: name for name, m in model.named_modules() if layer_kind(m)}
    groups = []
    while pending:
        group = runner.first_reached(pending)
        leader = model.get_submodule(group.names[0])
        expected = full_pass_input(model, leader, batches)
        assert len(group.inputs) == len(expected) == len(batches)
        for got, want in zip(group.inputs, expected):
            assert torch.equal(got, want), f"inputs of {group.names[0]} differ from a full pass"
        for name in group.names:
            module = model.get_submodule(name)
            weight = module.weight.detach().round(decimals=1)
            parent, _, child = name.rpartition(".")
            quantized = QuantizedLayer(module, name, weight, None, "mxfp8_e4m3")
            setattr(model.get_submodule(parent) if parent else model, child, quantized)
            del pending[module]
        groups.append(group.names)
    return groups


@pytest.mark.data
def test_llama_groups_siblings_in_execution_order(data_dir):
    spec = get_model("stories260k")
    model = spec.build(data_dir)
    batches = [tokens[:, :64] for tokens in spec.calibration(data_dir, 2, 1)]
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    groups = quantize_step_by_step(model, batches)
    full_passes_by_runner = len(calls) - len(groups) * len(batches)
    assert full_passes_by_runner == (5 + 1) * len(batches)  # one per block entered, one for the head
    assert groups[:4] == [
        ["layers.0.attention.wq", "layers.0.attention.wk", "layers.0.attention.wv"],
        ["layers.0.attention.wo"],
        ["layers.0.feed_forward.w1", "layers.0.feed_forward.w3"],
        ["layers.0.feed_forward.w2"],
    ]
    assert len(groups) == 5 * 4 + 1


@pytest.mark.data
def test_resnet_blocks_are_replayed_exactly(data_dir):
    spec = get_model("resnet20")
    model = spec.build(data_dir)
    batches = [images[:4] for images in spec.calibration(data_dir, 8, 4)]
    groups = quantize_step_by_step(model, batches)
    assert [len(g) for g in groups] == [1] * 20


class WritesIntoInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.after = nn.Linear(4, 4)

    def forward(self, x):
        x += 1.0  # in place, on the block's own input
        return self.after(torch.relu(self.linear(x)))


class SharedBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([WritesIntoInput(), WritesIntoInput()])
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.blocks[0](x.clone())
        x = self.blocks[1](self.blocks[0](x))  # block 0 runs twice
        return self.head(x)


def test_blocks_that_write_into_their_input_or_run_twice():
    torch.manual_seed(0)
    model = SharedBlock()
    batches = [torch.randn(3, 4), torch.randn(5, 4)]
    groups = quantize_step_by_step(model, batches)
    assert [g[0] for g in groups] == [
        "blocks.0.linear",
        "blocks.0.after",
        "blocks.1.linear",
        "blocks.1.after",
        "head",
    ]


def test_a_layer_no_forward_reaches_is_named():
    model = nn.Sequential(nn.Linear(4, 4))
    unused = nn.Linear(4, 4)
    runner = CalibrationRunner(model, [torch.randn(2, 4)])
    with pytest.raises(RuntimeError, match="no forward pass reaches lonely"):
        runner.first_reached({unused: "lonely"})
