"""Cross-layer scheduling: row dependencies against autograd, a hand-scheduled chain, the checker
catching every kind of violation, and the four schedules of real CNN shapes (each checked)."""

import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from tessera.cli import main
from tessera.hw.cim.latency import CIMArch
from tessera.hw.cim.rows import crossbar_rows
from tessera.hw.cim.schedule import (
    MODES,
    compare_schedules,
    minimum_tiles,
    plan_layers,
    plot_gantt,
    schedule,
)
from tessera.hw.cim.schedule_check import ScheduleError, check_schedule
from tessera.workload import Workload, capture
from tessera.workload.architectures import build_architecture
from tessera.zoo.resnet import CifarResNet


class Probe(nn.Module):
    """Every way rows flow in a CNN: padding, stride 2, max and average pooling with padding,
    an asymmetric pad before a stride-1 pooling, a ``::2`` shortcut added back, adaptive pooling
    and a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.c = nn.Conv2d(4, 4, 1)
        self.pool = nn.MaxPool2d(2)
        self.d = nn.Conv2d(4, 4, 3, padding=2)
        self.smooth = nn.AvgPool2d(3, stride=1, padding=1)
        self.e = nn.Conv2d(4, 4, (5, 3), padding=(2, 1))
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.tail = nn.MaxPool2d(2, stride=1)
        self.f = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a = torch.tanh(self.a(x))
        b = self.b(a) + a[:, :, ::2, ::2]
        c = self.c(b)
        d = self.d(self.pool(c))
        e = self.e(self.smooth(d))
        f = self.f(self.tail(self.pad(e)))
        return self.fc(nn.functional.adaptive_avg_pool2d(f, 1).flatten(1))


def _probe_rows(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[tuple[str, int], dict[str, set]]:
    """For every output row of every layer, the rows of every other layer's output with a nonzero
    gradient when each layer's output is a leaf: the rows it reads directly (not through another
    layer)."""
    outputs = {}

    def cut(name: str, output: torch.Tensor) -> torch.Tensor:
        outputs[name] = output.detach().requires_grad_()
        return outputs[name]

    hooks = [
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: cut(name, o)) for name in names
    ]
    model(x)
    for hook in hooks:
        hook.remove()
    found = {}
    for name in names:
        out = outputs[name]
        rows = out.shape[2] if out.dim() == 4 else 1
        for r in range(rows):
            target = out[:, :, r].sum() if out.dim() == 4 else out.sum()
            grads = torch.autograd.grad(
                target, [outputs[n] for n in names], allow_unused=True, retain_graph=True
            )
            found[(name, r)] = {
                n: {int(i) for i in grad.abs().sum(dim=(0, 1, 3)).nonzero()}
                for n, grad in zip(names, grads)
                if n != name and grad is not None and grad.dim() == 4 and grad.abs().sum() > 0
            }
    return found


def test_row_dependencies_cover_exactly_what_autograd_reads():
    torch.manual_seed(0)
    model, x = Probe().eval(), torch.randn(1, 2, 12, 12)
    workload = capture(model, x, name="probe")
    names = ["a", "b", "c", "d", "e", "f", "fc"]
    layers = frozenset(names)
    truth = _probe_rows(model, names, x)
    direct = {"b": {"a"}, "c": {"b", "a"}, "d": {"c"}, "e": {"d"}, "f": {"e"}, "fc": {"f"}}
    for (name, r), reads in truth.items():
        derived = crossbar_rows(workload, workload.op(name), (r, r), layers)
        assert set(derived) == direct.get(name, set())
        for producer, rows in reads.items():
            if producer not in derived:
                continue
            first, last = derived[producer]
            assert rows <= set(range(first, last + 1)), (name, r, producer)
            exact = name not in ("c", "d", "f")  # b+shortcut, max pools: argmax-only gradients
            if exact and name != "fc":
                assert set(range(first, last + 1)) == rows, (name, r, producer)
    # hand checks: the stride-2 layer's row 2 reads rows 3..5 of a (and row 4 through the shortcut);
    # the 5-row kernel's row 0 reads rows 0..3 through the 3-row average pooling (padding 1)
    assert crossbar_rows(workload, workload.op("b"), (2, 2), layers) == {"a": (3, 5)}
    assert crossbar_rows(workload, workload.op("e"), (0, 0), layers) == {"d": (0, 3)}


def _chain(rows: int) -> Workload:
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    return capture(model.eval(), torch.randn(1, 4, rows, 1), name="chain")


def test_a_two_layer_chain_by_hand():
    """Two 3x3 layers, 4 rows of one pixel, 1 crossbar each, 8 phases of 1.4 µs = T per row.
    Layer by layer: 8T. Cross-layer: row r of layer 2 waits for row r+1 of layer 1: starts at
    2T, 3T, 4T, 5T -> 6T."""
    workload, arch = _chain(4), CIMArch()
    period = 8 * 1.4
    serial = schedule(workload, arch, tiles=1, mode="layer-by-layer")
    overlapped = schedule(workload, arch, tiles=1, mode="cross-layer")
    assert serial.latency_us == pytest.approx(8 * period)
    assert overlapped.latency_us == pytest.approx(6 * period)
    starts = [slot.start_us / period for slot in overlapped.slots if slot.layer == 1]
    assert starts == pytest.approx([2, 3, 4, 5])
    for result in (serial, overlapped):
        check_schedule(result, workload)
    # 2 crossbars busy 8T in total, out of 8 crossbars for 6T
    assert overlapped.utilization == pytest.approx(8 / (8 * 6))
    assert overlapped.write_us == 2 * 56.0


def test_duplication_copies_the_slowest_layer_while_crossbars_remain():
    workload, arch = _chain(4), CIMArch(crossbars_per_tile=5)
    result = schedule(workload, arch, tiles=1, mode="cross-layer", duplicate=True)
    check_schedule(result, workload)
    assert [layer.copies for layer in result.layers] == [3, 2]  # 5 crossbars: ties go to the first layer
    assert result.crossbars == 5
    assert result.latency_us < schedule(workload, arch, tiles=1, mode="cross-layer").latency_us


@pytest.mark.parametrize(
    "break_it",
    [
        "early",
        "overlap",
        "missing",
        "short",
        "capacity",
    ],
)
def test_the_checker_catches_every_violation(break_it):
    workload = _chain(4)
    result = schedule(workload, CIMArch(), tiles=1, mode="cross-layer")
    slots = list(result.slots)
    layers = result.layers
    if break_it == "early":  # layer 2's row 0 starts before layer 1's row 1 ends
        slot = slots[4]
        slots[4] = dataclasses.replace(slot, start_us=slot.start_us - 1, end_us=slot.end_us - 1)
    elif break_it == "overlap":  # layer 1's rows 0 and 1 at once on the one copy
        slots[1] = dataclasses.replace(slots[1], start_us=0.0, end_us=slots[0].end_us)
    elif break_it == "missing":
        slots.pop()
    elif break_it == "short":
        slots[0] = dataclasses.replace(slots[0], end_us=slots[0].end_us / 2)
    else:
        layers = (dataclasses.replace(layers[0], copies=8, crossbars=1), layers[1])
    broken = dataclasses.replace(result, slots=tuple(slots), layers=layers)
    with pytest.raises(ScheduleError, match="invalid schedule"):
        check_schedule(broken, workload)


def _resnet(depth: int) -> Workload:
    return capture(CifarResNet(depth).eval(), torch.zeros(1, 3, 32, 32), name=f"resnet{depth}")


def _architecture(name: str) -> Workload:
    model, example = build_architecture(name)
    return capture(model, example, name=name)


@pytest.mark.parametrize(
    "workload",
    [_resnet(20), _resnet(56), _architecture("vgg11-cifar"), _architecture("tiny-yolo-v2")],
    ids=lambda w: w.name,
)
def test_every_schedule_of_real_cnns_is_valid_and_ordered(workload):
    arch = CIMArch()
    tiles = 2 * minimum_tiles(workload, arch)
    results = compare_schedules(workload, arch, tiles)
    assert [(r.mode, r.duplicate) for r, _ in results] == [(m, d) for d in (False, True) for m in MODES]
    for result, row in results:
        check_schedule(result, workload)
        assert result.crossbars <= result.capacity
        assert row["speedup"] >= 1 - 1e-12
    serial, cross, serial_dup, cross_dup = (r.latency_us for r, _ in results)
    busy = sum(layer.busy_us for layer in results[0][0].layers)
    assert serial == pytest.approx(busy)  # one layer at a time, no copies: the sum of the layers
    assert cross <= serial and cross_dup <= serial_dup <= serial
    assert results[3][1]["speedup"] > results[1][1]["speedup"]


def test_mixed_bits_change_footprints_and_times():
    workload = _architecture("vgg11-cifar")
    arch = CIMArch()
    names = [layer.name for layer in plan_layers(workload, arch)]
    low = {name: (4, 4) for name in names}
    full, narrow = plan_layers(workload, arch), plan_layers(workload, arch, low)
    assert all(a.vector_us == 2 * b.vector_us for a, b in zip(full, narrow))
    assert sum(b.crossbars for b in narrow) < sum(a.crossbars for a in full)


def test_bad_input_is_a_clear_error():
    workload, arch = _resnet(20), CIMArch()
    with pytest.raises(
        ValueError, match=r"needs 36 crossbars \(5 tiles of 8\).*4 tiles have 32: 4 crossbars missing"
    ):
        schedule(workload, arch, tiles=4)
    with pytest.raises(ValueError, match="unknown schedule mode 'fast'; valid: layer-by-layer, cross-layer"):
        schedule(workload, arch, tiles=5, mode="fast")
    with pytest.raises(ValueError, match=r"weight bits must be an integer in 1\.\.16, got 0"):
        schedule(workload, arch, tiles=5, bits={"conv1": (0, 8)})
    with pytest.raises(ValueError, match="unknown layers"):
        schedule(workload, arch, tiles=5, bits={"nope": (8, 8)})
    cyclic = workload.to_dict()
    cyclic["ops"][0]["producers"] = [cyclic["ops"][1]["name"]]
    with pytest.raises(ValueError, match="not an earlier op"):
        Workload.from_dict(cyclic)


def test_the_cli_prints_rows_and_draws_a_gantt_chart(tmp_path):
    plot = tmp_path / "gantt.png"
    result = CliRunner().invoke(
        main, ["cim", "schedule", "--model", "vgg11-cifar", "--duplicate", "--json", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(row["mode"], row["duplicate"]) for row in rows] == [
        ("layer-by-layer", False),
        ("layer-by-layer", True),
        ("cross-layer", True),
    ]
    assert plot.stat().st_size > 10_000
    assert plot_gantt(schedule(_chain(4), CIMArch(), 1), tmp_path / "chain.png").exists()
    missing = CliRunner().invoke(main, ["cim", "schedule", "--model", "vgg11-cifar", "--tiles", "2"])
    assert missing.exit_code != 0 and "crossbars missing" in missing.output
