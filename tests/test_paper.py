"""The paper must be complete without Quarto: everything it cites is a DVC output."""

from pathlib import Path

from dlrepro.paper_assets import (
    check_equal,
    check_manuscript,
    check_orderings,
    check_similar,
    compare,
    dvc_output_paths,
)

from .conftest import REPO


def test_committed_paper_cites_only_existing_dvc_outputs(monkeypatch):
    monkeypatch.chdir(REPO)
    assert check_manuscript(REPO / "paper", dvc_output_paths(REPO)) == []


def test_missing_var_include_and_figure_are_reported(tmp_path):
    paper = tmp_path / "paper"
    (paper / "generated").mkdir(parents=True)
    (paper / "_variables.yml").write_text("s1:\n  acc: '0.9'\n")
    (paper / "generated" / "t.md").write_text("| a |\n")
    (paper / "stray.md").write_text("typed by hand\n")
    (paper / "index.qmd").write_text(
        "{{< var s1.acc >}} {{< var s1.missing >}} {{< var s1 >}}\n"
        "{{< include generated/t.md >}}\n{{< include stray.md >}}\n"
        "![a](figures/none.png){#fig-a}\n"
    )
    outs = [paper / "_variables.yml", paper / "generated", paper / "figures"]
    problems = check_manuscript(paper, outs)
    assert problems == [
        "index.qmd: var 's1.missing' is not a value in _variables.yml",
        "index.qmd: var 's1' is not a value in _variables.yml",
        "index.qmd: include stray.md is not a DVC output",
        "index.qmd: figure figures/none.png is not a DVC output",
    ]


def test_verdicts_need_two_standard_errors():
    a, b = {"mean": 0.80, "std": 0.01}, {"mean": 0.75, "std": 0.01}
    assert compare(a, b, 3)[0] == "holds"
    assert compare(b, a, 3)[0] == "fails"
    assert compare({"mean": 0.751, "std": 0.01}, b, 3)[0] == "inconclusive"
    assert compare(a, b, 1)[0] == "inconclusive"


def test_every_reproduced_report_figure_is_in_the_paper():
    text = (REPO / "paper" / "index.qmd").read_text()
    assert "figures/s6/tabular_policies.png" in text and "figures/s6/dqn_policies.png" in text
    for figure in [
        "lr_sweep",
        "curves_baseline",
        "curves_moderate_aug",
        "curves_aggressive_aug",
        "curves_dropout",
        "curves_bn",
        "curves_bn_dropout",
        "curves_zero_init",
    ]:
        assert f"figures/s1/{figure}.png" in text
    for figure in [  # report Figures 3, 4-5 and 17-19
        "airline_windows",
        "bleu_temperature",
        "curves_sentiment_embedding",
        "curves_sentiment_lstm",
        "curves_sentiment_lstm_glove",
    ]:
        assert f"figures/s3/{figure}.png" in text
    for figure in [  # report Figures 20-21, 6-7 and 22-23, 24; sample grids of Table 6's models
        "s4/autoencoder_mlp/architecture",
        "s4/autoencoder_cnn/architecture",
        "s4/denoise_mae/denoising",
        "s4/denoise_ms_ssim/denoising",
        "s4/denoise_mse/denoising",
        "s4/denoise_ssim/denoising",
        "s5/colourise_unet/colourised",
        "s5/colourise_cgan/colourised",
        "s5/generate_vae/samples",
        "s5/generate_vae_no_kl/samples",
        "s5/generate_gan/samples",
    ]:
        assert f"figures/{figure}.png" in text
    assert Path(REPO / "paper" / "_quarto.yml").exists()


def test_claims_can_compare_two_metrics_and_check_equality():
    metrics = {
        "lstm": {"probe_1": {"mean": 0.2, "std": 0.01}, "probe_2": {"mean": 0.7, "std": 0.01}},
        "pool": {"probe_1": {"mean": 0.4, "std": 0.1}, "probe_2": {"mean": 0.4, "std": 0.1}},
    }
    tally = {"holds": 0, "fails": 0, "inconclusive": 0}
    claim = {"higher": "lstm", "higher_metric": "probe_2", "lower": "lstm", "metric": "probe_1"}
    (row,) = check_orderings([{**claim, "says": "separates"}], metrics, 3, tally)
    assert "`lstm` probe_2 > `lstm` probe_1" in row and row.endswith("| holds |")
    same = {"run": "pool", "metrics": ["probe_1", "probe_2"], "says": "same"}
    rows = check_equal([same, {**same, "run": "lstm"}], metrics, tally)
    assert rows[0].endswith("| holds |") and rows[1].endswith("| fails |")
    assert tally == {"holds": 2, "fails": 1, "inconclusive": 0}


def test_similarity_claims_need_the_whole_band_inside_the_tolerance():
    metrics = {
        "a": {"mae": {"mean": 0.050, "std": 0.001}},
        "close": {"mae": {"mean": 0.051, "std": 0.001}},
        "far": {"mae": {"mean": 0.070, "std": 0.001}},
        "noisy": {"mae": {"mean": 0.052, "std": 0.01}},
    }
    tally = {"holds": 0, "fails": 0, "inconclusive": 0}
    claims = [
        {"runs": ["close", "a"], "metric": "mae", "rel_tolerance": 0.1, "says": "similar"},
        {"runs": ["far", "a"], "metric": "mae", "rel_tolerance": 0.1, "says": "similar"},
        {"runs": ["noisy", "a"], "metric": "mae", "rel_tolerance": 0.1, "says": "similar"},
    ]
    rows = check_similar(claims, metrics, 3, tally)
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["holds", "fails", "inconclusive"]
    assert "`close` ≈ `a` on mae within 10%" in rows[0]
