import numpy as np
import pandas as pd
import pytest

from dlrepro.experiments.s6_q_learning import summarise_seed
from dlrepro.rl.dqn import train_dqn
from dlrepro.rl.policies import (
    decayed_epsilon,
    greedy_action,
    select_action,
    softmax_probabilities,
)
from dlrepro.rl.tabular import greedy_table_return, q_update, train_tabular


def test_softmax_probabilities_sum_to_one():
    p = softmax_probabilities(np.array([1.0, 2.0, 3.0]), 0.7)
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.diff(p) > 0)


def test_softmax_tends_to_greedy_as_temperature_falls():
    p = softmax_probabilities(np.array([1.0, 1.1, 0.5]), 1e-4)
    assert p[1] == pytest.approx(1.0)


def test_softmax_tends_to_uniform_as_temperature_rises():
    p = softmax_probabilities(np.array([1.0, 5.0, -3.0]), 1e6)
    assert np.allclose(p, 1 / 3, atol=1e-5)


def test_softmax_does_not_overflow_on_large_q_values():
    p = softmax_probabilities(np.array([1e6, 1e6 - 1.0, -1e6]), 0.05)
    assert np.all(np.isfinite(p)) and p[0] == pytest.approx(1.0)


def test_softmax_rejects_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature"):
        softmax_probabilities(np.zeros(2), 0.0)


def test_epsilon_schedule_decays_exponentially_to_its_floor():
    assert decayed_epsilon(1.0, 0.01, 0.5, 0) == 1.0
    assert decayed_epsilon(1.0, 0.01, 0.5, 2) == 0.25
    assert decayed_epsilon(1.0, 0.01, 0.5, 100) == 0.01


def test_epsilon_greedy_explores_at_rate_epsilon():
    rng = np.random.default_rng(0)
    q = np.array([0.0, 1.0, 0.0, 0.0])
    picks = [select_action(q, "epsilon_greedy", rng, epsilon=0.2) for _ in range(20_000)]
    # greedy with probability 0.8, plus a quarter of the random 0.2
    assert np.mean(np.array(picks) == 1) == pytest.approx(0.85, abs=0.01)
    assert select_action(q, "epsilon_greedy", rng, epsilon=0.0) == 1


def test_tabular_update_matches_a_hand_computed_step():
    q = np.zeros((3, 2))
    q[1] = [2.0, 4.0]
    # target = -1 + 0.9 * max(2, 4) = 2.6; Q(0,1) = 0 + 0.5 * (2.6 - 0) = 1.3
    error = q_update(q, 0, 1, -1.0, 1, False, alpha=0.5, gamma=0.9)
    assert q[0, 1] == pytest.approx(1.3) and error == pytest.approx(2.6)
    # a terminal next state has no future value: target = -1, Q(0,0) = 0.5 * -1
    q_update(q, 0, 0, -1.0, 1, True, alpha=0.5, gamma=0.9)
    assert q[0, 0] == pytest.approx(-0.5)


def test_tabular_agent_learns_the_optimal_cliff_walking_path():
    _, q = train_tabular(
        "CliffWalking-v1",
        policy="epsilon_greedy",
        seed=0,
        episodes=150,
        max_steps=200,
        alpha=0.5,
        gamma=0.99,
        epsilon={"start": 1.0, "end": 0.01, "decay": 0.95},
        temperature=0.05,
    )
    assert greedy_table_return(q, "CliffWalking-v1", 200) == -13  # the shortest safe path


@pytest.mark.parametrize("policy", ["epsilon_greedy", "softmax"])
def test_dqn_runs_and_is_seeded(policy):
    kwargs = dict(
        policy=policy,
        seed=3,
        total_steps=120,
        hidden=[8],
        lr=1e-3,
        gamma=0.95,
        batch_size=16,
        buffer_size=100,
        target_update=0,
        epsilon={"start": 1.0, "end": 0.01, "decay": 0.99},
        temperature=0.05,
    )
    rows_a, _ = train_dqn("CartPole-v1", **kwargs)
    rows_b, _ = train_dqn("CartPole-v1", **kwargs)
    assert rows_a == rows_b and rows_a[-1]["steps"] <= 120


def test_curve_metrics_of_a_known_episode_table():
    episodes = pd.DataFrame(
        {"episode": [1, 2, 3, 4], "steps": [10, 20, 30, 40], "return": [0.0, 10.0, 20.0, 20.0]}
    )
    m = summarise_seed(episodes, x="episode", x_max=4, window=2, threshold=15)
    assert m["episodes_to_threshold"] == 3  # rolling means 0, 5, 15, 20
    assert m["reached"] == 1.0
    assert m["final_return"] == 20.0
    assert m["roughness"] == pytest.approx(20 / 3)
    never = summarise_seed(episodes, x="episode", x_max=4, window=2, threshold=100)
    assert never["episodes_to_threshold"] == 4 and never["reached"] == 0.0


@pytest.mark.parametrize(
    ("agent", "policy"), [("tabular", "softmax"), ("dqn", "epsilon_greedy"), ("sb3", None)]
)
def test_section_6_dry_run_trains_a_few_steps_and_writes_nothing(project, agent, policy):
    from dlrepro.config import validate
    from dlrepro.experiments import s6_q_learning

    from .conftest import smoke_params

    assert s6_q_learning.run(validate(smoke_params()), agent, policy, dry_run=True) is None
    assert not (project / "results").exists()


def test_greedy_ties_are_broken_at_random_and_a_single_best_draws_nothing():
    rng = np.random.default_rng(0)
    picks = {greedy_action(np.zeros(4), rng) for _ in range(200)}
    assert picks == {0, 1, 2, 3}
    untouched, used = np.random.default_rng(1), np.random.default_rng(1)
    assert greedy_action(np.array([0.1, 0.3, 0.2]), used) == 1
    assert used.random() == untouched.random()  # no draw without a tie: the DQN's stream holds
