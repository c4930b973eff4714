"""The claims stage: every qualitative statement of the report, checked on the current outputs.

The register is paper/report_values.yaml: each claim names the runs and the comparison that
decides it. Some are written once and checked for every architecture, agent or language-model
level the params define. Claims are tested on the per-seed values of each run's runs.csv:

- orderings ('`higher` > `lower` on a metric'): Welch's t-test between two runs, or the paired
  t-test of the per-seed differences when both sides are one run (two of its metrics, seeds
  matched). Recorded: the difference of means, its 95 % confidence interval and the two-sided
  p. Holds when the interval lies above 0, fails when it lies below, inconclusive otherwise; an
  ordering left inconclusive states the smallest difference its seeds detect with 80 % power
  (`detectable`, in the claim's units) and the seeds per run that would detect the observed
  effect (Hedges' g: Cohen's d corrected for its upward bias at few seeds) at the threshold its
  verdict must reach (see `adjust`).
- similarity ('two runs give a similar value'): equivalence test (TOST) against the margin the
  register states for the claim. Holds when TOST's p < 0.05; fails when the 95 % interval of the
  difference lies wholly outside the margin (p: the t-test against the nearer margin);
  inconclusive otherwise, stating the seeds per run TOST would need (`equivalence_seeds_needed`).
- censored measures (episodes to a return threshold: a seed that never reaches it records the
  episodes it ran): tested as an ordering only when every seed of both runs reached the
  threshold, inconclusive otherwise, with the fraction of seeds that reached it (more seeds do
  not settle it: longer runs do).
- exact checks (a run at chance, two metrics equal) compare means within a tolerance; claims on
  speed are judged on a timing stage's interleaved measurement (`timings`: one process, not
  seeds); the tuning questions combine two tests (`_tune`). None of these has a p-value.

The claims with a p-value form two families: the report's claims, and our additions (claims the
report does not make: EfficientNet-Lite0 in Section 2, the tabular agent in Section 6), so that
checking more than the report asked never weakens its own claims. `verdict_raw` is each claim's
verdict at p < 0.05 on its own. `verdict`, the one reported and counted, stands where the
Benjamini-Hochberg adjusted p < 0.05 (in the same direction), else inconclusive: among the
claims a family declares decisive, at most 5 % are expected to be wrong (the false discovery
rate). `verdict_holm` is the family-wise view beside it: Holm's adjusted p < 0.05, so the chance
that even one claim of the family is declared wrongly stays below 5 %.

Each section's claims rest on a regime, which the register states and the outputs are checked
for (`regime`): a baseline that overfits and runs ended by early stopping (Section 1), a base
that learned its source task and regimes that converge (2), trained runs that converge (3-5):
converged means early stopping ended the run before its epoch cap in every seed but at most one,
metrics that separate real from random output (the calibration stage's BLEU, IS and SSIM),
speed timed side by side. Each claim records the checks its runs rest on (`regime`); one whose
check fails is "not testable here" (`not_testable_because`), keeps its statistic and leaves
its family.

Writes results/claims/: claims.json (one record per claim, the fields of `_record` plus
extras), summary.json (verdict counts of the report's claims per section and over `all`, and
of our `additions` apart; a DVC metric, so `dvc metrics diff` shows which verdicts a change
moved) and claims.md (the whole register).
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.weightstats import ttost_ind
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from dlrepro import markdown
from dlrepro.config import Params
from dlrepro.paths import PAPER, PREPARED, RESULTS
from dlrepro.results import mean_std, read_json
from dlrepro.sections import SECTIONS, resolve

REGISTER = PAPER / "report_values.yaml"
OUT = RESULTS / "claims"
CALIBRATION = RESULTS / "calibration" / "calibration.json"  # written by dlrepro.calibration
NOT_TESTABLE = "not testable here"
VERDICTS = ("holds", "fails", "inconclusive", NOT_TESTABLE)
ORIGINS = ("report", "addition")
ALPHA = 0.05
POWER = 0.8
FALSE_DISCOVERY_RATE = 0.05
"""The headline verdicts' Benjamini-Hochberg level (Holm's family-wise view uses ALPHA)."""
UNCAPPED_BUT = 1
"""Converged: early stopping ended every seed's run before the cap but at most this many."""
# Below this |Cohen's d| a run would need over 6,000 seeds to show the effect at 80 % power.
NEGLIGIBLE_EFFECT = 0.05
EQUAL_TOLERANCE = 1e-4
CHANCE_TOLERANCE = 0.02
WELCH, PAIRED, TOST = "Welch t", "paired t", "TOST (Welch)"
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
        "p_bh": None,
        "p_holm": None,
        "verdict_raw": verdict,
        "verdict": verdict,
        "verdict_holm": verdict,
        "detectable": None,
        "seeds_needed": None,
        "margin": None,
        "runs": [],
        "regime": [],
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


def pooled_sd(first: pd.Series, second: pd.Series) -> float:
    """The two runs' per-seed standard deviation, pooled."""
    pooled = ((len(first) - 1) * first.var() + (len(second) - 1) * second.var()) / (
        len(first) + len(second) - 2
    )
    return math.sqrt(pooled)


def difference_test(higher: pd.Series, lower: pd.Series, paired: bool) -> dict:
    """Mean of `higher` − mean of `lower` over seeds, its 95 % CI and the two-sided p: Welch's
    t-test (with its own degrees of freedom, `df`), or paired, the t-test of the per-seed
    differences (seeds matched by index). Also Cohen's d and the seeds used on each side."""
    higher, lower = _seeds(higher, lower, paired)
    result = _ttest(higher, lower, paired)
    ci = result.confidence_interval(1 - ALPHA)
    # Paired, d_z: the mean per-seed difference in standard deviations of the differences;
    # between runs, the difference in pooled per-seed standard deviations.
    spread = (higher - lower).std() if paired else pooled_sd(higher, lower)
    effect = (higher.mean() - lower.mean()) / spread
    return {
        "test": PAIRED if paired else WELCH,
        "difference": _finite(higher.mean() - lower.mean()),
        "ci_low": _finite(ci.low),
        "ci_high": _finite(ci.high),
        "p_raw": _finite(result.pvalue),
        "df": _finite(result.df),
        "effect_size": _finite(effect),
        "hedges_g": _finite(effect * hedges_correction(len(higher), len(lower), paired)),
        "spread": _finite(spread),
        "n_seeds": [len(higher), len(lower)],
    }


def hedges_correction(n_higher: int, n_lower: int, paired: bool) -> float:
    """Hedges' factor J that takes Cohen's d's upward bias out at few seeds: g = J d, with
    J = 1 - 3 / (4 df - 1) for the test's df (n1 + n2 - 2 between runs; n - 1 paired). NaN
    below two degrees of freedom."""
    df = n_higher - 1 if paired else n_higher + n_lower - 2
    return 1 - 3 / (4 * df - 1) if df >= 2 else math.nan


def detectable_difference(
    n_seeds: list[int], spread: float | None, paired: bool, alpha: float
) -> float | None:
    """The smallest true difference (in the metric's units) the t-test detects with POWER at
    `alpha` given these seeds and this per-seed spread (pooled, or of the paired differences):
    the effect size statsmodels solves for, times the spread. None without a spread."""
    if spread is None or min(n_seeds) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if paired:
            d = TTestPower().solve_power(nobs=n_seeds[0], alpha=alpha, power=POWER)
        else:
            d = TTestIndPower().solve_power(
                nobs1=n_seeds[0], ratio=n_seeds[1] / n_seeds[0], alpha=alpha, power=POWER
            )
    return _finite(d * spread)


def detectable_margin(
    difference: float | None, spread: float | None, n_seeds: list[int], alpha: float
) -> float | None:
    """The narrowest margin TOST shows with POWER at `alpha` given these seeds, if the true
    difference is the observed one (the normal approximation `equivalence_seeds_needed`
    inverts: |difference| + σ (z₁₋α + z_power) √(1/n1 + 1/n2))."""
    if difference is None or spread is None:
        return None
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)
    return abs(difference) + spread * z * math.sqrt(1 / n_seeds[0] + 1 / n_seeds[1])


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


def equivalence_seeds_needed(
    difference: float | None, spread: float | None, margin: float, alpha: float = ALPHA
) -> int | str | None:
    """Seeds per run for TOST to show |difference| < margin with POWER at `alpha`, given the
    observed difference and pooled per-seed spread (the normal approximation of Chow, Shao and
    Wang, Sample Size Calculations in Clinical Research, 2008: n = 2 σ² (z₁₋α + z_power)² /
    (margin − |difference|)²), rounded up; 'no equivalence observed' when the difference is
    at or beyond the margin; None with no spread to size it by."""
    if difference is None or spread is None:
        return None
    if abs(difference) >= margin:
        return "no equivalence observed"
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(POWER)
    return math.ceil(2 * (spread * z / (margin - abs(difference))) ** 2)


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
        extras = {
            "runs": sorted({claim["higher"], claim["lower"]}),
            "metrics": sorted({higher_metric, metric}),
        }
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
                        seeds_needed="longer runs, not more seeds (censored)",
                        **extras,
                    )
                )
                continue
        if higher_metric not in higher or metric not in lower:  # see `measured`
            records.append(_record(claim, checked, "not measured", "inconclusive", **extras))
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
            _record(
                claim,
                checked,
                "exact check",
                verdict,
                difference=float(first - second),
                runs=[claim["run"]],
            )
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
        # Sizes an ordering's seeds; an equivalence margin is no effect.
        test.pop("effect_size"), test.pop("hedges_g")
        checked = f"`{first}` ≈ `{second}` on {metric} within ±{margin:g}"
        records.append(
            _record(
                claim,
                checked,
                verdict=_decide(direction, test["p_raw"]),
                **test | {"test": TOST, "margin": margin, "runs": sorted(claim["runs"])},
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
                runs=sorted({claim["higher"], claim["lower"]}),
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
            _record(
                claim,
                checked,
                "exact check",
                verdict,
                difference=mean - 1 / n_classes,
                runs=[claim["run"]],
            )
        )
    return records


def _n_classes(manifest: str) -> int:
    return len(read_json(Path(manifest))["classes"])


# Regimes: the conditions a section's claims rest on, checked on the same outputs ------------

# says, checked (with the observed value), passed, runs (whose claims rest on it) and, for a
# metric's calibration, metrics (the claims on metrics named so or so prefixed rest on it)
Regime = dict


def regime(
    says: str,
    checked: str,
    passed: bool,
    runs: Iterable[str],
    metrics: Iterable[str] | None = None,
) -> Regime:
    return {
        "says": says,
        "checked": checked,
        "passed": bool(passed),
        "runs": sorted(runs),
        "metrics": None if metrics is None else list(metrics),
    }


def _rests_on(record: Claim, check: Regime) -> bool:
    if not set(check["runs"]) & set(record["runs"]):
        return False
    return check["metrics"] is None or any(
        metric.startswith(prefix)
        for metric in record.get("metrics", [])
        for prefix in check["metrics"]
    )


def calibrated(metric: str, points: dict, ceiling: str, floors: list[str], **where) -> Regime:
    """Whether `metric` separates real from random output on the calibration stage's
    `points`: the best floor below half the ceiling (see dlrepro.calibration)."""
    floor = max(points[name]["mean"] for name in floors)
    top = points[ceiling]["mean"]
    outcome = "below" if points["separates"] else "not below"
    checked = (
        f"{metric} calibrated: {ceiling.replace('_', ' ')} {top:.3g}, random output at most "
        f"{floor:.3g}, {outcome} half the ceiling ({top / 2:.3g})"
    )
    return regime(f"{metric} is calibrated", checked, points["separates"], **where)


def _all_but(flags: pd.Series, allowed: int = UNCAPPED_BUT) -> bool:
    """True for every seed but at most `allowed` of them."""
    return bool((~flags.astype(bool)).sum() <= allowed)


def converged(runs: dict[str, pd.DataFrame], cap: int) -> list[Regime]:
    """One check per run: early stopping ended it before the epoch cap (the validation measure
    stopped improving for `patience` epochs) in every seed but at most UNCAPPED_BUT. A best
    epoch just before the cap is no sign of convergence: the run was still improving."""
    checks = []
    for name, run in runs.items():
        epochs = run["epochs"].astype(int)
        stopped = epochs < cap
        checked = (
            f"`{name}` stopped early, before the cap of {cap} epochs, in {int(stopped.sum())} "
            f"of {len(run)} seeds (epochs {epochs.tolist()}; convergence needs all but "
            f"{UNCAPPED_BUT} at most)"
        )
        checks.append(regime(f"`{name}` converges", checked, _all_but(stopped), [name]))
    return checks


def measured(runs: dict[str, pd.DataFrame], metric: str, stage: str) -> list[Regime]:
    """One check per run: its runs.csv has `metric` (results written before the stage
    measured it have not: the claims on it are not testable until `stage` re-runs)."""
    return [
        regime(
            f"`{name}` measured {metric}",
            f"`{name}` runs.csv has {metric}"
            if metric in run
            else f"`{name}` runs.csv lacks {metric} (re-run `dvc repro {stage}`)",
            metric in run,
            [name],
            metrics=[metric],
        )
        for name, run in runs.items()
    ]


def overfits(run: str, final_gap: pd.Series, margin: float, claims_on: list[str]) -> Regime:
    """Whether `run` overfits: its mean train − validation accuracy at the last epoch (per seed,
    `history_measures`) exceeds `margin`. Covers the runs whose claims need it (`claims_on`)."""
    passed = final_gap.mean() > margin
    return regime(
        f"`{run}` overfits",
        f"`{run}` train − validation accuracy at the last epoch {final_gap.mean():.3f} "
        f"(mean of {len(final_gap)} seeds), {'above' if passed else 'not above'} {margin:g}",
        passed,
        claims_on,
    )


def interleaved(timing: dict, runs: Iterable[str]) -> Regime:
    """Whether the timing stage timed the regimes side by side over two rounds or more (one
    round cannot tell a difference from the machine's load changing)."""
    return regime(
        "speed is timed side by side",
        f"every regime timed in one process, interleaved, over {timing['repeats']} rounds",
        timing["repeats"] >= 2,
        runs,
    )


def apply_regimes(records: list[Claim], checks: list[Regime]) -> list[Claim]:
    """Record on each claim the checks of the regimes its runs rest on. A claim with a failed
    check is not testable here: its verdict says so (the statistic stays recorded) and it
    leaves its Holm family (see `adjust`). In place; returns the records."""
    for record in records:
        mine = [c for c in checks if _rests_on(record, c)]
        record["regime"] += [
            {"says": c["says"], "checked": c["checked"], "passed": c["passed"]} for c in mine
        ]
        failed = [c["checked"] for c in mine if not c["passed"]]
        if failed:
            record["verdict_raw"] = record["verdict"] = record["verdict_holm"] = NOT_TESTABLE
            record["not_testable_because"] = "not met: " + "; ".join(failed)
    return records


def history_measures(history: pd.DataFrame) -> pd.DataFrame:
    """Per seed, from a run's per-epoch history (history_seeds.csv): the train − validation
    accuracy at the last epoch (`final_gap`), the lowest validation loss (`best_val_loss`),
    and how much the validation loss oscillates, the mean |second difference| over epochs
    (`val_loss_roughness`: 0 for a straight or steadily bending curve)."""

    def per_seed(seed: pd.DataFrame) -> pd.Series:
        seed = seed.sort_values("epoch")
        last = seed.iloc[-1]
        return pd.Series(
            {
                "final_gap": last["train_acc"] - last["val_acc"],
                "best_val_loss": seed["val_loss"].min(),
                "val_loss_roughness": seed["val_loss"].diff().diff().abs().mean(),
            }
        )

    return history.groupby("seed")[["epoch", "train_acc", "val_acc", "val_loss"]].apply(per_seed)


def _s1(params: Params, register: dict) -> list[Claim]:
    runs = {
        name: run.join(history_measures(pd.read_csv(RESULTS / "s1" / name / "history_seeds.csv")))
        for name, run in load_runs("s1", params.s1.variants).items()
    }
    n_classes = _n_classes("data/prepared/s1/manifest.json")
    records = orderings(register["orderings"], runs) + chance(register["chance"], runs, n_classes)
    spec = register["regime"]["overfits"]
    baseline_overfits = overfits(
        spec["run"],
        runs[spec["run"]]["final_gap"],
        spec["margin"],
        [name for name in spec["claims_on"] if name in runs],
    )
    return apply_regimes(records, [baseline_overfits, *converged(runs, params.s1.train.epochs)])


def source_base(arch: str, base: dict, floor: float, on_base: list[str]) -> Regime:
    """Whether `arch`'s bases (its pretrain stage's record) are real pretrained networks:
    published weights, or bases trained on the source task, one per seed, which reach the
    source accuracy `floor` and stopped early before the epoch cap, every seed but at most
    UNCAPPED_BUT. Covers the runs `on_base` that start from them."""
    if base["weights"] != "source_task":
        checked = f"{arch} starts from published {base['source']['dataset']} weights"
        return regime(f"the {arch} base is pretrained", checked, True, on_base)
    seeds = pd.DataFrame(base["seeds"])
    cap = base["train"]["epochs"]
    learned = (seeds["source_test_acc"] >= floor) & (seeds["epochs"] < cap)
    checked = (
        f"{arch} bases reached source-task test accuracy {floor:g} and stopped early, before "
        f"the cap of {cap} epochs, in {int(learned.sum())} of {len(seeds)} seeds (accuracies "
        f"{', '.join(f'{acc:.3f}' for acc in seeds['source_test_acc'])}; epochs "
        f"{seeds['epochs'].astype(int).tolist()}; pretraining needs all but {UNCAPPED_BUT} at most)"
    )
    return regime(f"the {arch} bases are pretrained", checked, _all_but(learned), on_base)


def _s2(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s2_cnn_regimes import ARCH_NAMES, RESULTS_DIR, TIMING

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
    accuracy = orderings(
        per_arch(register["orderings"]) + register["between_archs"], runs
    ) + chance([c for c in register["chance"] if c["run"] in runs], runs, n_classes)
    bases = [
        source_base(
            arch,
            read_json(RESULTS_DIR / "pretrain" / f"{arch}.json"),
            register["regime"]["source_floor"],
            [
                name
                for name, spec in params.s2.regimes.items()
                if spec.arch == arch and spec.init == "pretrained" and name in runs
            ],
        )
        for arch in params.s2.archs
    ]
    timing = read_json(TIMING)
    return apply_regimes(
        accuracy, [*bases, *converged(runs, params.s2.train.epochs)]
    ) + apply_regimes(timings(per_arch(register["timing"]), timing), [interleaved(timing, runs)])


def text_measures(samples: pd.DataFrame, train_words: set[str]) -> pd.DataFrame:
    """Per seed and temperature (columns `<measure>_t<T>`, as `bleu_key` names them), means over
    the generations of samples.csv: `distinct_2`, the share of a generation's word pairs that
    are distinct (low: repetitive, predictable text), and `novel_words`, the share of its words
    never seen in the training text."""
    from dlrepro.data.sequences import lm_tokens

    def measures(text: str) -> pd.Series:
        words = lm_tokens(text, "word")
        pairs = list(itertools.pairwise(words))
        return pd.Series(
            {
                "distinct_2": len(set(pairs)) / len(pairs) if pairs else math.nan,
                "novel_words": sum(w not in train_words for w in words) / len(words)
                if words
                else math.nan,
            }
        )

    texts = samples["text"].fillna("")  # an empty generation reads back as NaN
    per_sample = samples[["seed", "temperature"]].join(texts.apply(measures))
    table = per_sample.groupby(["seed", "temperature"]).mean().unstack("temperature")
    table.columns = [
        f"{measure}_t{temperature:g}".replace(".", "_") for measure, temperature in table.columns
    ]
    return table


def smoothest(claim: dict, forecasts: pd.DataFrame, windows: list[str]) -> Claim:
    """'`run` gives the smoothest forecast': its seed-mean test forecast has the lowest mean
    |second difference| of all windows (forecasts.csv keeps seed means only, so an exact
    check on them, with no p-value)."""
    test = forecasts[forecasts["split"] == "test"]
    roughness = {w: test[f"{w}_mean"].diff().diff().abs().mean() for w in windows}
    run = claim["run"]
    others = min(r for w, r in roughness.items() if w != run)
    checked = (
        f"`{run}` seed-mean test forecast: mean |second difference| {roughness[run]:.3g}, "
        f"below every other window's (lowest {others:.3g})"
    )
    verdict = "holds" if roughness[run] < others else "fails"
    return _record(
        claim, checked, "exact check", verdict, difference=roughness[run] - others, runs=windows
    )


def _s3(params: Params, register: dict, bleu_points: dict) -> list[Claim]:
    from dlrepro.experiments.s3_text_generation import bleu_key

    cfg = params.s3
    window_names = [f"window_{w}" for w in cfg.airline.windows]
    windows = load_runs("s3/airline", window_names)
    records = orderings(register["airline"], windows)
    records += similar(register["airline_similar"], windows)
    if register["airline_smoothest"]["run"] in windows:
        forecasts = pd.read_csv(RESULTS / "s3" / "airline" / "forecasts.csv")
        records.append(smoothest(register["airline_smoothest"], forecasts, window_names))
    records = apply_regimes(records, converged(windows, cfg.airline.train.epochs))
    sentiment = load_runs("s3", cfg.sentiment.models, prefix="sentiment_")
    records += apply_regimes(
        orderings(register["sentiment"], sentiment) + equal(register["same_score"], sentiment),
        converged(sentiment, cfg.sentiment.train.epochs),
    )

    # 3.3 gives no numbers: its statements become comparisons at the temperatures run.
    levels = list(cfg.textgen.levels)
    train_words = set(read_json(PREPARED / "s3" / "text" / "manifest.json")["train_words"])
    textgen = {
        level: run.join(
            text_measures(
                pd.read_csv(RESULTS / "s3" / f"textgen_{level}" / "samples.csv"), train_words
            )
        )
        for level, run in load_runs("s3", levels, prefix="textgen_").items()
    }
    temperatures = cfg.textgen.temperatures
    low, high = bleu_key("words", min(temperatures)), bleu_key("words", max(temperatures))
    one = bleu_key("words", 1.0 if 1.0 in temperatures else max(temperatures))
    says = register["textgen"]

    def at(measure: str, key: str) -> str:
        """The column of `measure` at the temperature of BLEU column `key`."""
        return measure + key[len("bleu_words") :]

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
            "higher": level,
            "higher_metric": at("distinct_2", high),
            "lower": level,
            "metric": at("distinct_2", low),
            "says": f"{says['predictable_when_cold']} ({level}-level)",
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
    claims.append(
        {
            "higher": "char",
            "lower": "word",
            "metric": at("novel_words", one),
            "says": says["new_words"],
        }
    )
    calibration = [
        calibrated(
            f"BLEU on {basis}",
            bleu_points[basis],
            "human",
            ["random_words", "random_chars"],
            runs=levels,
            metrics=[f"bleu_{basis}"],
        )
        for basis in ("words", "chars")
    ]
    return records + apply_regimes(
        orderings(claims, textgen), [*converged(textgen, cfg.textgen.train.epochs), *calibration]
    )


def _converging(register: dict, runs: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The runs the register's `regime: converge` list names (training runs; PCA has none)."""
    return {name: runs[name] for name in register["regime"]["converge"] if name in runs}


def _s4(params: Params, register: dict, ssim_points: dict) -> list[Claim]:
    codes = load_runs("s4", params.s4.encoders, prefix="autoencoder_")
    denoise = load_runs("s4", params.s4.denoise.losses, prefix="denoise_")
    ssim = calibrated(
        "SSIM",
        ssim_points,
        "clean",
        ["uniform_noise"],
        runs=denoise,
        metrics=["test_ssim"],
    )
    return apply_regimes(
        orderings(register["orderings"], codes),
        converged(_converging(register, codes), params.s4.train.epochs),
    ) + apply_regimes(
        orderings(register["denoise"], denoise),
        [*converged(_converging(register, denoise), params.s4.denoise.epochs), ssim],
    )


def _s5(params: Params, register: dict, inception_points: dict) -> list[Claim]:
    cfg = params.s5
    generative = load_runs("s5", cfg.models, prefix="generate_")
    colourisers = load_runs("s5", cfg.colourise.models, prefix="colourise_")
    cap = {"vae": cfg.vae_train.epochs, "gan": cfg.gan_train.epochs}
    inception = calibrated(
        "Inception Score",
        inception_points,
        "real_test_digits",
        ["uniform_noise"],
        runs=generative,
        metrics=["inception_score"],
    )
    return apply_regimes(
        orderings(register["orderings"], generative),
        [
            *(
                check
                for name, run in _converging(register, generative).items()
                for check in converged({name: run}, cap[cfg.models[name].kind])
            ),
            inception,
        ],
    ) + apply_regimes(
        similar(register["colourise"]["similar"], colourisers)
        + orderings(register["colourise"]["realistic"], colourisers),
        [
            *converged(_converging(register, colourisers), cfg.colourise.train.epochs),
            *measured(colourisers, "colour_gap", "s5_colourise"),
        ],
    )


def curve_gains(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per seed, from a run's per-episode returns (episodes.csv), cut into quarters: the rise
    over the first half (`early_gain`: mean return of the second quarter minus the first) and
    over the second (`late_gain`: fourth minus third). A rise that then plateaus has
    early_gain > late_gain."""

    def per_seed(seed: pd.DataFrame) -> pd.Series:
        quarters = [q.mean() for q in np.array_split(seed.sort_values("episode")["return"], 4)]
        return pd.Series(
            {"early_gain": quarters[1] - quarters[0], "late_gain": quarters[3] - quarters[2]}
        )

    return episodes.groupby("seed")[["episode", "return"]].apply(per_seed)


def _s6(params: Params, register: dict) -> list[Claim]:
    from dlrepro.experiments.s6_q_learning import POLICIES, run_name

    agents = ("tabular", "dqn")
    runs = {
        name: run.join(curve_gains(pd.read_csv(RESULTS / "s6" / name / "episodes.csv")))
        for name, run in load_runs("s6", [run_name(a, p) for a in agents for p in POLICIES]).items()
    }
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


NO_SHORTFALL = "no shortfall observed"
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

            needed = NO_SHORTFALL  # inconclusive only when the run is not at chance
        else:
            label = question["reference"]
            reference_run = load_runs(spec.section, [label])[label][metric]
            reference = mean_std(reference_run.tolist())
            test = f"{WELCH} against the reference, before and after tuning"

            def short(run: pd.Series, ref: pd.Series = reference_run) -> bool:
                return ordering_verdict(difference_test(run, ref, paired=False)) == "fails"

            # the seeds that would show the setting's observed shortfall, if it has one, at ALPHA
            shortfall = difference_test(setting, reference_run, paired=False)
            needed = NO_SHORTFALL
            if shortfall["difference"] is not None and shortfall["difference"] < 0:
                needed = seeds_needed(shortfall["hedges_g"], paired=False)
                if isinstance(needed, int):
                    needed = max(needed, len(setting) + 1)

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
                seeds_needed=needed if verdict == "inconclusive" else None,
            )
        )
    return records


def adjust(records: list[Claim]) -> None:
    """Adjust the p-values of each origin's claims as one family and set the verdicts: `verdict`
    the raw one where the Benjamini-Hochberg adjusted p < FALSE_DISCOVERY_RATE, `verdict_holm`
    where Holm's adjusted p < ALPHA, inconclusive otherwise. A claim left inconclusive gets what
    would settle it under the headline rule: the smallest difference (or, for a similarity,
    the narrowest margin) its seeds detect with POWER, and the seeds per run that would detect
    its observed effect, both at the threshold its p must reach to join the family's decisive
    claims, FALSE_DISCOVERY_RATE (R + 1) / m with R of the m claims decisive (at ALPHA alone,
    a difference the adjustment set aside would seem to need fewer seeds than were run).
    In place."""
    for origin in ORIGINS:
        family = [
            r
            for r in records
            if r["origin"] == origin and r["p_raw"] is not None and r["verdict"] != NOT_TESTABLE
        ]
        if not family:
            continue
        p_raw = [r["p_raw"] for r in family]
        p_bh = multipletests(p_raw, alpha=FALSE_DISCOVERY_RATE, method="fdr_bh")[1]
        p_holm = multipletests(p_raw, alpha=ALPHA, method="holm")[1]
        for record, bh, holm in zip(family, p_bh, p_holm, strict=True):
            record["p_bh"], record["p_holm"] = float(bh), float(holm)
            record["verdict"] = (
                record["verdict_raw"] if bh < FALSE_DISCOVERY_RATE else "inconclusive"
            )
            record["verdict_holm"] = record["verdict_raw"] if holm < ALPHA else "inconclusive"
        decisive = sum(r["verdict"] != "inconclusive" for r in family)
        threshold = FALSE_DISCOVERY_RATE * (decisive + 1) / len(family)
        for record in family:
            if record["verdict"] == "inconclusive":
                settle(record, threshold)


def settle(record: Claim, alpha: float) -> None:
    """What would settle an inconclusive claim at `alpha`: `detectable` (the smallest difference,
    or for TOST the narrowest margin, its seeds show with POWER) and `seeds_needed` (per run, for
    its observed effect: Hedges' g for an ordering). In place; other tests are left as they are."""
    record["settled_at"] = alpha
    if record["test"] in (WELCH, PAIRED):
        paired = record["test"] == PAIRED
        record["detectable"] = detectable_difference(
            record["n_seeds"], record["spread"], paired, alpha
        )
        needed = seeds_needed(record["hedges_g"], paired, alpha=alpha)
    elif record["test"] == TOST:
        record["detectable"] = detectable_margin(
            record["difference"], record["spread"], record["n_seeds"], alpha
        )
        needed = equivalence_seeds_needed(
            record["difference"], record["spread"], record["margin"], alpha
        )
    else:
        return
    # The power analysis assumes equal spreads (Welch's df can be far lower): where it asks no
    # more seeds than were run, these did not settle it, so at least one more.
    if isinstance(needed, int):
        needed = max(needed, max(record["n_seeds"]) + 1)
    record["seeds_needed"] = needed


def evaluate(params: Params) -> list[Claim]:
    """Every section's claim records, adjusted (`adjust`). The calibration stage's results are read
    once, here, when some section's claims rest on them; each such section gets its block."""
    register = yaml.safe_load(REGISTER.read_text())
    needed = any(section.calibration for section in SECTIONS.values())
    calibration = read_json(CALIBRATION) if needed else {}
    records = []
    for key, section in SECTIONS.items():
        inputs = [params, register[key]]
        if section.calibration:
            inputs.append(calibration[section.calibration])
        records += [{"section": key, **record} for record in resolve(section.claims)(*inputs)]
    adjust(records)
    return records


def verdict_key(verdict: str) -> str:
    """A verdict as a key of summary.json and the paper's variables ('not_testable_here')."""
    return verdict.replace(" ", "_")


def tally(records: list[Claim], field: str = "verdict") -> dict[str, int]:
    return {verdict_key(verdict): sum(r[field] == verdict for r in records) for verdict in VERDICTS}


def summarise(records: list[Claim]) -> dict:
    """Verdict counts of the report's claims per section and over `all`, the same for our
    additions apart under `additions`, and both again by Holm's verdicts under `holm`
    (summary.json)."""

    def per_section(chosen: list[Claim], field: str) -> dict[str, dict[str, int]]:
        counts = {s: tally([r for r in chosen if r["section"] == s], field) for s in SECTIONS}
        return counts | {"all": tally(chosen, field)}

    def by_origin(field: str) -> dict:
        report = [r for r in records if r["origin"] == "report"]
        additions = [r for r in records if r["origin"] == "addition"]
        return per_section(report, field) | {"additions": per_section(additions, field)}

    return by_origin("verdict") | {"holm": by_origin("verdict_holm")}


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


def regime_lines(records: list[Claim]) -> list[str]:
    """The regime checks these claims rest on, each once, met (✓) or not (✗), as a list."""
    checks = {c["checked"]: c["passed"] for r in records for c in r["regime"]}
    if not checks:
        return ["Regime: no condition stated for these claims.", ""]
    return [
        "Regime (a claim resting on a check not met is not testable here):",
        "",
        *(f"- {'✓' if passed else '✗'} {checked}" for checked, passed in checks.items()),
        "",
    ]


def p_cell(record: Claim) -> str:
    """'0.0123 (0.0412; 0.198)': p raw, then Benjamini-Hochberg and Holm adjusted ('—' where a
    claim has no p-value or, not testable, left its family)."""
    if record["p_raw"] is None:
        return "—"
    adjusted = [record["p_bh"], record["p_holm"]]
    shown = "; ".join("—" if p is None else _number(p) for p in adjusted)
    return f"{_number(record['p_raw'])} ({shown})"


def to_settle(record: Claim) -> str:
    """For an inconclusive claim: the smallest difference (a similarity: the narrowest margin)
    its seeds detect, and the seeds per run its observed effect needs, both at the threshold its
    p must reach; or why more seeds would not settle it."""
    needed = record["seeds_needed"]
    if record["verdict"] != "inconclusive" or needed is None:
        return ""
    parts = []
    if record["detectable"] is not None:
        what = "margin" if record["test"] == TOST else "difference"
        parts.append(f"detects a {what} of {_number(record['detectable'])}")
    parts.append(f"≥ {needed} seeds" if isinstance(needed, int) else needed)
    if "settled_at" in record:
        parts[-1] += f" (at p < {_number(record['settled_at'])})"
    return "; ".join(parts)


def table(records: list[Claim]) -> list[str]:
    """The regime lines of these claims, then a markdown table of them: what the report says,
    how it is checked, the difference with its CI, p raw and adjusted, the verdict (the raw one
    beside it where the adjustment changed it), Holm's verdict and, for an inconclusive claim,
    what would settle it (`to_settle`). Our additions are marked."""
    lines = [
        *regime_lines(records),
        *markdown.header(
            [
                "The report says", "Checked as", "Difference [95 % CI]", "p (BH; Holm)",
                "Verdict", "Holm", "To settle it",
            ],
            ["---", "---", "---:", "---:", "---", "---", "---"],
        ),
    ]  # fmt: skip
    for r in records:
        says = r["says"] + (" *(our addition)*" if r["origin"] == "addition" else "")
        verdict = r["verdict"]
        if r["verdict_raw"] != verdict:
            verdict += f" (raw: {r['verdict_raw']})"
        if verdict == NOT_TESTABLE:
            verdict += f" ({r['not_testable_because']})"
        holm = r["verdict_holm"] if r["p_holm"] is not None else "—"
        lines.append(
            markdown.row(
                [says, r["checked"], difference_cell(r), p_cell(r), verdict, holm, to_settle(r)]
            )
        )
    return lines


RULE = (
    "Verdicts: orderings by Welch's t-test between runs (paired t-test within a run), "
    "similarity by TOST against the stated margin. The verdict shown controls the false "
    "discovery rate at 5 % (Benjamini-Hochberg) over the report's claims as one family and our "
    "additions as another: of the claims declared decisive, at most 5 % are expected to be "
    "wrong (raw verdict in brackets where the adjustment changed it). Holm's verdict beside it "
    "keeps the chance of even one wrong decisive claim in a family below 5 %. Exact checks, "
    "timing and tuning claims have no p-value. A claim whose regime check fails is not "
    "testable here and leaves its family. An inconclusive claim states the smallest "
    "difference its seeds detect with 80 % power and the seeds per run its observed effect "
    "(Hedges' g) needs, both at the p its verdict must reach: 0.05 (R + 1) / m for R of the "
    "family's m claims decisive."
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
        ("the report's (Holm)", summary["holm"]["all"]),
    ):
        shown = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
        print(f"{sum(counts.values())} of {label} claims checked: {shown}")
    print(f"written to {OUT}/")
    return summary
