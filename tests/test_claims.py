"""The claims register's statistics, each against a hand-computed or documented case, and the
register's bookkeeping (missing seeds, censored measures, the report's claims apart from ours)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats
from statsmodels.stats.power import TTestIndPower

from dlrepro import claims
from dlrepro.config import validate
from dlrepro.experiments import s2_cnn_regimes as s2
from dlrepro.paper_assets import claims_summary
from dlrepro.results import write_json

from .conftest import REPO, smoke_params, write_prepared


def seeds(*values: float) -> pd.Series:
    """Per-seed values, indexed by seed as runs.csv is read."""
    return pd.Series(values, index=pd.Index(range(len(values)), name="seed"), dtype=float)


def welch_holds(claim: dict | None = None, **fields) -> dict:
    """Claim "x", a Welch test that holds, with `fields` (p-values, runs, metrics) as given."""
    return claims._record({"says": "x", **(claim or {})}, "x", claims.WELCH, "holds", **fields)


def test_welch_interval_and_degrees_of_freedom():
    # a: mean 2, variance 1; b: mean 7, variance 4; n = 3 each. Standard error² = 1/3 + 4/3 =
    # 5/3. Welch–Satterthwaite: df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17.
    test = claims.difference_test(seeds(1, 2, 3), seeds(5, 7, 9), paired=False)
    half_width = stats.t.ppf(0.975, 50 / 17) * math.sqrt(5 / 3)
    assert test["test"] == claims.WELCH
    assert test["df"] == pytest.approx(50 / 17)
    assert test["difference"] == pytest.approx(-5)
    assert test["ci_low"] == pytest.approx(-5 - half_width)
    assert test["ci_high"] == pytest.approx(-5 + half_width)
    assert test["p_raw"] == pytest.approx(2 * stats.t.cdf(-5 / math.sqrt(5 / 3), 50 / 17))
    assert claims.ordering_verdict(test) == "fails"  # the interval lies below 0


def test_paired_test_matches_seeds_and_tests_their_differences():
    higher = seeds(1.0, 2.0, 3.0, 4.0)
    lower = seeds(0.5, 1.9, 2.0, 3.0).iloc[::-1]  # listed in another order: matched by seed
    test = claims.difference_test(higher, lower, paired=True)
    differences = [0.5, 0.1, 1.0, 1.0]  # mean 0.65, one-sample t-test against 0, df = 3
    expected = stats.ttest_1samp(differences, 0)
    ci = expected.confidence_interval(0.95)
    assert test["test"] == claims.PAIRED and test["df"] == 3
    assert test["difference"] == pytest.approx(0.65)
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert test["p_raw"] == pytest.approx(expected.pvalue)


def test_equivalence_holds_inside_the_margin_and_fails_wholly_outside():
    runs = {
        "a": pd.DataFrame({"mae": seeds(1.00, 1.01, 0.99, 1.00)}),
        "same": pd.DataFrame({"mae": seeds(1.00, 1.02, 0.98, 1.01)}),
        "far": pd.DataFrame({"mae": seeds(2.00, 2.10, 1.90, 2.00)}),
    }
    register = [
        {"runs": ["same", "a"], "metric": "mae", "margin": 0.1, "says": "similar"},
        {"runs": ["far", "a"], "metric": "mae", "margin": 0.1, "says": "similar"},
    ]
    same, far = claims.similar(register, runs)
    assert same["verdict_raw"] == "holds" and same["p_raw"] < 0.001
    assert same["test"] == "TOST (Welch)" and same["margin"] == 0.1
    assert same["checked"] == "`same` ≈ `a` on mae within ±0.1"
    assert far["verdict_raw"] == "fails" and far["ci_low"] > 0.1  # wholly beyond the margin


def test_each_origin_is_its_own_family_under_bh_and_holm():
    # p (0.01, 0.04, 0.03, 0.005). BH: sorted 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 =
    # 0.04, 0.04·4/4 = 0.04. Holm: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04
    # → 0.06 (adjusted p never falls down the order).
    def record(p: float, origin: str = "report") -> dict:
        return welch_holds(
            {"origin": origin}, p_raw=p, effect_size=2.0, hedges_g=1.6, spread=0.1,
            n_seeds=[3, 3],
        )  # fmt: skip

    report = [record(p) for p in (0.01, 0.04, 0.03, 0.005)]
    addition, exact = record(0.04, "addition"), claims._record({"says": "x"}, "x", "exact", "fails")
    claims.adjust([*report, addition, exact])
    assert [r["p_bh"] for r in report] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert [r["verdict"] for r in report] == ["holds"] * 4
    assert [r["p_holm"] for r in report] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [r["verdict_holm"] for r in report] == ["holds", "inconclusive", "inconclusive", "holds"]
    assert addition["p_bh"] == pytest.approx(0.04) and addition["verdict"] == "holds"
    assert exact["p_holm"] is None and exact["verdict"] == exact["verdict_holm"] == "fails"


def test_an_inconclusive_claim_states_what_settles_it_at_the_threshold_it_must_reach():
    # Four report claims, one decisive under BH (p 0.001 · 4 = 0.004); the others would need
    # p < 0.05 · 2 / 4 = 0.025 to join it.
    def record(p: float) -> dict:
        return welch_holds(p_raw=p, effect_size=1.0, hedges_g=0.8, spread=0.02, n_seeds=[5, 5])

    records = [record(p) for p in (0.001, 0.2, 0.3, 0.4)]
    claims.adjust(records)
    assert [r["verdict"] for r in records] == ["holds"] + ["inconclusive"] * 3
    settled = records[1]
    assert settled["settled_at"] == pytest.approx(0.025)
    # Hedges' g (0.8), not Cohen's d (1.0), sizes the seeds: statsmodels at 2.5 %
    needed = claims.seeds_needed(0.8, paired=False, alpha=0.025)
    assert settled["seeds_needed"] == needed > claims.seeds_needed(1.0, False, alpha=0.025)
    # the smallest difference 5 + 5 seeds detect with 80 % power at 2.5 %, in the metric's units
    d = TTestIndPower().solve_power(nobs1=5, ratio=1, alpha=0.025, power=0.8)
    assert settled["detectable"] == pytest.approx(d * 0.02)
    assert claims.to_settle(settled) == (
        f"detects a difference of {d * 0.02:.3g}; ≥ {needed} seeds (at p < 0.025)"
    )


def test_hedges_correction_shrinks_small_samples_most():
    assert claims.hedges_correction(3, 3, paired=False) == pytest.approx(1 - 3 / 15)
    assert claims.hedges_correction(10, 10, paired=False) == pytest.approx(1 - 3 / 71)
    assert claims.hedges_correction(5, 5, paired=True) == pytest.approx(1 - 3 / 15)
    assert math.isnan(claims.hedges_correction(2, 2, paired=True))


def test_seeds_needed_at_80_percent_power():
    assert claims.seeds_needed(1.0, paired=False) == 17  # statsmodels: 16.71 per group
    assert claims.seeds_needed(1.0, paired=True) == 10  # one-sample: 9.94
    assert claims.seeds_needed(-1.0, paired=False) == 17
    assert claims.seeds_needed(0.001, paired=False) == "no effect observed"
    assert claims.seeds_needed(None, paired=False) is None  # a single seed: no spread


def test_a_seed_without_the_metric_is_left_out():
    runs = {
        "a": pd.DataFrame({"acc": seeds(0.90, float("nan"), 0.92)}),
        "b": pd.DataFrame({"acc": seeds(0.80, 0.81, 0.79), "other": seeds(0.7, 0.7, 0.7)}),
    }
    (record,) = claims.orderings(
        [{"higher": "a", "lower": "b", "metric": "acc", "says": "x"}], runs
    )
    assert record["n_seeds"] == [2, 3] and record["difference"] == pytest.approx(0.11)
    paired = claims.difference_test(runs["a"]["acc"], runs["b"]["other"], paired=True)
    assert paired["n_seeds"] == [2, 2]


def test_censored_episodes_to_threshold_are_inconclusive_unless_every_seed_reached_it():
    fast = pd.DataFrame({"episodes_to_threshold": seeds(90, 100, 110), "reached": seeds(1, 1, 1)})
    slow = pd.DataFrame({"episodes_to_threshold": seeds(170, 250, 200), "reached": seeds(1, 0, 1)})
    claim = {
        "higher": "slow",
        "lower": "fast",
        "metric": "episodes_to_threshold",
        "censored_unless": "reached",
        "says": "slower",
    }
    (censored,) = claims.orderings([claim], {"slow": slow, "fast": fast})
    assert censored["verdict"] == "inconclusive" and censored["test"].startswith("censored")
    assert censored["difference"] is None and censored["p_raw"] is None
    assert censored["reached"] == pytest.approx([2 / 3, 1.0])
    assert "reached by 2/3 and 3/3 seeds" in censored["checked"]
    (observed,) = claims.orderings([claim], {"slow": slow.assign(reached=1.0), "fast": fast})
    assert observed["test"] == claims.WELCH and observed["verdict"] == "holds"


def _write_runs(folder, column: str, values: list[float]) -> None:
    folder.mkdir(parents=True)
    runs = {"seed": range(len(values)), column: values, "reached": 1.0}
    pd.DataFrame(runs).to_csv(folder / "runs.csv", index=False)


def test_additions_are_marked_and_counted_apart(tmp_path, monkeypatch):
    """Section 6's register read from results/s6/: the tabular agent's claims are ours."""
    monkeypatch.chdir(tmp_path)
    metrics = ("early_auc", "episodes_to_threshold", "roughness")
    for agent in ("tabular", "dqn"):
        for policy, offset in (("epsilon_greedy", 10.0), ("softmax", 0.0)):
            folder = tmp_path / "results" / "s6" / f"{agent}_{policy}"
            _write_runs(folder, metrics[0], [offset + v for v in (1.0, 2.0, 3.0)])
            runs = pd.read_csv(folder / "runs.csv")
            for metric in metrics[1:]:
                runs[metric] = runs[metrics[0]]
            runs.to_csv(folder / "runs.csv", index=False)
            returns = [offset + seed + e**0.5 for seed in range(3) for e in range(8)]
            episodes = {"seed": np.repeat(range(3), 8), "episode": [*range(1, 9)] * 3}
            pd.DataFrame({**episodes, "return": returns}).to_csv(folder / "episodes.csv")
    register = yaml.safe_load((REPO / "paper" / "report_values.yaml").read_text())
    records = [{"section": "s6", **r} for r in claims._s6(None, register["s6"])]
    claims.adjust(records)
    assert {r["origin"] for r in records if "(tabular)" in r["says"]} == {"addition"}
    assert {r["origin"] for r in records if "(dqn)" in r["says"]} == {"report"}
    summary = claims.summarise(records)
    assert sum(summary["all"].values()) == sum(summary["s6"].values()) == 4
    assert sum(summary["additions"]["all"].values()) == 4
    assert sum(summary["holm"]["all"].values()) == sum(summary["holm"]["additions"]["s6"].values())
    table = claims_summary(summary)
    assert table[-2].startswith("| **All the report's** | **4** |")
    assert table[-1].startswith("| Our additions (not in the report) | 4 |")
    holm = summary["holm"]["all"]
    assert table[-2].endswith(f"| **{holm['holds']}** | **{holm['fails']}** |")
    plateau = next(r for r in records if r["says"].startswith("ε-greedy rises fast"))
    assert plateau["test"] == claims.PAIRED and plateau["difference"] > 0  # √e flattens
    tabular_row = claims.table([r for r in records if r["origin"] == "addition"])[-1]
    assert "*(our addition)*" in tabular_row


def test_table_shows_interval_p_and_both_verdicts():
    record = claims._record(
        {"says": "A beats B"},
        "`a` > `b` on acc",
        claims.WELCH,
        "holds",
        difference=0.012345,
        ci_low=0.001234,
        ci_high=0.023456,
        p_raw=0.0312,
        p_bh=0.0624,
        p_holm=0.1248,
    )
    record |= {"verdict": "inconclusive", "verdict_holm": "inconclusive", "seeds_needed": 5}
    assert claims.table([record])[-1] == (
        "| A beats B | `a` > `b` on acc | +0.0123 [0.00123, 0.0235] | 0.0312 (0.0624; 0.125) "
        "| inconclusive (raw: holds) | inconclusive | ≥ 5 seeds |"
    )


def test_claims_on_runs_params_do_not_define_are_left_out():
    runs = {"a": pd.DataFrame({"acc": seeds(0.9, 0.91, 0.92)})}
    claim = {"higher": "a", "lower": "dropped_by_an_ablation", "metric": "acc", "says": "x"}
    assert claims.orderings([claim], runs) == []


def test_equal_checks_two_metrics_of_one_run():
    runs = {
        "pool": pd.DataFrame({"probe_1": seeds(0.4, 0.4, 0.4), "probe_2": seeds(0.4, 0.4, 0.4)}),
        "lstm": pd.DataFrame({"probe_1": seeds(0.2, 0.2, 0.3), "probe_2": seeds(0.7, 0.6, 0.7)}),
    }
    same = {"run": "pool", "metrics": ["probe_1", "probe_2"], "says": "same"}
    records = claims.equal([same, {**same, "run": "lstm"}], runs)
    assert [r["verdict"] for r in records] == ["holds", "fails"]


def _timing(per_repeat: list[float]) -> dict:
    """A timing.json whose finetune epoch takes `per_repeat` times the transfer epoch."""
    ratio = {timed: s2.over_repeats(per_repeat) for timed in s2.TIMED}
    return {
        "device": "cpu",
        "threads": 2,
        "repeats": len(per_repeat),
        "steps": 5,
        "warmup_steps": 2,
        "ratios": {"vgg16_finetune/vgg16_transfer": ratio},
    }


@pytest.mark.parametrize(
    "per_repeat, finetune_slower, transfer_slower",
    [
        ([1.8, 2.1, 1.9], "holds", "fails"),
        ([0.9, 1.3, 1.1], "inconclusive", "inconclusive"),  # the rounds disagree
    ],
)
def test_timing_claims_read_the_interleaved_ratio(
    project, per_repeat, finetune_slower, transfer_slower
):
    """The register's timing claims judged on results/s2/timing.json, either way round."""
    params = validate(smoke_params())
    write_prepared(project / "data" / "prepared" / "s2" / "target")
    for name in params.s2.regimes:
        (project / "results" / "s2" / name).mkdir(parents=True)
        converged = {"best_epoch": 1, "epochs": 2}  # before the cap: the regime holds
        pd.DataFrame({"seed": [0, 1, 2], "test_acc": 0.5, "overfit_gap": 0.1, **converged}).to_csv(
            project / "results" / "s2" / name / "runs.csv", index=False
        )
    write_json(s2.TIMING, _timing(per_repeat))
    for arch, spec in params.s2.archs.items():  # bases that pass their regime check
        base = _base([1.0, 1.0, 1.0], [1, 1, 1]) | {"source": {"dataset": "imagenet"}}
        write_json(s2.RESULTS_DIR / "pretrain" / f"{arch}.json", base | {"weights": spec.weights})
    register = yaml.safe_load((REPO / "paper" / "report_values.yaml").read_text())["s2"]
    register["timing"].append(
        {
            "higher": "{arch}_transfer",
            "lower": "{arch}_finetune",
            "metric": "sec_per_epoch",
            "says": "transfer is slower",
        }
    )
    timed = {r["says"]: r for r in claims._s2(params, register) if "ratio" in r}
    assert set(timed) == {  # scratch was not timed: its claim is left out
        "an epoch of fine-tuning is slower than one of transfer (VGG-16)",
        "transfer is slower (VGG-16)",
    }
    slower = timed["an epoch of fine-tuning is slower than one of transfer (VGG-16)"]
    assert slower["verdict"] == finetune_slower
    assert slower["ratio"]["range"] == [min(per_repeat), max(per_repeat)]
    assert "interleaved" in slower["measurement"] and "3 rounds" in slower["measurement"]
    assert timed["transfer is slower (VGG-16)"]["verdict"] == transfer_slower
    assert f"| {finetune_slower} |" in claims.table([slower])[-1]


def runs_with(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame({name: seeds(*values) for name, values in columns.items()})


def test_a_run_converges_when_early_stopping_ends_all_seeds_but_one_before_the_cap():
    runs = {
        "settled": runs_with(best_epoch=[7, 9, 6], epochs=[10, 9, 9]),  # one seed at the cap
        "capped": runs_with(best_epoch=[9, 8, 6], epochs=[10, 10, 9]),  # two at the cap
    }
    settled, capped = claims.converged(runs, cap=10)
    assert settled["passed"] and not capped["passed"]  # a best epoch of cap - 1 is no sign
    assert capped["runs"] == ["capped"] and "[10, 10, 9]" in capped["checked"]
    assert "in 1 of 3 seeds" in capped["checked"]


def test_a_failed_regime_makes_its_claims_not_testable_and_leaves_the_family():
    def record(runs: list[str], p: float) -> dict:
        return welch_holds(p_raw=p, effect_size=2.0, n_seeds=[3, 3], runs=runs)

    records = [record(["a", "b"], 0.01), record(["b", "c"], 0.02), record(["c", "d"], 0.03)]
    checks = [
        claims.regime("a converges", "a check", True, ["a"]),
        claims.regime("d converges", "d check", False, ["d"]),
    ]
    claims.apply_regimes(records, checks)
    claims.adjust(records)
    first, second, third = records
    assert first["regime"] == [{"says": "a converges", "checked": "a check", "passed": True}]
    assert second["regime"] == [] and second["verdict"] == "holds"
    assert third["verdict"] == third["verdict_raw"] == claims.NOT_TESTABLE
    assert third["not_testable_because"] == "not met: d check" and third["p_holm"] is None
    assert first["p_holm"] == pytest.approx(0.02)  # Holm over two claims, not three
    assert third["verdict_holm"] == claims.NOT_TESTABLE and third["p_bh"] is None
    lines = claims.table(records)
    assert "- ✓ a check" in lines and "- ✗ d check" in lines
    assert claims.tally(records)["not_testable_here"] == 1


def _base(accuracies: list[float], epochs: list[int], cap: int = 15) -> dict:
    """A pretrain stage's record of bases trained on the source task, one per seed."""
    rows = [
        {"seed": seed, "source_test_acc": accuracy, "best_epoch": ran - 2, "epochs": ran}
        for seed, (accuracy, ran) in enumerate(zip(accuracies, epochs, strict=True))
    ]
    return {"weights": "source_task", "seeds": rows, "train": {"epochs": cap}}


@pytest.mark.parametrize(
    ("accuracies", "epochs", "passed"),
    [
        ([0.9, 0.88, 0.8], [9, 7, 8], True),  # one seed below the floor: all but one reach it
        ([0.9, 0.8, 0.8], [9, 7, 8], False),  # two seeds below the floor
        ([0.9, 0.9, 0.9], [15, 15, 8], False),  # two seeds ran to the cap
        ([0.9, 0.8, 0.9], [9, 7, 15], False),  # two seeds fail, one way or the other
    ],
)
def test_source_base_passes_when_all_seeds_but_one_reach_the_floor_and_stop_early(
    accuracies: list[float], epochs: list[int], passed: bool
):
    check = claims.source_base("vgg16", _base(accuracies, epochs), 0.85, ["vgg16_transfer"])
    assert check["passed"] is passed and check["runs"] == ["vgg16_transfer"]
    assert ", ".join(f"{a:.3f}" for a in accuracies) in check["checked"]
    assert str(epochs) in check["checked"]
    learned = sum(a >= 0.85 and e < 15 for a, e in zip(accuracies, epochs, strict=True))
    assert f"in {learned} of 3 seeds" in check["checked"]


def test_published_weights_pass_as_a_source_base():
    published = {"weights": "package", "source": {"dataset": "imagenet"}}
    assert claims.source_base("effnet", published, 0.85, ["effnet_finetune"])["passed"]


def test_history_measures_gap_loss_and_oscillation():
    history = pd.DataFrame(
        {
            "seed": [0, 0, 0, 0],
            "epoch": [1, 2, 3, 4],
            "train_acc": [0.5, 0.7, 0.8, 0.9],
            "val_acc": [0.5, 0.6, 0.7, 0.75],
            "val_loss": [1.0, 0.6, 0.8, 0.4],  # second differences 0.6, -0.6
        }
    )
    measured = claims.history_measures(history).loc[0]
    assert measured["final_gap"] == pytest.approx(0.15)
    assert measured["best_val_loss"] == pytest.approx(0.4)
    assert measured["val_loss_roughness"] == pytest.approx(0.6)


def test_text_measures_distinct_pairs_and_new_words():
    samples = pd.DataFrame(
        {
            "seed": [0, 0],
            "temperature": [0.2, 1.0],
            "text": ["the the the the the", "the king zorblat is"],
        }
    )
    measured = claims.text_measures(samples, {"the", "king", "is"}).loc[0]
    assert measured["distinct_2_t0_2"] == pytest.approx(1 / 4)
    assert measured["distinct_2_t1"] == pytest.approx(1.0)
    assert measured["novel_words_t0_2"] == 0 and measured["novel_words_t1"] == pytest.approx(1 / 4)


@pytest.mark.parametrize(("floor", "passed"), [(2.0, True), (69.0, False)])
def test_a_metric_is_calibrated_when_random_output_scores_below_half_the_ceiling(
    floor: float, passed: bool
):
    from dlrepro.calibration import separates

    points = {
        "human": {"mean": 89.5},
        "random_words": {"mean": floor},
        "random_chars": {"mean": 1.0},
        "separates": separates(89.5, floor),
    }
    check = claims.calibrated(
        "BLEU on chars",
        points,
        "human",
        ["random_words", "random_chars"],
        runs=["char"],
        metrics=["bleu_chars"],
    )
    assert check["passed"] is passed and f"at most {floor:.3g}" in check["checked"]
    # the line states the comparison's outcome, so a failed check never reads as a pass
    outcome = "below half the ceiling" if passed else "not below half the ceiling"
    assert f"{outcome} (44.8)" in check["checked"]
    on_chars = welch_holds(runs=["char"], metrics=["bleu_chars_t1", "bleu_words_t1"])
    on_words = welch_holds(runs=["char"], metrics=["bleu_words_t1"])
    claims.apply_regimes([on_chars, on_words], [check])
    assert (on_chars["verdict"] == claims.NOT_TESTABLE) is not passed
    assert on_words["regime"] == [] and on_words["verdict"] == "holds"


def test_a_claim_on_a_metric_the_runs_lack_is_not_testable_until_the_stage_reruns():
    runs = {"unet": runs_with(test_mae=[0.1, 0.2]), "cgan": runs_with(colour_gap=[0.1, 0.2])}
    unet, cgan = claims.measured(runs, "colour_gap", "s5_colourise")
    assert not unet["passed"] and "re-run `dvc repro s5_colourise`" in unet["checked"]
    assert "lacks colour_gap" in unet["checked"] and "has colour_gap" in cgan["checked"]
    assert cgan["passed"]
    claim = {"higher": "unet", "lower": "cgan", "metric": "colour_gap", "says": "x"}
    records = claims.apply_regimes(claims.orderings([claim], runs), [unet, cgan])
    assert records[0]["verdict"] == claims.NOT_TESTABLE and records[0]["test"] == "not measured"


def test_colourfulness_is_zero_for_grey_and_the_opponent_spread_for_colour():
    from dlrepro.experiments.s5_generative import colourfulness

    grey = torch.full((1, 3, 2, 2), 0.5)
    assert colourfulness(grey).item() == 0
    # red-green: +1 on two pixels, -1 on two (mean 0, std 1); yellow-blue: 0 everywhere
    red = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    image = torch.stack([red, 1 - red, torch.full((2, 2), 0.5)]).unsqueeze(0)
    assert colourfulness(image).item() == pytest.approx(1.0)


def test_equivalence_seeds_follow_the_normal_approximation():
    # 2 σ² (z_0.95 + z_0.8)² / (margin − |d|)² = 2 · (1.6449 + 0.8416)² / 1² = 12.37 → 13
    assert claims.equivalence_seeds_needed(0.5, 1.0, 1.5) == 13
    assert claims.equivalence_seeds_needed(-2.0, 1.0, 1.5) == "no equivalence observed"
    assert claims.equivalence_seeds_needed(0.5, None, 1.5) is None


@pytest.mark.parametrize(
    ("gaps", "passed"), [((0.08, 0.06, 0.07), True), ((0.02, 0.06, 0.01), False)]
)
def test_the_baseline_overfits_when_its_last_epoch_gap_exceeds_the_margin(gaps, passed: bool):
    check = claims.overfits("baseline", seeds(*gaps), 0.05, ["baseline", "dropout"])
    assert check["passed"] is passed and check["runs"] == ["baseline", "dropout"]
    assert check["checked"].endswith("above 0.05" if passed else "not above 0.05")


@pytest.mark.parametrize(("repeats", "passed"), [(5, True), (1, False)])
def test_timing_needs_two_interleaved_rounds(repeats: int, passed: bool):
    assert claims.interleaved({"repeats": repeats}, ["a", "b"])["passed"] is passed
