"""A DQN agent as the report's appendix describes it (the classic Keras DQNAgent, in PyTorch).

Each environment step stores the transition in a replay memory and, once the memory holds a
batch, fits the network on a random batch towards r + gamma max_a' Q(s', a'). With
`target_update` 0 the same network gives the targets, as in the report's agent; N > 0 syncs a
separate target network every N steps (Mnih et al. 2015). Exploration is epsilon-greedy with
epsilon decayed after every fit, or softmax over the Q-values at a fixed temperature.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from dlrepro.rl.policies import decayed_epsilon, select_action
from dlrepro.training.loop import adam_kernel


def q_network(obs_dim: int, n_actions: int, hidden: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = obs_dim
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers, nn.Linear(width, n_actions))


def train_dqn(
    env_id: str,
    *,
    policy: str,
    seed: int,
    total_steps: int,
    hidden: Sequence[int],
    lr: float,
    gamma: float,
    batch_size: int,
    buffer_size: int,
    target_update: int,
    epsilon: dict[str, float],
    temperature: float,
) -> tuple[list[dict[str, float]], nn.Module]:
    """Train for `total_steps` environment steps; returns per-episode rows and the network."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = q_network(env.observation_space.shape[0], env.action_space.n, hidden)
    target_net = q_network(env.observation_space.shape[0], env.action_space.n, hidden)
    target_net.load_state_dict(net.state_dict())
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, **adam_kernel("cpu"))
    memory: deque[tuple] = deque(maxlen=buffer_size)

    rows, updates, episode_return, episode = [], 0, 0.0, 0
    state, _ = env.reset(seed=seed)
    for step in range(1, total_steps + 1):
        eps = decayed_epsilon(epsilon["start"], epsilon["end"], epsilon["decay"], updates)
        with torch.no_grad():
            q_values = net(torch.as_tensor(state, dtype=torch.float32)).numpy()
        action = select_action(q_values, policy, rng, epsilon=eps, temperature=temperature)
        next_state, reward, terminated, truncated, _ = env.step(action)
        memory.append((state, action, reward, next_state, terminated))
        state, episode_return = next_state, episode_return + reward
        if len(memory) >= batch_size:
            _fit_batch(
                net, target_net if target_update else net, optimizer, memory, rng, batch_size, gamma
            )
            updates += 1
        if target_update and step % target_update == 0:
            target_net.load_state_dict(net.state_dict())
        if terminated or truncated:
            episode += 1
            rows.append({"episode": episode, "steps": step, "return": episode_return})
            state, _ = env.reset()
            episode_return = 0.0
    env.close()
    return rows, net


def _fit_batch(net, target_net, optimizer, memory, rng, batch_size, gamma) -> None:
    batch = [memory[i] for i in rng.choice(len(memory), size=batch_size, replace=False)]
    states, actions, rewards, next_states, terminals = (
        np.asarray(x) for x in zip(*batch, strict=True)
    )
    states = torch.as_tensor(states, dtype=torch.float32)
    next_states = torch.as_tensor(next_states, dtype=torch.float32)
    with torch.no_grad():
        best_next = target_net(next_states).max(dim=1).values
    targets = torch.as_tensor(rewards, dtype=torch.float32) + gamma * best_next * torch.as_tensor(
        ~terminals, dtype=torch.float32
    )
    predicted = net(states).gather(1, torch.as_tensor(actions).unsqueeze(1)).squeeze(1)
    loss = nn.functional.mse_loss(predicted, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def greedy_return(net: nn.Module, env_id: str, seed: int, episodes: int) -> float:
    """Mean return of the greedy policy over `episodes` evaluation episodes."""
    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        state, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action = int(net(torch.as_tensor(state, dtype=torch.float32)).argmax())
            state, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))
