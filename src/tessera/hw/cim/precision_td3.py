"""The TD3 agent (stable-baselines3) for mixed-precision search, set up as HAQ runs DDPG."""

from __future__ import annotations

import numpy as np
from stable_baselines3 import TD3
from stable_baselines3.common.noise import ActionNoise

from tessera.hw.cim.precision_env import MixedPrecisionEnv


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


def td3_search(env: MixedPrecisionEnv, budget: int, seed: int) -> None:
    """``budget`` episodes of TD3: the first quarter random (warm-up), then the actor with
    Gaussian noise (σ = 0.5, decayed by 0.97 per episode), undiscounted (rewards come at the
    episode's end), trained after every episode with one gradient step per environment step."""
    agent = TD3(
        "MlpPolicy",
        env,
        learning_starts=max(1, budget // 4) * env.steps,
        gamma=1.0,
        train_freq=(1, "episode"),
        gradient_steps=env.steps,
        action_noise=DecayingNoise(0.5, 0.97, seed),
        policy_kwargs={"net_arch": [300, 300]},
        seed=seed,
        verbose=0,
        device="cpu",
    )
    agent.learn(total_timesteps=budget * env.steps)
