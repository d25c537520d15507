"""The TD3 agent (stable-baselines3) for mixed-precision search, set up the way HAQ runs DDPG:
every step of an episode is credited with the episode's final reward minus a moving average of
past episodes' rewards, and exploration noise shrinks episode by episode."""

from __future__ import annotations

import numpy as np
from stable_baselines3 import TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise

from tessera.hw.cim.precision_env import MixedPrecisionEnv

NOISE_START, NOISE_END = 0.5, 0.05
BASELINE_MOMENTUM = 0.5


class DecayingNoise(ActionNoise):
    """Gaussian exploration noise whose σ shrinks by ``decay`` at the end of every episode."""

    def __init__(self, sigma: float, decay: float, seed: int) -> None:
        super().__init__()
        self.sigma, self.decay = sigma, decay
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> np.ndarray:
        return self.rng.normal(0.0, self.sigma, 1)

    def reset(self) -> None:
        self.sigma *= self.decay


class CreditEpisodeReward(BaseCallback):
    """After each episode (one rollout), rewrite the rewards of its transitions in the replay
    buffer to the episode's reward minus the moving average of earlier episodes' rewards."""

    def __init__(self, env: MixedPrecisionEnv) -> None:
        super().__init__()
        self.env, self.baseline = env, None

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        final = self.env.episodes[-1].reward
        self.baseline = final if self.baseline is None else self.baseline
        buffer = self.model.replay_buffer
        rows = (buffer.pos - 1 - np.arange(self.env.steps)) % buffer.buffer_size
        buffer.rewards[rows] = final - self.baseline
        self.baseline = BASELINE_MOMENTUM * self.baseline + (1 - BASELINE_MOMENTUM) * final


def td3_search(env: MixedPrecisionEnv, budget: int, seed: int) -> None:
    """``budget`` episodes of TD3: the first quarter random (warm-up), then the actor with
    Gaussian noise decaying from σ = 0.5 to 0.05 over the remaining episodes; no discount (every
    step already carries the episode's reward); trained after every episode with one gradient step
    per environment step."""
    warmup = max(1, budget // 4)
    decay = (NOISE_END / NOISE_START) ** (1 / max(1, budget - warmup))
    agent = TD3(
        "MlpPolicy",
        env,
        learning_starts=warmup * env.steps,
        gamma=0.0,
        train_freq=(1, "episode"),
        gradient_steps=env.steps,
        action_noise=DecayingNoise(NOISE_START, decay, seed),
        policy_kwargs={"net_arch": [300, 300]},
        seed=seed,
        verbose=0,
        device="cpu",
    )
    agent.learn(total_timesteps=budget * env.steps, callback=CreditEpisodeReward(env))
