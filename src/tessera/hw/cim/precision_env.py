"""A gymnasium environment for mixed-precision search on crossbars (HAQ's formulation, REFERENCES §3).

An episode walks the searchable layers (all but the first and the last, which stay at 8 bits),
choosing for each its weight bits, then its input bits: two steps per layer. An action in [0, 1]
picks one of the allowed widths in equal bins: weight bits are the multiples of the cell bits in
[2, 8], input bits any width in [2, 8]. The observation is the layer's features (index, conv or
linear, input and output channels, stride, kernel, weights, input pixels), the previous action and
whether weight or input bits are chosen now, each scaled to [0, 1]. The reward, given at the
episode's end, is ``-10 * (target - accuracy)`` below the accuracy target, else
``100 * (1 / cost_ratio - 1) + 0.1 * (accuracy - target)``, with ``cost_ratio`` the crossbar
latency over that of all layers at 8/8 bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np

from tessera.hw.cim.precision import CrossbarLayerInfo, Policy

MIN_BITS, MAX_BITS = 2, 8
FIXED_BITS = (8, 8)


@dataclass(frozen=True)
class Episode:
    """One evaluated policy: accuracy (%), latency (µs) and its ratio to 8/8 bits, and the reward."""

    policy: Policy
    accuracy: float
    latency_us: float
    cost_ratio: float
    reward: float


def reward(accuracy: float, target: float, cost_ratio: float) -> float:
    """HAQ's reward: a penalty in accuracy points below the target, else the latency gain."""
    if accuracy < target:
        return -10.0 * (target - accuracy)
    return 100.0 * (1.0 / cost_ratio - 1.0) + 0.1 * (accuracy - target)


def weight_choices(cell_bits: int) -> tuple[int, ...]:
    """Weight widths in [2, 8] that fill whole cells."""
    choices = tuple(bits for bits in range(MIN_BITS, MAX_BITS + 1) if bits % cell_bits == 0)
    if not choices:
        raise ValueError(f"no weight width in {MIN_BITS}..{MAX_BITS} is a multiple of {cell_bits}-bit cells")
    return choices


def pick(action: float, choices: tuple[int, ...]) -> int:
    """The width of ``choices`` whose equal-width bin of [0, 1] holds ``action``."""
    return choices[min(int(float(np.clip(action, 0.0, 1.0)) * len(choices)), len(choices) - 1)]


class MixedPrecisionEnv(gym.Env):
    """Episodes choose per-layer bits; ``evaluate(policy)`` gives (accuracy %, latency µs). Every
    finished episode is appended to ``episodes``."""

    metadata: ClassVar[dict[str, list[str]]] = {"render_modes": []}

    def __init__(
        self,
        layers: tuple[CrossbarLayerInfo, ...],
        evaluate: Callable[[Policy], tuple[float, float]],
        target: float,
        baseline_latency_us: float,
        cell_bits: int = 4,
    ) -> None:
        if len(layers) < 3:
            raise ValueError(
                "mixed precision needs at least 3 crossbar layers (first and last stay 8-bit), "
                f"got {len(layers)}"
            )
        self.layers, self.evaluate, self.target = layers, evaluate, target
        self.baseline_latency_us = baseline_latency_us
        self.weight_bits = weight_choices(cell_bits)
        self.input_bits = tuple(range(MIN_BITS, MAX_BITS + 1))
        self.features = _scaled_features(layers)
        self.steps = 2 * (len(layers) - 2)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.features.shape[1] + 2,), np.float32)
        self.action_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.episodes: list[Episode] = []
        self._step, self._previous, self._chosen = 0, 0.0, []

    def _observation(self) -> np.ndarray:
        layer = 1 + min(self._step, self.steps - 1) // 2
        choosing_input = float(self._step % 2)
        return np.concatenate([self.features[layer], [self._previous, choosing_input]]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._step, self._previous, self._chosen = 0, 0.0, []
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        value = float(np.asarray(action).reshape(-1)[0])
        self._chosen.append(pick(value, self.input_bits if self._step % 2 else self.weight_bits))
        self._previous, self._step = float(np.clip(value, 0.0, 1.0)), self._step + 1
        if self._step < self.steps:
            return self._observation(), 0.0, False, False, {}
        episode = self.finish(self.policy_of(self._chosen))
        return self._observation(), episode.reward, True, False, {"episode_record": episode}

    def policy_of(self, chosen: list[int]) -> Policy:
        """The full policy of the searchable layers' (weight, input) choices, flattened."""
        pairs = tuple((chosen[i], chosen[i + 1]) for i in range(0, len(chosen), 2))
        return (FIXED_BITS, *pairs, FIXED_BITS)

    def actions_policy(self, actions: np.ndarray) -> Policy:
        """The policy that a whole episode of ``actions`` (one per step) chooses."""
        return self.policy_of(
            [
                pick(a, self.input_bits if i % 2 else self.weight_bits)
                for i, a in enumerate(np.asarray(actions))
            ]
        )

    def finish(self, policy: Policy) -> Episode:
        """Evaluate ``policy``, record and return its episode."""
        accuracy, latency = self.evaluate(policy)
        ratio = latency / self.baseline_latency_us
        episode = Episode(policy, accuracy, latency, ratio, reward(accuracy, self.target, ratio))
        self.episodes.append(episode)
        return episode


def _scaled_features(layers: tuple[CrossbarLayerInfo, ...]) -> np.ndarray:
    raw = np.array(
        [
            [
                i,
                float(layer.is_conv),
                layer.in_channels,
                layer.out_channels,
                layer.stride,
                layer.kernel,
                math.log(layer.weights),
                layer.input_size,
            ]
            for i, layer in enumerate(layers)
        ],
        dtype=np.float64,
    )
    low, high = raw.min(axis=0), raw.max(axis=0)
    return (raw - low) / np.where(high > low, high - low, 1.0)
