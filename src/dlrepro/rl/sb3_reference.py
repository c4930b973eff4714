"""Stable-Baselines3's DQN as an external reference run, with rl-baselines3-zoo's CartPole-v1
hyperparameters (the zoo reports a return of 500 +- 0 after 5e4 steps)."""

from __future__ import annotations

import gymnasium as gym
import pandas as pd
from stable_baselines3 import DQN
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from dlrepro.config import Sb3Config
from dlrepro.training.loop import adam_kernel


def train_sb3(
    cfg: Sb3Config, env_id: str, seed: int, eval_episodes: int
) -> tuple[pd.DataFrame, float]:
    """(episodes table, greedy evaluation return) of one seed."""
    env = Monitor(gym.make(env_id))
    model = DQN(
        "MlpPolicy",
        env,
        learning_rate=cfg.lr,
        batch_size=cfg.batch_size,
        buffer_size=cfg.buffer_size,
        learning_starts=cfg.learning_starts,
        gamma=cfg.gamma,
        target_update_interval=cfg.target_update,
        train_freq=cfg.train_freq,
        gradient_steps=cfg.gradient_steps,
        exploration_fraction=cfg.exploration_fraction,
        exploration_final_eps=cfg.exploration_final_eps,
        policy_kwargs={"net_arch": list(cfg.net_arch), "optimizer_kwargs": adam_kernel("cpu")},
        seed=seed,
        device="cpu",  # SB3's own advice for MLP policies; and seed workers are forked
        verbose=0,
    )
    model.learn(total_timesteps=cfg.total_steps)
    returns = env.get_episode_rewards()
    lengths = env.get_episode_lengths()
    episodes = pd.DataFrame(
        {
            "episode": range(1, len(returns) + 1),
            "steps": pd.Series(lengths).cumsum(),
            "return": returns,
        }
    )
    eval_env = Monitor(gym.make(env_id))
    eval_env.reset(seed=10_000 + seed)
    mean_return, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=eval_episodes, deterministic=True
    )
    return episodes, float(mean_return)
