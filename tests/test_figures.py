"""Figures that summarise over seeds or claims: per-seed curves, bands kept in the metric's
range, and the claims' forest plot."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from dlrepro import claims
from dlrepro.claims_figure import LABEL_CHARS, figures, forest, standard_error
from dlrepro.results import FEW_SEEDS, plot_seeds, save_figure, spread_label, subplots


def test_few_seeds_are_drawn_as_thin_lines_under_the_mean_without_a_band():
    _, (ax,) = subplots(1)
    curves = np.array([[0.0, 200.0, 500.0], [0.0, 10.0, 20.0], [0.0, 400.0, 480.0]])
    plot_seeds(ax, np.arange(3), curves, "dqn", limits=(0, 500))
    mean, *seeds = ax.get_lines()
    assert len(seeds) == 3
    np.testing.assert_allclose(mean.get_ydata(), curves.mean(axis=0))
    assert all(line.get_linewidth() < mean.get_linewidth() for line in seeds)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_titles_say_whether_seeds_or_a_band_are_drawn():
    assert spread_label(3) == "mean and each of 3 seeds"
    assert spread_label(FEW_SEEDS + 1) == f"mean ± std over {FEW_SEEDS + 1} seeds"


@pytest.mark.parametrize("t_interval", [False, True])
def test_a_band_never_leaves_the_metric_range(t_interval):
    _, (ax,) = subplots(1)
    curves = np.random.default_rng(0).uniform(0, 500, size=(8, 20))
    curves[:4] = 0.0  # half the seeds never learn: mean ± spread runs below 0 and above 500
    curves[4:, 10:] = 500.0
    plot_seeds(ax, np.arange(20), curves, "dqn", limits=(0, 500), t_interval=t_interval)
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    y = band.get_paths()[0].vertices[:, 1]
    assert y.min() >= 0 and y.max() <= 500


def _claim(section: str, verdict: str, origin: str = "report", **fields) -> claims.Claim:
    """A claims.json record with no statistics unless given."""
    return claims._record(
        {"says": f"a claim of {section}", "origin": origin}, "checked", "Welch t", verdict
    ) | {"section": section, **fields}


def test_forest_plots_are_one_per_section_with_one_row_per_claim(tmp_path):
    interval = {"difference": 0.05, "ci_low": 0.01, "ci_high": 0.09, "df": 4.0}
    records = [
        _claim("s3", "holds", margin=2.0, **interval),  # an equivalence claim
        _claim("s1", "holds", **interval),
        _claim("s1", "inconclusive", origin="addition", **interval | {"ci_low": -0.03}),
        _claim("s2", "holds", **interval),
        _claim("s2", "fails", ratio={"median": 0.8, "range": [0.7, 0.9]}),
        _claim("s6", "inconclusive"),  # censored: no interval
        _claim("tune", "fails", difference=-0.4),  # no interval
    ]
    drawn = figures(records)
    # sections in the report's order, whatever the records' order; each its own figure
    assert list(drawn) == ["s1", "s2", "s3", "s6"]  # the tuning questions have their table
    (scaled,) = drawn["s1"].axes
    rows = [label.get_text() for label in scaled.get_yticklabels()]
    assert rows == ["a claim of s1", "a claim of s1 (our addition)"]
    scaled, timing = drawn["s2"].axes  # a timing panel only where a claim is on timing
    assert len(scaled.get_yticklabels()) == 2
    assert len(timing.get_lines()) == 3  # the line at ratio 1, the range, the median
    path = tmp_path / "s1.png"
    save_figure(drawn["s1"], path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_long_claim_is_wrapped_whole_never_cut():
    """Two claims that differ only at their end (one statement, two networks) keep apart."""
    says = "fine-tuning gives the highest accuracy on the target task after pretraining " * 2
    records = [
        claims._record({"says": says + f"({net})"}, "checked", "Welch t", "holds")
        | {"section": "s2"}
        for net in ("VGG-16", "ResNet-50")
    ]
    (scaled,) = forest(records, "2 CNN training regimes").axes
    rows = [label.get_text() for label in scaled.get_yticklabels()]
    assert [row.replace("\n", " ") for row in rows] == [r["says"] for r in records]
    assert all(len(line) <= LABEL_CHARS for row in rows for line in row.split("\n"))


def test_the_scaled_difference_is_the_t_statistic_and_needs_an_interval():
    import pandas as pd
    from scipy import stats

    higher, lower = pd.Series([0.9, 0.85, 0.88]), pd.Series([0.8, 0.82, 0.7, 0.75])
    record = claims.difference_test(higher, lower, paired=False)
    welch = stats.ttest_ind(higher, lower, equal_var=False).statistic
    assert record["difference"] / standard_error(record) == pytest.approx(welch)
    assert standard_error(_claim("s1", "holds", difference=0.05)) is None


def test_figures_name_every_run_in_words_not_by_its_params_key():
    """Titles and legends say "batch normalisation + dropout 0.3", never `bn_dropout`."""
    from dlrepro.config import load_params
    from dlrepro.experiments.s1_network_training import variant_title
    from dlrepro.experiments.s2_cnn_regimes import regime_title
    from dlrepro.experiments.s3_rnn import sentiment_title
    from dlrepro.experiments.s4_autoencoders import ENCODER_NAMES, LOSS_NAMES
    from dlrepro.experiments.s5_generative import model_title

    from .conftest import REPO

    params = load_params(REPO / "params.yaml")
    titles = {
        **{name: variant_title(v, params.s1) for name, v in params.s1.variants.items()},
        **{name: regime_title(r) for name, r in params.s2.regimes.items()},
        **{name: sentiment_title(m) for name, m in params.s3.sentiment.models.items()},
        **{name: ENCODER_NAMES[kind] for name, kind in params.s4.encoders.items()},
        **{name: LOSS_NAMES[loss] for name, loss in params.s4.denoise.losses.items()},
        **{name: model_title(m) for name, m in params.s5.models.items()},
    }
    assert titles["bn_dropout"] == "batch normalisation + dropout 0.3"
    assert titles["vgg16_transfer"] == "VGG-16 transfer (base frozen)"
    assert titles["vae_no_kl"] == "VAE without KL"
    assert not [title for title in titles.values() if "_" in title]
    assert len(set(titles.values())) == len(titles)  # no two runs look alike
