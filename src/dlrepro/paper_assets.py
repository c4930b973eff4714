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


def pm(summary: dict[str, float], digits: int = 3, scale: float = 1.0) -> str:
    """'mean ± std' for a {mean, std} summary."""
    return f"{summary['mean'] * scale:.{digits}f} ± {summary['std'] * scale:.{digits}f}"


def compare(better: dict, worse: dict, n_seeds: int) -> tuple[str, float, float]:
    """Verdict on 'better > worse' from per-variant {mean, std} over n seeds.

    holds / fails when the difference of means exceeds two standard errors in either direction,
    inconclusive otherwise (always with a single seed, which has no spread to judge by).
    """
    diff = better["mean"] - worse["mean"]
    se = math.sqrt((better["std"] ** 2 + worse["std"] ** 2) / n_seeds)
    if n_seeds < 2 or abs(diff) <= 2 * se:
        return "inconclusive", diff, se
    return ("holds" if diff > 0 else "fails"), diff, se


def _s1_assets(params: Params, report: dict) -> tuple[dict, list[str], list[str]]:
    metrics = {
        name: read_json(RESULTS / "s1" / name / "metrics.json") for name in params.s1.variants
    }
    manifest = read_json(Path("data/prepared/s1/manifest.json"))
    counts = manifest["counts"]
    n_seeds = len(params.seeds)
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
    result = {}
    for name, m in metrics.items():
        result[name] = {
            "val_acc": pm(m["best_val_acc"]),
            "test_acc": pm(m["test_acc"]),
            "epochs": f"{m['epochs']['mean']:.1f}",
            "gap": pm(m["train_val_gap"]),
            "val_acc_pct": f"{100 * m['best_val_acc']['mean']:.1f}",
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

    verdicts = [
        "| The report says | Comparison (best val. acc.) | Difference | Verdict |",
        "|---|---|---:|---|",
    ]
    tally = {"holds": 0, "fails": 0, "inconclusive": 0}
    for claim in report["orderings"]:
        a, b = metrics[claim["better"]], metrics[claim["worse"]]
        verdict, diff, se = compare(a["best_val_acc"], b["best_val_acc"], n_seeds)
        tally[verdict] += 1
        verdicts.append(
            f"| {claim['says']} | `{claim['better']}` > `{claim['worse']}` "
            f"| {100 * diff:+.1f} ± {200 * se:.1f} pts | {verdict} |"
        )
    chance = 1 / len(manifest["classes"])
    for claim in report["chance"]:
        acc = metrics[claim["variant"]]["best_val_acc"]
        verdict = "holds" if abs(acc["mean"] - chance) <= 0.02 else "fails"
        tally[verdict] += 1
        verdicts.append(
            f"| {claim['says']} | `{claim['variant']}` within 2 pts of chance "
            f"({chance:.2f}) | {100 * (acc['mean'] - chance):+.1f} pts | {verdict} |"
        )
    return {"config": config, "result": result, "claims": tally}, table, verdicts


def write_assets(params: Params) -> None:
    report = yaml.safe_load(REPORT_VALUES.read_text())
    s1_values, table1, s1_verdicts = _s1_assets(params, report["s1"])
    variables = {
        "profile": params.profile,
        "n_seeds": len(params.seeds),
        "seeds": ", ".join(map(str, params.seeds)),
        "data_source": params.data.source,
        "s1": s1_values,
    }
    GENERATED.mkdir(parents=True, exist_ok=True)
    VARIABLES.write_text(
        "# Written by the paper_assets stage from DVC outputs; do not edit.\n"
        + yaml.safe_dump(variables, sort_keys=True, allow_unicode=True)
    )
    (GENERATED / "s1_table1.md").write_text("\n".join(table1) + "\n")
    (GENERATED / "s1_orderings.md").write_text("\n".join(s1_verdicts) + "\n")
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
