"""The claims stage: every qualitative statement of the report, checked on the current outputs.

The register is paper/report_values.yaml: each claim names the runs and the metric comparison
that decides it (`higher` > `lower` on a metric, two runs `similar` within a tolerance, a run
`at chance`, two metrics `equal`). Some are written once and checked for every architecture,
agent or language-model level the params define. Each is judged over the seeds run:

- holds / fails: the difference of means lies beyond two standard errors (either side);
- inconclusive: it does not, or there is a single seed (no spread to judge by).

Claims on speed are judged on a timing stage's interleaved measurement instead (wall times are
no result of the training runs; see `timings`).

Writes results/claims/: claims.json (one record per claim: section, says, checked, difference,
band = 2 s.e. or null, verdict; a timing claim adds its ratio and how it was measured),
summary.json (counts per section; a DVC metric, so `dvc metrics diff` shows which verdicts a
change moved) and claims.md (the whole register).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import yaml

from dlrepro.config import Params
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import load_metrics, read_json

REGISTER = PAPER / "report_values.yaml"
OUT = RESULTS / "claims"
VERDICTS = ("holds", "fails", "inconclusive")
EQUAL_TOLERANCE = 1e-4
CHANCE_TOLERANCE = 0.02
Claim = dict  # a record: section, says, checked, difference, band, verdict (+ extras)


def compare(higher: dict, lower: dict, n_seeds: int) -> tuple[str, float, float]:
    """Verdict on 'higher > lower' from two {mean, std} summaries over n seeds, with the
    difference of means and its standard error (see the module docstring)."""
    diff = higher["mean"] - lower["mean"]
    se = math.sqrt((higher["std"] ** 2 + lower["std"] ** 2) / n_seeds)
    if n_seeds < 2 or abs(diff) <= 2 * se:
        return "inconclusive", diff, se
    return ("holds" if diff > 0 else "fails"), diff, se


def _record(says: str, checked: str, diff: float, band: float | None, verdict: str) -> Claim:
    return {"says": says, "checked": checked, "difference": diff, "band": band, "verdict": verdict}


def orderings(claims: list[dict], metrics: dict[str, dict], n_seeds: int) -> list[Claim]:
    """'A > B on metric' claims whose two runs params.yaml defines (an ablation may drop some).
    `higher_metric` compares two metrics of runs (often one run's two probe scores)."""
    records = []
    for claim in claims:
        if claim["higher"] not in metrics or claim["lower"] not in metrics:
            continue
        metric = claim["metric"]
        higher_metric = claim.get("higher_metric", metric)
        verdict, diff, se = compare(
            metrics[claim["higher"]][higher_metric], metrics[claim["lower"]][metric], n_seeds
        )
        checked = (
            f"`{claim['higher']}` > `{claim['lower']}` on {metric}"
            if higher_metric == metric
            else f"`{claim['higher']}` {higher_metric} > `{claim['lower']}` {metric}"
        )
        records.append(_record(claim["says"], checked, diff, 2 * se, verdict))
    return records


def equal(claims: list[dict], metrics: dict[str, dict]) -> list[Claim]:
    """'This run gives the same value for both metrics' claims (within EQUAL_TOLERANCE)."""
    records = []
    for claim in claims:
        first, second = (metrics[claim["run"]][m]["mean"] for m in claim["metrics"])
        verdict = "holds" if abs(first - second) <= EQUAL_TOLERANCE else "fails"
        checked = f"`{claim['run']}` {' = '.join(claim['metrics'])} within {EQUAL_TOLERANCE:g}"
        records.append(_record(claim["says"], checked, first - second, None, verdict))
    return records


def similar(claims: list[dict], metrics: dict[str, dict], n_seeds: int) -> list[Claim]:
    """'These two runs give a similar value' claims: holds when the difference with its 2-s.e.
    band lies within `rel_tolerance` of the second run's mean, fails when the band lies wholly
    outside it, inconclusive otherwise (and always with a single seed)."""
    records = []
    for claim in claims:
        first, second = claim["runs"]
        if first not in metrics or second not in metrics:
            continue
        a, b = metrics[first][claim["metric"]], metrics[second][claim["metric"]]
        diff = a["mean"] - b["mean"]
        se = math.sqrt((a["std"] ** 2 + b["std"] ** 2) / n_seeds)
        tolerance = claim["rel_tolerance"] * abs(b["mean"])
        verdict = "inconclusive"
        if n_seeds >= 2 and abs(diff) + 2 * se <= tolerance:
            verdict = "holds"
        elif n_seeds >= 2 and abs(diff) - 2 * se > tolerance:
            verdict = "fails"
        checked = f"`{first}` ≈ `{second}` on {claim['metric']} within {claim['rel_tolerance']:.0%}"
        records.append(_record(claim["says"], checked, diff, 2 * se, verdict))
    return records


def _round_ratios(ratios: dict[str, dict], higher: str, lower: str, metric: str) -> list | None:
    """Each round's `higher` / `lower` ratio on `metric` (timing.json keeps a pair one way
    round, so the other is inverted), or None when the two were not timed together."""
    if f"{higher}/{lower}" in ratios:
        return ratios[f"{higher}/{lower}"][metric]["per_repeat"]
    if f"{lower}/{higher}" in ratios:
        return [1 / ratio for ratio in ratios[f"{lower}/{higher}"][metric]["per_repeat"]]
    return None


def timings(claims: list[dict], timing: dict) -> list[Claim]:
    """'`higher` takes longer than `lower` on metric' claims, judged on an interleaved timing
    (one process, the runs timed in turn within each round): holds when the ratio exceeds 1 in
    every round, fails when it is below 1 in every round, inconclusive when the rounds disagree
    (machine noise larger than the difference) or there is a single round. Claims on runs that
    were not timed together are left out."""
    measurement = (
        f"single-process interleaved measurement on this machine ({timing['device']}, "
        f"{timing['threads']} threads): {timing['repeats']} rounds of {timing['steps']} timed "
        f"steps after {timing['warmup_steps']} warm-up steps"
    )
    records = []
    for claim in claims:
        per_round = _round_ratios(
            timing["ratios"], claim["higher"], claim["lower"], claim["metric"]
        )
        if per_round is None:
            continue
        low, high = min(per_round), max(per_round)
        verdict = "inconclusive"
        if len(per_round) >= 2 and low > 1:
            verdict = "holds"
        elif len(per_round) >= 2 and high < 1:
            verdict = "fails"
        checked = (
            f"`{claim['higher']}` / `{claim['lower']}` {claim['metric']} > 1 in every "
            "interleaved round"
        )
        record = _record(claim["says"], checked, None, None, verdict)
        ratio = {"median": statistics.median(per_round), "range": [low, high]}
        records.append(record | {"ratio": ratio, "measurement": measurement})
    return records


def at_chance(summary: dict[str, float], n_classes: int) -> bool:
    """Whether a mean accuracy is within CHANCE_TOLERANCE of guessing among n classes."""
    return abs(summary["mean"] - 1 / n_classes) <= CHANCE_TOLERANCE


def chance(claims: list[dict], metrics: dict[str, dict], n_classes: int) -> list[Claim]:
    """'This run stays at chance accuracy' claims (within CHANCE_TOLERANCE)."""
    records = []
    for claim in claims:
        acc = metrics[claim["run"]][claim["metric"]]
        verdict = "holds" if at_chance(acc, n_classes) else "fails"
        checked = (
            f"`{claim['run']}` {claim['metric']} within {CHANCE_TOLERANCE} of chance "
            f"({1 / n_classes:.2f})"
        )
        records.append(_record(claim["says"], checked, acc["mean"] - 1 / n_classes, None, verdict))
    return records


def _n_classes(manifest: str) -> int:
    return len(read_json(Path(manifest))["classes"])


def _s1(params: Params, register: dict) -> list[Claim]:
    metrics = load_metrics("s1", params.s1.variants)
    n_classes = _n_classes("data/prepared/s1/manifest.json")
    return orderings(register["orderings"], metrics, len(params.seeds)) + chance(
        register["chance"], metrics, n_classes
    )


def _s2(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s2_cnn_regimes import ARCH_NAMES, TIMING

    def per_arch(claims: list[dict]) -> list[dict]:
        return [
            {
                **claim,
                "higher": claim["higher"].format(arch=arch),
                "lower": claim["lower"].format(arch=arch),
                "says": f"{claim['says']} ({ARCH_NAMES[arch]})",
            }
            for arch in params.s2.archs
            for claim in claims
        ]

    metrics = load_metrics("s2", params.s2.regimes)
    n_classes = _n_classes("data/prepared/s2/target/manifest.json")
    n_seeds = len(params.seeds)
    return (
        orderings(per_arch(register["orderings"]) + register["between_archs"], metrics, n_seeds)
        + timings(per_arch(register["timing"]), read_json(TIMING))
        + chance([c for c in register["chance"] if c["run"] in metrics], metrics, n_classes)
    )


def _s3(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s3_rnn import bleu_key

    cfg, n_seeds = params.s3, len(params.seeds)
    airline = read_json(RESULTS / "s3" / "airline.json")
    windows = {f"window_{w}": airline[f"window_{w}"] for w in cfg.airline.windows}
    records = orderings(register["airline"], windows, n_seeds)
    sentiment = load_metrics("s3", cfg.sentiment.models, prefix="sentiment_")
    records += orderings(register["sentiment"], sentiment, n_seeds)
    records += equal(register["same_score"], sentiment)

    # 3.3 gives no numbers: its statements become comparisons at the temperatures run.
    levels = list(cfg.textgen.levels)
    textgen = load_metrics("s3", levels, prefix="textgen_")
    temperatures = cfg.textgen.temperatures
    low, high = bleu_key("words", min(temperatures)), bleu_key("words", max(temperatures))
    one = bleu_key("words", 1.0 if 1.0 in temperatures else max(temperatures))
    says = register["textgen"]
    claims = [
        {
            "higher": level,
            "higher_metric": low,
            "lower": level,
            "metric": high,
            "says": f"{says['falls_with_temperature']} ({level}-level)",
        }
        for level in levels
    ]
    claims += [
        {
            "higher": "word",
            "lower": "char",
            "metric": key,
            "says": f"{says['word_beats_char']} (on words, T = {t:g})",
        }
        for key, t in ((low, min(temperatures)), (one, 1.0))
    ]
    claims.append(
        {
            "higher": "word",
            "higher_metric": one,
            "lower": "char",
            "metric": one.replace("words", "chars"),
            "says": says["char_units"],
        }
    )
    return records + orderings(claims, textgen, n_seeds)


def _s4(params: Params, register: dict) -> list[Claim]:
    n_seeds = len(params.seeds)
    codes = load_metrics("s4", params.s4.encoders, prefix="autoencoder_")
    denoise = load_metrics("s4", params.s4.denoise.losses, prefix="denoise_")
    return orderings(register["orderings"], codes, n_seeds) + orderings(
        register["denoise"], denoise, n_seeds
    )


def _s5(params: Params, register: dict) -> list[Claim]:
    n_seeds = len(params.seeds)
    generative = load_metrics("s5", params.s5.models, prefix="generate_")
    colourisers = load_metrics("s5", params.s5.colourise.models, prefix="colourise_")
    return orderings(register["orderings"], generative, n_seeds) + similar(
        register["colourise"]["similar"], colourisers, n_seeds
    )


def _s6(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s6_q_learning import POLICIES, run_name

    agents = ("tabular", "dqn")
    metrics = load_metrics("s6", [run_name(a, p) for a in agents for p in POLICIES])
    per_agent = [
        {
            **claim,
            "higher": run_name(agent, claim["higher"]),
            "lower": run_name(agent, claim["lower"]),
            "says": f"{claim['says']} ({agent})",
        }
        for agent in agents
        for claim in register["orderings"]
    ]
    return orderings(per_agent, metrics, len(params.seeds))


OUTCOMES = {
    "holds": "tuning removes the shortfall, so the explanation holds",
    "fails": "the shortfall survives tuning, so these hyperparameters do not explain it",
    "inconclusive": "the report-setting run shows no shortfall at this scale, so there is "
    "nothing for tuning to explain",
}


def _tune(params: Params, register: dict) -> list[Claim]:
    """Each study asks: is there a shortfall at the report's setting (against a reference run
    or chance), and does it survive tuning? Records keep the three summaries for the paper."""
    n_seeds = len(params.seeds)
    records = []
    for name, question in register["questions"].items():
        spec = params.tune.studies[name]
        metric = question["metric"]
        runs = load_metrics(spec.section, [spec.condition, f"{spec.condition}_tuned"])
        setting, tuned = runs[spec.condition][metric], runs[f"{spec.condition}_tuned"][metric]
        if question["reference"] == "chance":
            n_classes = _n_classes(question["manifest"])
            reference, label = {"mean": 1 / n_classes, "std": 0.0}, "chance"

            def short(run: dict, n_classes: int = n_classes) -> bool:
                return at_chance(run, n_classes)
        else:
            label = question["reference"]
            reference = load_metrics(spec.section, [label])[label][metric]

            def short(run: dict, ref: dict = reference) -> bool:
                return compare(run, ref, n_seeds)[0] == "fails"

        verdict = "inconclusive" if not short(setting) else "fails" if short(tuned) else "holds"
        checked = f"`{spec.condition}` short of {label} on {metric}, and still after tuning"
        margin = tuned["mean"] - reference["mean"]
        record = _record(question["says"], checked, margin, None, verdict)
        record |= {
            "study": name,
            "reference_label": label,
            "reference": reference,
            "setting": setting,
            "tuned": tuned,
            "outcome": OUTCOMES[verdict],
        }
        records.append(record)
    return records


SECTIONS: dict[str, tuple[str, Callable[[Params, dict], list[Claim]]]] = {
    # key in report_values.yaml: (title in the paper, the section's claims)
    "s1": ("1 Network training", _s1),
    "s2": ("2 CNN training regimes", _s2),
    "s3": ("3 Recurrent networks", _s3),
    "s4": ("4 Autoencoders", _s4),
    "s5": ("5 Generative models", _s5),
    "s6": ("6 Q-learning", _s6),
    "tune": ("Explanations tested by tuning", _tune),
}


def evaluate(params: Params) -> list[Claim]:
    register = yaml.safe_load(REGISTER.read_text())
    return [
        {"section": section, **record}
        for section, (_, claims) in SECTIONS.items()
        for record in claims(params, register[section])
    ]


def tally(records: list[Claim]) -> dict[str, int]:
    return {verdict: sum(r["verdict"] == verdict for r in records) for verdict in VERDICTS}


def difference_cell(record: Claim) -> str:
    """'+0.012 ± 0.008' (difference ± 2 s.e.), '×1.83 (1.71–1.95)' (a timing claim's ratio:
    median and range over rounds), or the bare difference for exact checks."""
    if "ratio" in record:
        low, high = record["ratio"]["range"]
        return f"×{record['ratio']['median']:.3g} ({low:.3g}–{high:.3g})"
    if record["band"] is None:
        return f"{record['difference']:+.3g}"
    return f"{record['difference']:+.3g} ± {record['band']:.2g}"


def table(records: list[Claim]) -> list[str]:
    """A markdown table of claims: what the report says, how it is checked, the verdict."""
    lines = [
        "| The report says | Checked as | Difference (± 2 s.e.) or ratio (range) | Verdict |",
        "|---|---|---:|---|",
    ]
    for r in records:
        lines.append(f"| {r['says']} | {r['checked']} | {difference_cell(r)} | {r['verdict']} |")
    return lines


def write(params: Params) -> dict:
    records = evaluate(params)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "claims.json").write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    summary = {
        section: tally([r for r in records if r["section"] == section]) for section in SECTIONS
    }
    summary["all"] = tally(records)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    register = []
    for section, (title, _) in SECTIONS.items():
        register += [f"## {title}", "", *table([r for r in records if r["section"] == section])]
        register.append("")
    (OUT / "claims.md").write_text("\n".join(register))
    counts = ", ".join(f"{n} {verdict}" for verdict, n in summary["all"].items())
    print(f"{len(records)} claims checked: {counts} ({OUT}/)")
    return summary
