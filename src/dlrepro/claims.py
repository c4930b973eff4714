"""The claims stage: every qualitative statement of the report, checked on the current outputs.

The register is paper/report_values.yaml: each claim names the runs and the comparison that
decides it. Some are written once and checked for every architecture, agent or language-model
level the params define. Claims are tested on the per-seed values of each run's runs.csv:

- orderings ('`higher` > `lower` on a metric'): Welch's t-test between two runs, or the paired
  t-test of the per-seed differences when both sides are one run (two of its metrics, seeds
  matched). Recorded: the difference of means, its 95 % confidence interval and the two-sided
  p. Holds when the interval lies above 0, fails when it lies below, inconclusive otherwise; an
  ordering left inconclusive states the seeds per run that would detect the observed effect
  (Cohen's d) with 80 % power within its Holm family (see `adjust`).
- similarity ('two runs give a similar value'): equivalence test (TOST) against the margin the
  register states for the claim. Holds when TOST's p < 0.05; fails when the 95 % interval of the
  difference lies wholly outside the margin (p: the t-test against the nearer margin);
  inconclusive otherwise.
- censored measures (episodes to a return threshold: a seed that never reaches it records the
  episodes it ran): tested as an ordering only when every seed of both runs reached the
  threshold, inconclusive otherwise, with the fraction of seeds that reached it.
- exact checks (a run at chance, two metrics equal) compare means within a tolerance; claims on
  speed are judged on a timing stage's interleaved measurement (`timings`: one process, not
  seeds); the tuning questions combine two tests (`_tune`). None of these has a p-value.

The claims with a p-value form two families, each Holm-adjusted: the report's claims, and our
additions (claims the report does not make: EfficientNet-Lite0 in Section 2, the tabular agent
in Section 6), so that checking more than the report asked never weakens its own claims.
`verdict_raw` is each claim's verdict at p < 0.05 on its own; `verdict`, the one reported and
counted, stands only when the Holm-adjusted p < 0.05 (in the same direction), else inconclusive.

Writes results/claims/: claims.json (one record per claim, the fields of `_record` plus
extras), summary.json (verdict counts of the report's claims per section and over `all`, and
of our `additions` apart; a DVC metric, so `dvc metrics diff` shows which verdicts a change
moved) and claims.md (the whole register).
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.weightstats import ttost_ind
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from dlrepro.config import Params
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import mean_std, read_json
from dlrepro.sections import SECTIONS, resolve

REGISTER = PAPER / "report_values.yaml"
OUT = RESULTS / "claims"
VERDICTS = ("holds", "fails", "inconclusive")
ORIGINS = ("report", "addition")
ALPHA = 0.05
POWER = 0.8
# Below this |Cohen's d| a run would need over 6,000 seeds to show the effect at 80 % power.
NEGLIGIBLE_EFFECT = 0.05
EQUAL_TOLERANCE = 1e-4
CHANCE_TOLERANCE = 0.02
WELCH, PAIRED = "Welch t", "paired t"
Claim = dict  # a record: the fields of `_record`, plus extras of some kinds of claim


def load_runs(folder: str, names: Iterable[str], prefix: str = "") -> dict[str, pd.DataFrame]:
    """runs.csv of results/<folder>/<prefix><name> (one row per seed, indexed by seed) for each
    name, keyed by name."""
    return {
        name: pd.read_csv(RESULTS / folder / f"{prefix}{name}" / "runs.csv", index_col="seed")
        for name in names
    }


def _record(claim: dict, checked: str, test: str, verdict: str, **fields) -> Claim:
    """A claims.json record with every field (None where the claim's test has none)."""
    return {
        "origin": claim.get("origin", "report"),
        "says": claim["says"],
        "checked": checked,
        "test": test,
        "difference": None,
        "ci_low": None,
        "ci_high": None,
        "p_raw": None,
        "p_holm": None,
        "verdict_raw": verdict,
        "verdict": verdict,
        "seeds_needed": None,
        "margin": None,
        **fields,
    }


def _finite(value: float) -> float | None:
    """A statistic for JSON: None where the seeds gave none (NaN: no spread, too few seeds)."""
    return None if math.isnan(value) else float(value)


def _decide(direction: str, p: float | None) -> str:
    """`direction` (holds or fails) when p < ALPHA, else inconclusive."""
    return direction if p is not None and p < ALPHA else "inconclusive"


def _seeds(higher: pd.Series, lower: pd.Series, paired: bool) -> tuple[pd.Series, pd.Series]:
    """The per-seed values a test uses: seeds without a value left out; paired, only the seeds
    with both values, in the same order."""
    higher, lower = higher.dropna(), lower.dropna()
    return higher.align(lower, join="inner") if paired else (higher, lower)


def _ttest(higher: pd.Series, lower: pd.Series, paired: bool):
    return (
        stats.ttest_rel(higher, lower)
        if paired
        else stats.ttest_ind(higher, lower, equal_var=False)
    )


def difference_test(higher: pd.Series, lower: pd.Series, paired: bool) -> dict:
    """Mean of `higher` − mean of `lower` over seeds, its 95 % CI and the two-sided p: Welch's
    t-test (with its own degrees of freedom, `df`), or paired, the t-test of the per-seed
    differences (seeds matched by index). Also Cohen's d and the seeds used on each side."""
    higher, lower = _seeds(higher, lower, paired)
    result = _ttest(higher, lower, paired)
    ci = result.confidence_interval(1 - ALPHA)
    if paired:  # d_z: the mean per-seed difference in standard deviations of the differences
        effect = (higher - lower).mean() / (higher - lower).std()
    else:  # the difference in pooled per-seed standard deviations
        pooled = ((len(higher) - 1) * higher.var() + (len(lower) - 1) * lower.var()) / (
            len(higher) + len(lower) - 2
        )
        effect = (higher.mean() - lower.mean()) / math.sqrt(pooled)
    return {
        "test": PAIRED if paired else WELCH,
        "difference": _finite(higher.mean() - lower.mean()),
        "ci_low": _finite(ci.low),
        "ci_high": _finite(ci.high),
        "p_raw": _finite(result.pvalue),
        "df": _finite(result.df),
        "effect_size": _finite(effect),
        "n_seeds": [len(higher), len(lower)],
    }


def ordering_verdict(test: dict) -> str:
    """holds when the difference's CI lies above 0 (p < ALPHA, difference > 0), fails when it
    lies below, inconclusive otherwise."""
    if test["difference"] is None:
        return "inconclusive"
    return _decide("holds" if test["difference"] > 0 else "fails", test["p_raw"])


def equivalence_test(first: pd.Series, second: pd.Series, margin: float) -> dict:
    """Whether the difference of two runs' means lies within ±margin (Welch throughout): when
    the observed difference does, p is TOST's (direction holds); when it does not, p is the
    two-sided t-test against the nearer margin (direction fails: p < ALPHA when the 95 % CI
    lies wholly beyond it). Returns `difference_test`'s fields with that p and direction."""
    test = difference_test(first, second, paired=False)
    first, second = _seeds(first, second, paired=False)
    if test["difference"] is None:
        return test | {"p_raw": None, "direction": "inconclusive"}
    if abs(test["difference"]) < margin:
        p = ttost_ind(first, second, -margin, margin, usevar="unequal")[0]
        direction = "holds"
    else:
        beyond = math.copysign(margin, test["difference"])
        p = _ttest(first - beyond, second, paired=False).pvalue
        direction = "fails"
    return test | {"p_raw": _finite(p), "direction": direction}


def seeds_needed(effect_size: float | None, paired: bool, alpha: float = ALPHA) -> int | str | None:
    """Seeds per run for the t-test to detect `effect_size` (Cohen's d) with POWER at `alpha`,
    rounded up; 'no effect observed' for a negligible d; None with no spread to size it by."""
    if effect_size is None:
        return None
    if abs(effect_size) < NEGLIGIBLE_EFFECT:
        return "no effect observed"
    with warnings.catch_warnings():  # no root: handled below
        warnings.simplefilter("ignore", ConvergenceWarning)
        if paired:
            n = TTestPower().solve_power(effect_size=abs(effect_size), alpha=alpha, power=POWER)
        else:
            n = TTestIndPower().solve_power(
                effect_size=abs(effect_size), alpha=alpha, power=POWER, ratio=1
            )
    # The solver finds no root for effects of many deviations, which two seeds already show.
    return 2 if math.isnan(n) else math.ceil(n)


def orderings(claims: list[dict], runs: dict[str, pd.DataFrame]) -> list[Claim]:
    """'A > B on metric' claims whose two runs params.yaml defines (an ablation may drop some).
    `higher_metric` compares two metrics of runs (often one run's two probe scores); a claim on
    one run is paired over its seeds. `censored_unless` names the runs.csv column that says
    whether a seed's value was observed (see the module docstring)."""
    records = []
    for claim in claims:
        if claim["higher"] not in runs or claim["lower"] not in runs:
            continue
        higher, lower = runs[claim["higher"]], runs[claim["lower"]]
        metric = claim["metric"]
        higher_metric = claim.get("higher_metric", metric)
        checked = (
            f"`{claim['higher']}` > `{claim['lower']}` on {metric}"
            if higher_metric == metric
            else f"`{claim['higher']}` {higher_metric} > `{claim['lower']}` {metric}"
        )
        extras = {}
        if "censored_unless" in claim:
            observed = claim["censored_unless"]
            counts = [f"{int(run[observed].sum())}/{len(run)}" for run in (higher, lower)]
            checked += f" (threshold reached by {counts[0]} and {counts[1]} seeds)"
            extras["reached"] = [float(run[observed].mean()) for run in (higher, lower)]
            if min(extras["reached"]) < 1:
                records.append(
                    _record(
                        claim,
                        checked,
                        "censored: not every seed reached the threshold",
                        "inconclusive",
                        **extras,
                    )
                )
                continue
        test = difference_test(
            higher[higher_metric], lower[metric], paired=claim["higher"] == claim["lower"]
        )
        records.append(_record(claim, checked, verdict=ordering_verdict(test), **test, **extras))
    return records


def equal(claims: list[dict], runs: dict[str, pd.DataFrame]) -> list[Claim]:
    """'This run gives the same value for both metrics' claims (means within EQUAL_TOLERANCE)."""
    records = []
    for claim in claims:
        first, second = (mean_std(runs[claim["run"]][m].tolist())["mean"] for m in claim["metrics"])
        verdict = "holds" if abs(first - second) <= EQUAL_TOLERANCE else "fails"
        checked = f"`{claim['run']}` {' = '.join(claim['metrics'])} within {EQUAL_TOLERANCE:g}"
        records.append(
            _record(claim, checked, "exact check", verdict, difference=float(first - second))
        )
    return records


def similar(claims: list[dict], runs: dict[str, pd.DataFrame]) -> list[Claim]:
    """'These two runs give a similar value' claims: an equivalence test against the claim's
    absolute `margin` (see `equivalence_test`)."""
    records = []
    for claim in claims:
        first, second = claim["runs"]
        if first not in runs or second not in runs:
            continue
        metric, margin = claim["metric"], claim["margin"]
        test = equivalence_test(runs[first][metric], runs[second][metric], margin)
        direction = test.pop("direction")
        test.pop("effect_size")  # sizes an ordering's seeds; an equivalence margin is no effect
        checked = f"`{first}` ≈ `{second}` on {metric} within ±{margin:g}"
        records.append(
            _record(
                claim,
                checked,
                verdict=_decide(direction, test["p_raw"]),
                **test | {"test": "TOST (Welch)", "margin": margin},
            )
        )
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
    (machine noise larger than the difference) or there is a single round. A single process's
    rounds are no sample of seeds: no p-value, outside the Holm families. Claims on runs that
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
        ratio = {"median": statistics.median(per_round), "range": [low, high]}
        records.append(
            _record(
                claim,
                checked,
                "interleaved timing",
                verdict,
                ratio=ratio,
                measurement=measurement,
            )
        )
    return records


def at_chance(mean: float, n_classes: int) -> bool:
    """Whether a mean accuracy is within CHANCE_TOLERANCE of guessing among n classes."""
    return abs(mean - 1 / n_classes) <= CHANCE_TOLERANCE


def chance(claims: list[dict], runs: dict[str, pd.DataFrame], n_classes: int) -> list[Claim]:
    """'This run stays at chance accuracy' claims (mean within CHANCE_TOLERANCE)."""
    records = []
    for claim in claims:
        mean = mean_std(runs[claim["run"]][claim["metric"]].tolist())["mean"]
        verdict = "holds" if at_chance(mean, n_classes) else "fails"
        checked = (
            f"`{claim['run']}` {claim['metric']} within {CHANCE_TOLERANCE} of chance "
            f"({1 / n_classes:.2f})"
        )
        records.append(
            _record(claim, checked, "exact check", verdict, difference=mean - 1 / n_classes)
        )
    return records


def _n_classes(manifest: str) -> int:
    return len(read_json(Path(manifest))["classes"])


def _s1(params: Params, register: dict) -> list[Claim]:
    runs = load_runs("s1", params.s1.variants)
    n_classes = _n_classes("data/prepared/s1/manifest.json")
    return orderings(register["orderings"], runs) + chance(register["chance"], runs, n_classes)


def _s2(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s2_cnn_regimes import ARCH_NAMES, TIMING

    def per_arch(claims: list[dict]) -> list[dict]:
        """Each claim for every arch; the report's own archs' are its claims, others ours."""
        return [
            {
                **claim,
                "higher": claim["higher"].format(arch=arch),
                "lower": claim["lower"].format(arch=arch),
                "says": f"{claim['says']} ({ARCH_NAMES[arch]})",
                "origin": "report" if arch in register["report_archs"] else "addition",
            }
            for arch in params.s2.archs
            for claim in claims
        ]

    runs = load_runs("s2", params.s2.regimes)
    n_classes = _n_classes("data/prepared/s2/target/manifest.json")
    return (
        orderings(per_arch(register["orderings"]) + register["between_archs"], runs)
        + timings(per_arch(register["timing"]), read_json(TIMING))
        + chance([c for c in register["chance"] if c["run"] in runs], runs, n_classes)
    )


def _s3(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s3_text_generation import bleu_key

    cfg = params.s3
    windows = load_runs("s3/airline", [f"window_{w}" for w in cfg.airline.windows])
    records = orderings(register["airline"], windows)
    records += similar(register["airline_similar"], windows)
    sentiment = load_runs("s3", cfg.sentiment.models, prefix="sentiment_")
    records += orderings(register["sentiment"], sentiment)
    records += equal(register["same_score"], sentiment)

    # 3.3 gives no numbers: its statements become comparisons at the temperatures run.
    levels = list(cfg.textgen.levels)
    textgen = load_runs("s3", levels, prefix="textgen_")
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
    return records + orderings(claims, textgen)


def _s4(params: Params, register: dict) -> list[Claim]:
    codes = load_runs("s4", params.s4.encoders, prefix="autoencoder_")
    denoise = load_runs("s4", params.s4.denoise.losses, prefix="denoise_")
    return orderings(register["orderings"], codes) + orderings(register["denoise"], denoise)


def _s5(params: Params, register: dict) -> list[Claim]:
    generative = load_runs("s5", params.s5.models, prefix="generate_")
    colourisers = load_runs("s5", params.s5.colourise.models, prefix="colourise_")
    return orderings(register["orderings"], generative) + similar(
        register["colourise"]["similar"], colourisers
    )


def _s6(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s6_q_learning import POLICIES, run_name

    agents = ("tabular", "dqn")
    runs = load_runs("s6", [run_name(a, p) for a in agents for p in POLICIES])
    per_agent = [
        {
            **claim,
            "higher": run_name(agent, claim["higher"]),
            "lower": run_name(agent, claim["lower"]),
            "says": f"{claim['says']} ({agent})",
            "origin": "report" if agent in register["report_agents"] else "addition",
        }
        for agent in agents
        for claim in register["orderings"]
    ]
    return orderings(per_agent, runs)


OUTCOMES = {
    "holds": "tuning removes the shortfall, so the explanation holds",
    "fails": "the shortfall survives tuning, so these hyperparameters do not explain it",
    "inconclusive": "the report-setting run shows no shortfall at this scale, so there is "
    "nothing for tuning to explain",
}


def _tune(params: Params, register: dict) -> list[Claim]:
    """Each study asks: is there a shortfall at the report's setting (against a reference run:
    Welch's t-test; or chance), and does it survive tuning? Two tests make one verdict, so it has
    no single p-value and stays outside the Holm families. Records keep the three summaries
    (mean and std over seeds) for the paper."""
    records = []
    for name, question in register["questions"].items():
        spec = params.tune.studies[name]
        metric = question["metric"]
        runs = load_runs(spec.section, [spec.condition, f"{spec.condition}_tuned"])
        setting, tuned = runs[spec.condition][metric], runs[f"{spec.condition}_tuned"][metric]
        if question["reference"] == "chance":
            n_classes = _n_classes(question["manifest"])
            reference, label = {"mean": 1 / n_classes, "std": 0.0}, "chance"
            test = f"mean within {CHANCE_TOLERANCE} of chance, before and after tuning"

            def short(run: pd.Series, n_classes: int = n_classes) -> bool:
                return at_chance(run.mean(), n_classes)
        else:
            label = question["reference"]
            reference_run = load_runs(spec.section, [label])[label][metric]
            reference = mean_std(reference_run.tolist())
            test = f"{WELCH} against the reference, before and after tuning"

            def short(run: pd.Series, ref: pd.Series = reference_run) -> bool:
                return ordering_verdict(difference_test(run, ref, paired=False)) == "fails"

        verdict = "inconclusive" if not short(setting) else "fails" if short(tuned) else "holds"
        checked = f"`{spec.condition}` short of {label} on {metric}, and still after tuning"
        records.append(
            _record(
                question,
                checked,
                test,
                verdict,
                difference=float(tuned.mean() - reference["mean"]),
                study=name,
                reference_label=label,
                reference=reference,
                setting=mean_std(setting.tolist()),
                tuned=mean_std(tuned.tolist()),
                outcome=OUTCOMES[verdict],
            )
        )
    return records


def adjust(records: list[Claim]) -> None:
    """Holm-adjust the p-values of each origin's claims as one family and set `verdict`: the raw
    verdict where the adjusted p < ALPHA, else inconclusive. An ordering left inconclusive gets
    the seeds it would need to be settled within its family: at the Bonferroni level ALPHA / m,
    the most Holm's adjustment can ask of one claim (at ALPHA alone, a difference Holm set
    aside would seem to need fewer seeds than were run). In place."""
    for origin in ORIGINS:
        family = [r for r in records if r["origin"] == origin and r["p_raw"] is not None]
        if not family:
            continue
        adjusted = multipletests([r["p_raw"] for r in family], alpha=ALPHA, method="holm")[1]
        for record, p in zip(family, adjusted, strict=True):
            record["p_holm"] = float(p)
            record["verdict"] = record["verdict_raw"] if p < ALPHA else "inconclusive"
            if record["verdict"] == "inconclusive" and record["test"] in (WELCH, PAIRED):
                needed = seeds_needed(
                    record["effect_size"], record["test"] == PAIRED, alpha=ALPHA / len(family)
                )
                # The power analysis assumes equal spreads (Welch's df can be far lower): where
                # it asks no more seeds than were run, these did not settle it, so at least one
                # more.
                if isinstance(needed, int):
                    needed = max(needed, max(record["n_seeds"]) + 1)
                record["seeds_needed"] = needed


def evaluate(params: Params) -> list[Claim]:
    register = yaml.safe_load(REGISTER.read_text())
    records = [
        {"section": key, **record}
        for key, section in SECTIONS.items()
        for record in resolve(section.claims)(params, register[key])
    ]
    adjust(records)
    return records


def tally(records: list[Claim]) -> dict[str, int]:
    return {verdict: sum(r["verdict"] == verdict for r in records) for verdict in VERDICTS}


def summarise(records: list[Claim]) -> dict:
    """Verdict counts of the report's claims per section and over `all`, and the same for our
    additions apart under `additions` (summary.json)."""

    def per_section(chosen: list[Claim]) -> dict[str, dict[str, int]]:
        counts = {s: tally([r for r in chosen if r["section"] == s]) for s in SECTIONS}
        return counts | {"all": tally(chosen)}

    additions = [r for r in records if r["origin"] == "addition"]
    return per_section([r for r in records if r["origin"] == "report"]) | {
        "additions": per_section(additions)
    }


def _number(value: float) -> str:
    return f"{value:.3g}"


def difference_cell(record: Claim) -> str:
    """'+0.0123 [0.00812, 0.0165]' (difference of means and its 95 % CI), '×1.83 (1.71–1.95)'
    (a timing claim's ratio: median and range over rounds), the bare difference for exact
    checks, '—' where none is estimated (censored)."""
    if "ratio" in record:
        low, high = record["ratio"]["range"]
        return f"×{_number(record['ratio']['median'])} ({_number(low)}–{_number(high)})"
    if record["difference"] is None:
        return "—"
    if record["ci_low"] is None:
        return f"{record['difference']:+.3g}"
    return (
        f"{record['difference']:+.3g} [{_number(record['ci_low'])}, {_number(record['ci_high'])}]"
    )


def table(records: list[Claim]) -> list[str]:
    """A markdown table of claims: what the report says, how it is checked, the difference with
    its CI, p raw and Holm-adjusted, the verdict (the raw one beside it where Holm changed it)
    and, for an inconclusive ordering, the seeds it would need. Our additions are marked."""
    lines = [
        "| The report says | Checked as | Difference [95 % CI] | p (Holm) | Verdict "
        "| Seeds needed |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in records:
        says = r["says"] + (" *(our addition)*" if r["origin"] == "addition" else "")
        p = "—" if r["p_raw"] is None else f"{_number(r['p_raw'])} ({_number(r['p_holm'])})"
        verdict = r["verdict"]
        if r["verdict_raw"] != verdict:
            verdict += f" (raw: {r['verdict_raw']})"
        needed = r["seeds_needed"]
        needed = f"≥ {needed} seeds" if isinstance(needed, int) else needed or ""
        lines.append(
            f"| {says} | {r['checked']} | {difference_cell(r)} | {p} | {verdict} | {needed} |"
        )
    return lines


RULE = (
    "Verdicts: orderings by Welch's t-test between runs (paired t-test within a run), "
    "similarity by TOST against the stated margin; the verdict shown is Holm-adjusted over "
    "the report's claims as one family and our additions as another (raw verdict in brackets "
    "where the adjustment changed it). Exact checks, timing and tuning claims have no p-value."
)


def write(params: Params) -> dict:
    records = evaluate(params)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "claims.json").write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    summary = summarise(records)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    register = [RULE, ""]
    for key, section in SECTIONS.items():
        register += [f"## {section.title}", "", *table([r for r in records if r["section"] == key])]
        register.append("")
    (OUT / "claims.md").write_text("\n".join(register))
    for label, counts in (
        ("the report's", summary["all"]),
        ("our additions'", summary["additions"]["all"]),
    ):
        shown = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
        print(f"{sum(counts.values())} of {label} claims checked: {shown}")
    print(f"written to {OUT}/")
    return summary
