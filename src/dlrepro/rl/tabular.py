"""Tabular Q-learning (Watkins) on a discrete gymnasium environment."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dlrepro.rl.policies import decayed_epsilon, select_action


def q_update(
    q: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> float:
    """One step of Q(s,a) += alpha (r + gamma max_a' Q(s',a') - Q(s,a)); returns the TD error.

    A terminal next state has no future value; a time-limit truncation keeps it.
    """
    target = reward + (0.0 if terminated else gamma * float(np.max(q[next_state])))
    error = target - q[state, action]
    q[state, action] += alpha * error
    return float(error)


def train_tabular(
    env_id: str,
    *,
    policy: str,
    seed: int,
    episodes: int,
    max_steps: int,
    alpha: float,
    gamma: float,
    epsilon: dict[str, float],
    temperature: float,
) -> tuple[list[dict[str, float]], np.ndarray]:
    """Train from a zero Q-table; per-episode rows (episode, cumulative steps, return) and Q."""
    env = gym.make(env_id, max_episode_steps=max_steps)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    q = np.zeros((env.observation_space.n, env.action_space.n))
    rows, total_steps = [], 0
    for episode in range(episodes):
        eps = decayed_epsilon(epsilon["start"], epsilon["end"], epsilon["decay"], episode)
        state, _ = env.reset(seed=seed if episode == 0 else None)
        episode_return, done = 0.0, False
        while not done:
            action = select_action(q[state], policy, rng, epsilon=eps, temperature=temperature)
            next_state, reward, terminated, truncated, _ = env.step(action)
            q_update(q, state, action, reward, next_state, terminated, alpha, gamma)
            state, episode_return, total_steps = (
                next_state,
                episode_return + reward,
                total_steps + 1,
            )
            done = terminated or truncated
        rows.append({"episode": episode + 1, "steps": total_steps, "return": episode_return})
    env.close()
    return rows, q


def greedy_table_return(q: np.ndarray, env_id: str, max_steps: int) -> float:
    """Return of one greedy episode (the environments used here are deterministic)."""
    env = gym.make(env_id, max_episode_steps=max_steps)
    state, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        state, reward, terminated, truncated, _ = env.step(int(np.argmax(q[state])))
        total += reward
        done = terminated or truncated
    env.close()
    return total
