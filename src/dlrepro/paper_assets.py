"""The paper_assets stage: every number, table and verdict the Quarto paper shows.

Writes paper/_variables.yml (read by `{{< var ... >}}`) and markdown includes under
paper/generated/, all derived from DVC outputs and paper/report_values.yaml (the report's own
numbers). `check_manuscript` proves, without Quarto, that everything the paper cites exists.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from dlrepro.config import Params
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import read_json

GENERATED = PAPER / "generated"
VARIABLES = PAPER / "_variables.yml"
REPORT_VALUES = PAPER / "report_values.yaml"
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def pm(summary: dict[str, float], digits: int = 3) -> str:
    """'mean ± std' for a {mean, std} summary."""
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def compare(higher: dict, lower: dict, n_seeds: int) -> tuple[str, float, float]:
    """Verdict on 'higher > lower' from two {mean, std} summaries over n seeds.

    holds / fails when the difference of means exceeds two standard errors in either direction,
    inconclusive otherwise (always with a single seed, which has no spread to judge by).
    """
    diff = higher["mean"] - lower["mean"]
    se = math.sqrt((higher["std"] ** 2 + lower["std"] ** 2) / n_seeds)
    if n_seeds < 2 or abs(diff) <= 2 * se:
        return "inconclusive", diff, se
    return ("holds" if diff > 0 else "fails"), diff, se


CLAIMS_HEADER = [
    "| The report says | Checked as | Difference (± 2 s.e.) | Verdict |",
    "|---|---|---:|---|",
]


def check_orderings(
    claims: list[dict], metrics: dict[str, dict], n_seeds: int, tally: dict[str, int]
) -> list[str]:
    """One table row per 'A > B on metric' claim; counts verdicts into `tally`."""
    rows = []
    for claim in claims:
        metric = claim["metric"]
        verdict, diff, se = compare(
            metrics[claim["higher"]][metric], metrics[claim["lower"]][metric], n_seeds
        )
        tally[verdict] += 1
        rows.append(
            f"| {claim['says']} | `{claim['higher']}` > `{claim['lower']}` on {metric} "
            f"| {diff:+.3g} ± {2 * se:.2g} | {verdict} |"
        )
    return rows


def _load_metrics(section: str, names) -> dict[str, dict]:
    return {name: read_json(RESULTS / section / name / "metrics.json") for name in names}


def _s1_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    metrics = _load_metrics("s1", params.s1.variants)
    manifest = read_json(Path("data/prepared/s1/manifest.json"))
    counts = manifest["counts"]
    config = {
        "dataset": DATASET_NAMES[params.s1.dataset],
        "n_train": counts["train"],
        "n_val": counts["val"],
        "n_test": counts["test"],
        "max_epochs": params.s1.train.epochs,
        "patience": params.s1.train.patience,
        "lr": params.s1.train.lr,
        "dropout": params.s1.dropout,
    }
    table = [
        "| Method | Report: val. acc. | Reproduced: best val. acc. | Test acc. | Epochs run "
        "| Train − val. gap |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["table1"]:
        m = metrics[row["variant"]]
        table.append(
            f"| {row['label']} | {row['val_acc']:.2f} | {pm(m['best_val_acc'])} "
            f"| {pm(m['test_acc'])} | {m['epochs']['mean']:.1f} | {pm(m['train_val_gap'])} |"
        )
    tally = {"holds": 0, "fails": 0, "inconclusive": 0}
    claims = CLAIMS_HEADER + check_orderings(report["orderings"], metrics, len(params.seeds), tally)
    chance = 1 / len(manifest["classes"])
    for claim in report["chance"]:
        acc = metrics[claim["variant"]]["best_val_acc"]
        verdict = "holds" if abs(acc["mean"] - chance) <= 0.02 else "fails"
        tally[verdict] += 1
        claims.append(
            f"| {claim['says']} | `{claim['variant']}` best_val_acc within 0.02 of "
            f"chance ({chance:.2f}) | {acc['mean'] - chance:+.3g} | {verdict} |"
        )
    values = {"config": config, "claims": tally}
    return values, {"s1_table1.md": table, "s1_claims.md": claims}


def _s6_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    from dlrepro.experiments.s6_q_learning import POLICIES, run_name

    cfg = params.s6
    names = [run_name(agent, policy) for agent in ("tabular", "dqn") for policy in POLICIES]
    metrics = _load_metrics("s6", [*names, "sb3"])
    table = [
        "| Agent | Exploration | Episodes to threshold | Runs reaching it | Final return "
        "| Greedy return | Curve mean (AUC) | Roughness |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"epsilon_greedy": "ε-greedy", "softmax": f"softmax, T = {cfg.temperature:g}"}
    rows = [(f"Tabular, {cfg.tabular.env}", p, run_name("tabular", p)) for p in POLICIES]
    rows += [(f"DQN (report's agent), {cfg.dqn.env}", p, run_name("dqn", p)) for p in POLICIES]
    rows.append((f"SB3 DQN (zoo), {cfg.dqn.env}", "ε-greedy, linear decay", "sb3"))
    for agent, policy, name in rows:
        m = metrics[name]
        table.append(
            f"| {agent} | {labels.get(policy, policy)} | {pm(m['episodes_to_threshold'], 1)} "
            f"| {m['reached']['mean']:.0%} | {pm(m['final_return'], 1)} "
            f"| {pm(m['eval_return'], 1)} | {pm(m['auc'], 1)} | {pm(m['roughness'], 1)} |"
        )
    tally = {"holds": 0, "fails": 0, "inconclusive": 0}
    claims = [
        {
            **claim,
            "higher": run_name(agent, claim["higher"]),
            "lower": run_name(agent, claim["lower"]),
            "says": f"{claim['says']} ({agent})",
        }
        for agent in ("tabular", "dqn")
        for claim in report["orderings"]
    ]
    lines = CLAIMS_HEADER + check_orderings(claims, metrics, len(params.seeds), tally)
    values = {
        "config": {
            "temperature": cfg.temperature,
            "window": cfg.window,
            "tabular_env": cfg.tabular.env,
            "tabular_episodes": cfg.tabular.episodes,
            "tabular_threshold": cfg.tabular.threshold,
            "dqn_env": cfg.dqn.env,
            "dqn_steps": cfg.dqn.total_steps,
            "dqn_threshold": cfg.dqn.threshold,
            "sb3_steps": cfg.sb3.total_steps,
            "eval_episodes": cfg.eval_episodes,
        },
        "sb3_eval_return": pm(metrics["sb3"]["eval_return"], 1),
        "claims": tally,
    }
    return values, {"s6_table.md": table, "s6_claims.md": lines}


def write_assets(params: Params) -> None:
    report = yaml.safe_load(REPORT_VALUES.read_text())
    variables = {
        "profile": params.profile,
        "n_seeds": len(params.seeds),
        "seeds": ", ".join(map(str, params.seeds)),
        "data_source": params.data.source,
    }
    GENERATED.mkdir(parents=True, exist_ok=True)
    for section, build in [("s1", _s1_assets), ("s6", _s6_assets)]:
        values, includes = build(params, report[section])
        variables[section] = values
        for name, lines in includes.items():
            (GENERATED / name).write_text("\n".join(lines) + "\n")
    totals = {
        v: sum(variables[s]["claims"][v] for s in ("s1", "s6"))
        for v in ("holds", "fails", "inconclusive")
    }
    variables["claims"] = totals
    VARIABLES.write_text(
        "# Written by the paper_assets stage from DVC outputs; do not edit.\n"
        + yaml.safe_dump(variables, sort_keys=True, allow_unicode=True)
    )
    print(f"paper assets written: {VARIABLES}, {GENERATED}/")


VAR = re.compile(r"\{\{<\s*var\s+([\w.\-]+)\s*>\}\}")
INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def _lookup(tree: dict, dotted: str) -> object:
    node: object = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_manuscript(paper_dir: Path, dvc_outs: list[Path]) -> list[str]:
    """Problems that would make `quarto render` cite something missing (empty list = complete).

    Every `{{< var >}}` must resolve in _variables.yml, and every include and figure must exist
    and lie inside a DVC output, so nothing the paper shows is typed by hand or left stale.
    """
    problems = []
    variables_path = paper_dir / "_variables.yml"
    variables = yaml.safe_load(variables_path.read_text()) if variables_path.exists() else {}
    outs = [out.resolve() for out in dvc_outs]

    def produced(path: Path) -> bool:
        return path.exists() and any(path.resolve().is_relative_to(out) for out in outs)

    pending = sorted(paper_dir.glob("*.qmd"))
    seen: set[Path] = set()
    while pending:
        source = pending.pop()
        if source in seen:
            continue
        seen.add(source)
        text = source.read_text()
        for key in VAR.findall(text):
            value = _lookup(variables, key)
            if value is None or isinstance(value, dict):
                problems.append(f"{source.name}: var {key!r} is not a value in _variables.yml")
        for target in INCLUDE.findall(text):
            path = source.parent / target
            if not produced(path):
                problems.append(f"{source.name}: include {target} is not a DVC output")
            elif path.suffix in {".md", ".qmd"}:
                pending.append(path)
        for target in IMAGE.findall(text):
            if not produced(source.parent / target):
                problems.append(f"{source.name}: figure {target} is not a DVC output")
    return problems


def dvc_output_paths(root: Path = Path(".")) -> list[Path]:
    """Every output (outs, metrics, plots) that dvc.yaml and the .dvc files declare."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return [Path(out.fs_path) for out in repo.index.outs]
