"""Exploration policies over Q-values: epsilon-greedy with decay, and softmax (Boltzmann)."""

from __future__ import annotations

import numpy as np


def softmax_probabilities(q_values: np.ndarray, temperature: float) -> np.ndarray:
    """P(a) proportional to exp(Q(a) / T), computed after subtracting max Q (no overflow)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = (np.asarray(q_values, dtype=np.float64) - np.max(q_values)) / temperature
    weights = np.exp(logits)
    return weights / weights.sum()


def decayed_epsilon(start: float, end: float, decay: float, updates: int) -> float:
    """Exponential decay per update, floored at `end` (the report's Keras agent: eps *= decay)."""
    return max(end, start * decay**updates)


def greedy_action(q_values: np.ndarray, rng: np.random.Generator) -> int:
    """argmax Q, ties broken at random: a fresh Q-table is all ties, and always taking the
    first action would bias the tabular agent's early episodes. Draws from `rng` only on a
    tie (a network's float Q-values all but never tie, so the DQN's draws are unchanged)."""
    best = np.flatnonzero(q_values == np.max(q_values))
    return int(best[0] if len(best) == 1 else rng.choice(best))


def select_action(
    q_values: np.ndarray,
    policy: str,
    rng: np.random.Generator,
    *,
    epsilon: float = 0.0,
    temperature: float = 1.0,
) -> int:
    """An action under `policy` (`epsilon_greedy` or `softmax`; see `greedy_action` on ties)."""
    if policy == "epsilon_greedy":
        if rng.random() < epsilon:
            return int(rng.integers(len(q_values)))
        return greedy_action(q_values, rng)
    if policy == "softmax":
        return int(rng.choice(len(q_values), p=softmax_probabilities(q_values, temperature)))
    raise ValueError(f"unknown policy {policy!r}; allowed: epsilon_greedy, softmax")
