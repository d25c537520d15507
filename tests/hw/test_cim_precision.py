"""Mixed-precision search on crossbars: the quantizer against a direct re-derivation, HAQ's reward,
the gymnasium environment (checked by stable-baselines3's checker) and the three searches on the
MNIST LeNet with real data."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from stable_baselines3.common.env_checker import check_env

from tessera.cli import main
from tessera.hw.cim.latency import CIMArch, workload_cost
from tessera.hw.cim.precision import CLIP_RATIOS, best_scale, fake_quantize, integer_grid, policy_latency_us
from tessera.hw.cim.precision_env import pick, reward, weight_choices
from tessera.hw.cim.precision_search import METHODS, best_feasible, build_problem, run_search


def test_integer_grids():
    assert integer_grid(2, True) == (-1, 1)
    assert integer_grid(8, True) == (-127, 127)
    assert integer_grid(4, False) == (0, 15)
    with pytest.raises(ValueError, match=r"bit widths must be integers in 2\.\.16, got 1"):
        integer_grid(1, True)


@pytest.mark.parametrize(("bits", "signed"), [(2, True), (3, True), (4, False), (8, True)])
def test_the_chosen_scale_is_the_best_clipping_per_channel(bits, signed):
    torch.manual_seed(bits)
    x = torch.randn(5, 40) ** 3 if signed else torch.rand(5, 40) ** 3
    scale = best_scale(x, bits, signed, channel_dim=0)
    low, high = integer_grid(bits, signed)
    for row, chosen in zip(x, scale.flatten()):
        amax = float(row.abs().max())
        errors = [
            float(((fake_quantize(row, amax * r / high, low, high) - row) ** 2).sum()) for r in CLIP_RATIOS
        ]
        best = amax * float(CLIP_RATIOS[int(np.argmin(errors))]) / high
        assert float(chosen) == pytest.approx(best)
        values = fake_quantize(row, chosen, low, high).unique()
        assert len(values) <= high - low + 1
        assert torch.allclose(values / chosen, torch.round(values / chosen))


def test_haq_reward_and_action_bins():
    assert reward(accuracy=90.0, target=91.0, cost_ratio=0.5) == pytest.approx(-10.0)
    assert reward(accuracy=91.5, target=91.0, cost_ratio=0.5) == pytest.approx(100.0 + 0.05)
    assert reward(accuracy=91.0, target=91.0, cost_ratio=1.0) == 0.0
    assert (
        weight_choices(4) == (4, 8)
        and weight_choices(2) == (2, 4, 6, 8)
        and weight_choices(1) == tuple(range(2, 9))
    )
    with pytest.raises(ValueError, match=r"no weight width in 2\.\.8 is a multiple of 16-bit cells"):
        weight_choices(16)
    choices = tuple(range(2, 9))
    assert [pick(a, choices) for a in (0.0, 0.1429, 0.5, 0.999, 1.0, 7.0, -1.0)] == [2, 3, 5, 8, 8, 8, 2]


@pytest.fixture(scope="module")
def problem(data_dir):
    return build_problem("mnist-lenet", data_dir, max_loss=1.0, cell_bits=4, validation_images=500)


def test_eight_bits_keep_the_accuracy_and_weights_come_back(problem):
    layers = len(problem.layers)
    before = [m.weight.detach().clone() for m in problem.accuracy.modules]
    eight = problem.accuracy(((8, 8),) * layers)
    assert eight == pytest.approx(problem.float_accuracy, abs=0.6)
    assert (
        problem.accuracy(((2, 2),) * layers) < problem.accuracy(((3, 3),) * layers) < eight
    )  # measured 96.2, 98.2, 99.0
    assert all(torch.equal(a, m.weight) for a, m in zip(before, problem.accuracy.modules))
    assert problem.target == pytest.approx(problem.float_accuracy - 1.0)
    bits = {layer.name: (8, 8) for layer in problem.layers}
    assert problem.baseline_latency_us == pytest.approx(
        workload_cost(problem.workload, CIMArch(), bits).latency_us
    )


def test_fewer_input_bits_mean_fewer_bit_serial_executes(problem):
    n = len(problem.layers)
    eight = policy_latency_us(problem.workload, problem.layers, ((8, 8),) * n, problem.arch)
    four = policy_latency_us(
        problem.workload, problem.layers, ((8, 8), *[(8, 4)] * (n - 2), (8, 8)), problem.arch
    )
    assert four < eight


def test_the_environment_follows_the_gymnasium_api_and_haq_episodes(problem):
    env = problem.env()
    check_env(env, skip_render_check=True)
    env.episodes.clear()
    observation, _ = env.reset(seed=0)
    assert env.steps == 2 * (len(problem.layers) - 2)
    assert observation.shape == env.observation_space.shape and observation[-1] == 0.0
    total = 0.0
    for step in range(env.steps):
        observation, value, done, truncated, info = env.step(np.array([0.99], dtype=np.float32))
        assert observation[-1] == float((step + 1) % 2) or done
        assert done == (step == env.steps - 1) and not truncated
        total += value
    episode = info["episode_record"]
    assert episode.policy == ((8, 8),) * len(problem.layers)
    assert episode.cost_ratio == pytest.approx(1.0)
    assert total == pytest.approx(reward(episode.accuracy, problem.target, 1.0))


@pytest.mark.parametrize("method", METHODS)
def test_every_search_spends_exactly_its_budget(problem, method):
    episodes = run_search(problem, method, budget=6, seed=1)
    assert len(episodes) == 6
    for episode in episodes:
        assert episode.policy[0] == episode.policy[-1] == (8, 8)
        assert all(w in (4, 8) and 2 <= a <= 8 for w, a in episode.policy)
        assert episode.reward == pytest.approx(reward(episode.accuracy, problem.target, episode.cost_ratio))
    best = best_feasible(episodes, problem.target)
    assert best is None or (
        best.accuracy >= problem.target
        and all(best.latency_us <= e.latency_us for e in episodes if e.accuracy >= problem.target)
    )


def test_the_cli_writes_curves_and_policies(data_dir, tmp_path):
    args = [
        "cim",
        "mixed-precision",
        "--model",
        "mnist-lenet",
        "--budget",
        "3",
        "--methods",
        "random,evolution",
    ]
    result = CliRunner().invoke(
        main, [*args, "--val-images", "300", "--data-dir", str(data_dir), "--out", str(tmp_path), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "best.json").read_text())
    assert set(summary["methods"]) == {"random", "evolution"}
    assert summary["accuracy"] == "post-training quantization (no fine-tuning)"
    assert math.isfinite(summary["uniform_8_8"]["test_pct"])
    assert len((tmp_path / "search.csv").read_text().splitlines()) == 1 + 2 * 3
    bad = CliRunner().invoke(main, [*args[:-1], "annealing", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "valid: td3, random, evolution" in bad.output
    unsupported = CliRunner().invoke(
        main,
        ["cim", "mixed-precision", "--model", "minilm", "--data-dir", str(data_dir), "--out", str(tmp_path)],
    )
    assert (
        unsupported.exit_code != 0 and "supports the CIFAR-10 ResNets and MNIST models" in unsupported.output
    )
