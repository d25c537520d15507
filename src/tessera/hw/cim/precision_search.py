"""Mixed-precision search on crossbars: a TD3 agent (stable-baselines3), random search and an
evolutionary search, each with the same number of evaluated policies (episodes).

The reward uses the accuracy on a held-out slice of the training split (never the test set); the
best policy each method finds within the accuracy budget is then scored on the full test set.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tessera.hw.cim.latency import CIMArch
from tessera.hw.cim.precision import (
    CrossbarLayerInfo,
    Policy,
    QuantizedAccuracy,
    crossbar_layers,
    policy_latency_us,
)
from tessera.hw.cim.precision_env import FIXED_BITS, Episode, MixedPrecisionEnv
from tessera.report.plots import pyplot
from tessera.workload import Workload, capture

METHODS = ("td3", "random", "evolution")
CALIBRATION_IMAGES = 256


def dataset_of(model_name: str) -> str:
    """``cifar10`` or ``mnist``: the training split a model's held-out images come from."""
    if model_name.startswith("resnet"):
        return "cifar10"
    if model_name.startswith("mnist"):
        return "mnist"
    raise ValueError(
        f"mixed-precision search supports the CIFAR-10 ResNets and MNIST models, not {model_name!r}"
    )


def held_out_split(model_name: str, data_dir: Path, images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``images`` training images (normalised) and labels of a CIFAR-10 ResNet or an
    MNIST model: a slice that neither the test set nor the calibration images (the first) touch."""
    if dataset_of(model_name) == "cifar10":
        from tessera.zoo.cifar import load_cifar10, normalise

        pixels, labels = load_cifar10(data_dir, "train")
    else:
        from tessera.zoo.mnist import load_mnist, normalise

        pixels, labels = load_mnist(data_dir, "train")
    return normalise(pixels[-images:]), labels[-images:]


@dataclass
class Problem:
    """Everything a search needs: the model's layers, its accuracy and latency under a policy."""

    model_name: str
    workload: Workload
    layers: tuple[CrossbarLayerInfo, ...]
    accuracy: QuantizedAccuracy
    arch: CIMArch
    float_accuracy: float
    target: float
    baseline_latency_us: float

    def evaluate(self, policy: Policy) -> tuple[float, float]:
        return self.accuracy(policy), policy_latency_us(self.workload, self.layers, policy, self.arch)

    def env(self) -> MixedPrecisionEnv:
        return MixedPrecisionEnv(
            self.layers, self.evaluate, self.target, self.baseline_latency_us, self.arch.cell_bits
        )


def build_problem(
    model_name: str,
    data_dir: str | Path | None = None,
    max_loss: float = 1.0,
    cell_bits: int = 4,
    validation_images: int = 1000,
) -> Problem:
    """The search problem for zoo model ``model_name``: target = float accuracy on the held-out
    slice minus ``max_loss`` points; 8/8-bit latency as the cost baseline."""
    from tessera.zoo import get_model, resolve_data_dir

    spec = get_model(model_name)
    dataset_of(model_name)
    if validation_images < 1:
        raise ValueError(f"the held-out split needs at least 1 image, got {validation_images}")
    folder = resolve_data_dir(data_dir)
    model = spec.build(folder)
    calibration = torch.cat(spec.calibration(folder, CALIBRATION_IMAGES, CALIBRATION_IMAGES))
    workload = capture(model, calibration[:1], name=model_name)
    layers = crossbar_layers(model, workload)
    images, labels = held_out_split(model_name, folder, validation_images)
    accuracy = QuantizedAccuracy(model, layers, calibration, images, labels)
    with torch.no_grad():
        float_accuracy = 100.0 * float((model(images).argmax(dim=1) == labels).float().mean())
    arch = CIMArch(cell_bits=cell_bits)
    baseline = policy_latency_us(workload, layers, (FIXED_BITS,) * len(layers), arch)
    return Problem(
        model_name, workload, layers, accuracy, arch, float_accuracy, float_accuracy - max_loss, baseline
    )


def random_search(env: MixedPrecisionEnv, budget: int, seed: int) -> None:
    """``budget`` episodes of uniformly random actions."""
    rng = np.random.default_rng(seed)
    for _ in range(budget):
        env.finish(env.actions_policy(rng.random(env.steps)))


def evolutionary_search(env: MixedPrecisionEnv, budget: int, seed: int, population: int = 12) -> None:
    """A (μ + λ) genetic search over per-step actions: the best half of the population (by
    reward) breeds children by uniform crossover and Gaussian mutation (σ = 0.15 on [0, 1]); the
    first generation is random. Stops after ``budget`` episodes."""
    rng = np.random.default_rng(seed)
    scored: list[tuple[float, np.ndarray]] = []

    def evaluate(genome: np.ndarray) -> None:
        scored.append((env.finish(env.actions_policy(genome)).reward, genome))

    for _ in range(min(population, budget)):
        evaluate(rng.random(env.steps))
    while len(env.episodes) < budget:
        scored.sort(key=lambda item: -item[0])
        parents = [genome for _, genome in scored[: max(2, population // 2)]]
        first, second = rng.choice(len(parents), 2, replace=False)
        mask = rng.random(env.steps) < 0.5
        child = np.where(mask, parents[first], parents[second]) + rng.normal(0, 0.15, env.steps)
        evaluate(np.clip(child, 0.0, 1.0))
        scored = sorted(scored, key=lambda item: -item[0])[:population]


def td3_search(env: MixedPrecisionEnv, budget: int, seed: int) -> None:
    """TD3 from stable-baselines3 (``tessera.hw.cim.precision_td3``)."""
    from tessera.hw.cim.precision_td3 import td3_search as search

    search(env, budget, seed)


SEARCHES: dict[str, Callable[[MixedPrecisionEnv, int, int], None]] = {
    "td3": td3_search,
    "random": random_search,
    "evolution": evolutionary_search,
}


def run_search(problem: Problem, method: str, budget: int, seed: int = 0) -> list[Episode]:
    """The episodes of one search with ``budget`` evaluated policies."""
    if method not in SEARCHES:
        raise ValueError(f"unknown search method {method!r}; valid: {', '.join(SEARCHES)}")
    if not isinstance(budget, int) or budget < 2:
        raise ValueError(f"the budget must be at least 2 episodes, got {budget!r}")
    env = problem.env()
    SEARCHES[method](env, budget, seed)
    return env.episodes[:budget]


def best_feasible(episodes: list[Episode], target: float) -> Episode | None:
    """The lowest-latency episode within the accuracy target."""
    feasible = [episode for episode in episodes if episode.accuracy >= target]
    return min(feasible, key=lambda episode: (episode.latency_us, -episode.accuracy), default=None)


def curve_rows(method: str, episodes: list[Episode], target: float) -> Iterator[dict[str, Any]]:
    """One row per episode with the best feasible speedup over 8/8 bits so far."""
    best = 0.0
    for number, episode in enumerate(episodes, 1):
        if episode.accuracy >= target:
            best = max(best, 1.0 / episode.cost_ratio)
        yield {
            "method": method,
            "episode": number,
            "accuracy_pct": round(episode.accuracy, 3),
            "latency_us": round(episode.latency_us, 1),
            "speedup": round(1.0 / episode.cost_ratio, 4),
            "reward": round(episode.reward, 4),
            "best_feasible_speedup": round(best, 4),
            "policy": policy_text(episode.policy),
        }


def policy_text(policy: Policy) -> str:
    """``w/a`` per layer, space-separated."""
    return " ".join(f"{w}/{a}" for w, a in policy)


def write_results(out: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> list[Path]:
    """search.csv (every episode), best.json (the summary) and search_curves.png (if matplotlib)."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "search.csv", out / "best.json"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    written = [csv_path, json_path]
    with contextlib.suppress(RuntimeError):  # no matplotlib: no plot
        written.append(plot_curves(rows, summary, out / "search_curves.png"))
    return written


def plot_curves(rows: list[dict[str, Any]], summary: dict[str, Any], path: Path) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(row["method"] for row in rows):
        points = [(row["episode"], row["best_feasible_speedup"]) for row in rows if row["method"] == method]
        axes.plot(*zip(*points), label=method)
    axes.set_xlabel("evaluated policies")
    axes.set_ylabel("best feasible speedup vs 8/8 bits")
    axes.set_title(f"{summary['model']}: target {summary['target_pct']:.2f} % (held-out)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def episode_summary(episode: Episode | None) -> dict[str, Any] | None:
    if episode is None:
        return None
    row = asdict(episode)
    row["policy"] = policy_text(episode.policy)
    row["speedup"] = 1.0 / episode.cost_ratio
    return row


def compare_searches(
    problem: Problem,
    methods: tuple[str, ...],
    budget: int,
    seed: int = 0,
    data_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run each method for ``budget`` episodes; score 8/8 bits and each method's best feasible
    policy on the full test set. Returns the per-episode rows and a summary."""
    from tessera.zoo import get_model

    spec = get_model(problem.model_name)
    uniform = (FIXED_BITS,) * len(problem.layers)
    with problem.accuracy.applied(uniform) as quantized:
        uniform_test = spec.evaluate(quantized, data_dir)
    summary: dict[str, Any] = {
        "model": problem.model_name,
        "budget": budget,
        "seed": seed,
        "accuracy": "post-training quantization (no fine-tuning)",
        "cell_bits": problem.arch.cell_bits,
        "layers": [layer.name for layer in problem.layers],
        "float_held_out_pct": problem.float_accuracy,
        "target_pct": problem.target,
        "float_test_pct": spec.evaluate(problem.accuracy.model, data_dir),
        "uniform_8_8": {
            "held_out_pct": problem.accuracy(uniform),
            "test_pct": uniform_test,
            "latency_us": problem.baseline_latency_us,
        },
        "methods": {},
    }
    rows: list[dict[str, Any]] = []
    for method in methods:
        if progress is not None:
            progress(method)
        episodes = run_search(problem, method, budget, seed)
        rows += curve_rows(method, episodes, problem.target)
        best = best_feasible(episodes, problem.target)
        found = episode_summary(best)
        if best is not None:
            with problem.accuracy.applied(best.policy) as quantized:
                found["test_pct"] = spec.evaluate(quantized, data_dir)
        summary["methods"][method] = {
            "best": found,
            "distinct_policies": len({episode.policy for episode in episodes}),
        }
    return rows, summary
