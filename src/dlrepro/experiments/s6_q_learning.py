"""Section 6, RL: Q-learning with epsilon-greedy vs softmax exploration (Figures 8-9).

Two agents, each with both exploration policies, plus an external reference:
  tabular  Q-learning on CliffWalking (a zero-initialised table, per-episode epsilon decay)
  dqn      the report's appendix agent on CartPole-v1 (replay memory, target max_a' Q(s', a'))
  sb3      Stable-Baselines3 DQN on CartPole-v1 with rl-baselines3-zoo's tuned hyperparameters
Every run repeats over `seeds`; learning curves show the mean over seeds with each seed, or with
more than five seeds a 95% t-interval (`results.plot_seeds`).

Cost: per stage in bench/results/pipeline.json (2-core CPU, embedded profile).

    dlrepro s6 run --agent tabular|dqn --policy epsilon_greedy|softmax [--dry-run]
    dlrepro s6 run --agent sb3 [--dry-run]
    dlrepro s6 figures
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dlrepro.config import Params
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import plot_seeds, result_set, save_figure, subplots, write_run_results
from dlrepro.tracking import PROJECT, Run, log_figures

SECTION = "s6"
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION
POLICIES = ("epsilon_greedy", "softmax")
METRICS = [
    "episodes_to_threshold",
    "reached",
    "final_return",
    "eval_return",
    "auc",
    "early_auc",
    "roughness",
]
CURVE_POINTS = 100


def run_name(agent: str, policy: str | None) -> str:
    return agent if agent == "sb3" else f"{agent}_{policy}"


def rolling_return(episodes: pd.DataFrame, window: int) -> pd.Series:
    return episodes["return"].rolling(window, min_periods=1).mean()


def curve(episodes: pd.DataFrame, x: str, window: int, x_max: float) -> np.ndarray:
    """The rolling-mean return on a fixed grid of `x` (episodes or steps), for averaging seeds."""
    grid = np.linspace(0, x_max, CURVE_POINTS)
    return np.interp(grid, episodes[x], rolling_return(episodes, window))


def summarise_seed(
    episodes: pd.DataFrame, *, x: str, x_max: float, window: int, threshold: float
) -> dict[str, float]:
    """Learning-curve metrics of one seed (see the paper's Section 6 for definitions)."""
    rolling = rolling_return(episodes, window)
    hit = np.flatnonzero(rolling.to_numpy() >= threshold)
    heights = curve(episodes, x, window, x_max)
    return {
        # never reaching the threshold counts as needing every episode run (censored)
        "episodes_to_threshold": float(hit[0] + 1 if len(hit) else len(episodes)),
        "reached": float(len(hit) > 0),
        "final_return": float(episodes["return"].tail(window).mean()),
        "auc": float(heights.mean()),
        "early_auc": float(heights[: CURVE_POINTS // 4].mean()),
        "roughness": float(episodes["return"].diff().abs().mean()),
    }


def _train(params: Params, agent: str, policy: str | None, seed: int):
    """(episodes table, greedy evaluation return) of one seed."""
    cfg = params.s6
    if agent == "tabular":
        from dlrepro.rl.tabular import greedy_table_return, train_tabular

        t = cfg.tabular
        rows, q = train_tabular(
            t.env,
            policy=policy,
            seed=seed,
            episodes=t.episodes,
            max_steps=t.max_steps,
            alpha=t.alpha,
            gamma=t.gamma,
            epsilon=t.epsilon.model_dump(),
            temperature=cfg.temperature,
        )
        return pd.DataFrame(rows), greedy_table_return(q, t.env, t.max_steps)
    if agent == "dqn":
        from dlrepro.rl.dqn import greedy_return, train_dqn

        d = cfg.dqn
        rows, net = train_dqn(
            d.env,
            policy=policy,
            seed=seed,
            total_steps=d.total_steps,
            hidden=d.hidden,
            lr=d.lr,
            gamma=d.gamma,
            batch_size=d.batch_size,
            buffer_size=d.buffer_size,
            target_update=d.target_update,
            epsilon=d.epsilon.model_dump(),
            temperature=cfg.temperature,
        )
        return pd.DataFrame(rows), greedy_return(net, d.env, 10_000 + seed, cfg.eval_episodes)
    from dlrepro.rl.sb3_reference import train_sb3

    return train_sb3(cfg.sb3, cfg.dqn.env, seed, cfg.eval_episodes)


def dry_run_params(params: Params) -> Params:
    """The same params cut to a few environment steps and one seed."""
    cfg = params.s6
    tiny = cfg.model_copy(
        update={
            "eval_episodes": 1,
            "tabular": cfg.tabular.model_copy(update={"episodes": 2}),
            "dqn": cfg.dqn.model_copy(update={"total_steps": 64}),
            "sb3": cfg.sb3.model_copy(
                update={
                    "total_steps": 64,
                    "learning_starts": 32,
                    "train_freq": 16,
                    "gradient_steps": 1,
                }
            ),
        }
    )
    return params.model_copy(update={"s6": tiny})


def run(params: Params, agent: str, policy: str | None, *, dry_run: bool = False) -> dict | None:
    """Train one agent/policy over every seed; write episodes.csv and metrics.json."""
    if (agent == "sb3") != (policy is None):
        raise SystemExit("s6 run needs --agent sb3, or --agent tabular|dqn with --policy")
    if dry_run:
        params = dry_run_params(params)
    # Here, not at the top: `s6 figures` needs neither, and importing torch costs seconds.
    import torch

    from dlrepro.training import compute

    cfg = params.s6
    name = run_name(agent, policy)
    x, x_max, threshold = _axis(params, agent)
    compute.configure(params.compute, torch.device("cpu"))  # small networks: the CPU is faster

    def one_seed(seed: int) -> tuple[dict, pd.DataFrame]:
        with Run(
            project=PROJECT,
            group=SECTION,
            name=f"{SECTION}/{name}/seed{seed}",
            config={
                "profile": params.profile,
                "agent": agent,
                "policy": policy,
                "seed": seed,
                # this agent's settings only: the run reads no other agent's
                **cfg.model_dump(include={agent, "temperature", "window", "eval_episodes"}),
            },
            tags=[SECTION, params.profile, name],
            job_type=name,
        ) as tracker:
            episodes, eval_return = _train(params, agent, policy, seed)
            summary = summarise_seed(
                episodes, x=x, x_max=x_max, window=cfg.window, threshold=threshold
            )
            run = {"seed": seed, **summary, "eval_return": eval_return}
            for row in episodes.to_dict("records"):
                tracker.log({"return": row["return"], "steps": row["steps"]})
            tracker.summary(run)
        print(
            f"{SECTION}/{name} seed {seed}: final return {summary['final_return']:.1f}, "
            f"greedy return {eval_return:.1f}, episodes {len(episodes)}",
            flush=True,
        )
        return run, episodes.assign(seed=seed)

    seeds = params.seeds.of(SECTION)
    outcomes = compute.map_seeds(one_seed, seeds[:1] if dry_run else seeds)
    runs, tables = [run for run, _ in outcomes], [table for _, table in outcomes]
    if dry_run:
        print(f"dry run of {SECTION}/{name} passed: params valid, a few steps trained")
        return None
    with result_set(RESULTS_DIR / name) as out:
        pd.concat(tables)[["seed", "episode", "steps", "return"]].to_csv(
            out / "episodes.csv", index=False
        )
        metrics = write_run_results(out, runs, METRICS, run=name, threshold=threshold)
    return metrics


def _axis(params: Params, agent: str) -> tuple[str, float, float]:
    """x column, its end and the return threshold: episodes for the table, steps for CartPole."""
    cfg = params.s6
    if agent == "tabular":
        return "episode", cfg.tabular.episodes, cfg.tabular.threshold
    steps = cfg.dqn.total_steps if agent == "dqn" else cfg.sb3.total_steps
    return "steps", steps, cfg.dqn.threshold


# A return's possible range: CartPole-v1 pays 1 per step and ends episodes at 500 steps.
# CliffWalking has no lower bound to state (-100 per fall, as many falls as steps).
RETURN_RANGES = {"CartPole-v1": (0.0, 500.0)}


def _plot(ax, params: Params, agent: str, name: str, label: str, env: str) -> None:
    x, x_max, _ = _axis(params, agent)
    episodes = pd.read_csv(RESULTS_DIR / name / "episodes.csv")
    curves = np.stack(
        [curve(group, x, params.s6.window, x_max) for _, group in episodes.groupby("seed")]
    )
    grid = np.linspace(0, x_max, CURVE_POINTS)
    limits = RETURN_RANGES.get(env, (None, None))
    plot_seeds(ax, grid, curves, label, limits=limits, t_interval=True)


def make_figures(params: Params) -> list:
    """Figure 8/9 counterparts: both policies per agent, SB3 beside the DQN."""
    cfg = params.s6
    paths = []
    for agent, env, x_label in [
        ("tabular", cfg.tabular.env, "episode"),
        ("dqn", cfg.dqn.env, "environment steps"),
    ]:
        fig, (ax,) = subplots(1, width=6, height=3.8)
        for policy in POLICIES:
            label = (
                "ε-greedy" if policy == "epsilon_greedy" else f"softmax (T = {cfg.temperature:g})"
            )
            _plot(ax, params, agent, run_name(agent, policy), label, env)
        if agent == "dqn":
            _plot(ax, params, "sb3", "sb3", "SB3 DQN (zoo hyperparameters)", env)
            ax.axhline(cfg.dqn.threshold, color="grey", linestyle=":", linewidth=1)
        ax.set(
            xlabel=x_label,
            ylabel=f"return ({cfg.window}-episode mean)",
            title=f"{'Tabular Q-learning' if agent == 'tabular' else 'DQN'} on {env}",
        )
        ax.legend()
        paths.append(FIGURES_DIR / f"{agent}_policies.png")
        save_figure(fig, paths[-1])
    log_figures(SECTION, params.profile, paths)
    return paths
