"""Figures that summarise over seeds or claims: per-seed curves, bands kept in the metric's
range, and the claims' forest plot."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from dlrepro import claims
from dlrepro.claims_figure import forest, standard_error
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


def test_forest_plot_has_one_row_per_claim(tmp_path):
    interval = {"difference": 0.05, "ci_low": 0.01, "ci_high": 0.09, "df": 4.0}
    records = [
        _claim("s1", "holds", **interval),
        _claim("s1", "inconclusive", origin="addition", **interval | {"ci_low": -0.03}),
        _claim("s3", "holds", margin=2.0, **interval),  # an equivalence claim
        _claim("s2", "fails", ratio={"median": 0.8, "range": [0.7, 0.9]}),
        _claim("s6", "inconclusive"),  # censored: no interval
        _claim("tune", "fails", difference=-0.4),  # no interval
    ]
    fig = forest(records)
    scaled, timing = fig.axes
    assert len(scaled.get_yticklabels()) == len(records)
    # rows follow the report's sections, whatever the records' order
    rows = [label.get_text() for label in scaled.get_yticklabels()]
    assert rows == [f"a claim of {s}" for s in ("s1", "s1", "s2", "s3", "s6", "tune")]
    assert len(timing.get_lines()) == 3  # the line at ratio 1, the range, the median
    path = tmp_path / "forest.png"
    save_figure(fig, path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_scaled_difference_is_the_t_statistic_and_needs_an_interval():
    import pandas as pd
    from scipy import stats

    higher, lower = pd.Series([0.9, 0.85, 0.88]), pd.Series([0.8, 0.82, 0.7, 0.75])
    record = claims.difference_test(higher, lower, paired=False)
    welch = stats.ttest_ind(higher, lower, equal_var=False).statistic
    assert record["difference"] / standard_error(record) == pytest.approx(welch)
    assert standard_error(_claim("s1", "holds", difference=0.05)) is None
