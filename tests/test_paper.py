"""The paper must be complete without Quarto: everything it cites is a DVC output."""

import json
import re
from pathlib import Path

from dlrepro.config import ArchConfig
from dlrepro.paper_assets import _weights_sentence, check_manuscript, dvc_output_paths
from dlrepro.sections import SECTIONS

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
        "![a {{< var source.fig-a >}}](figures/none.png){#fig-a}\n"
        "![b](generated/t.md){#fig-b}\n"
    )
    outs = [paper / "_variables.yml", paper / "generated", paper / "figures"]
    problems = check_manuscript(paper, outs)
    assert problems == [
        "index.qmd: var 's1.missing' is not a value in _variables.yml",
        "index.qmd: var 's1' is not a value in _variables.yml",
        "index.qmd: var 'source.fig-a' is not a value in _variables.yml",
        "index.qmd: include stray.md is not a DVC output",
        "index.qmd: figure figures/none.png is not a DVC output",
        "index.qmd: caption of fig-b lacks {{< var source.fig-b >}}",
    ]


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


def test_every_checked_claim_is_in_the_paper(monkeypatch):
    """The committed claims stage output, section by section, is what the paper's claims
    tables show (the tuning verdicts in the tuning table)."""
    monkeypatch.chdir(REPO)
    records = json.loads((REPO / "results" / "claims" / "claims.json").read_text())
    summary = json.loads((REPO / "results" / "claims" / "summary.json").read_text())
    counted = sum(summary["all"].values()) + sum(summary["additions"]["all"].values())
    assert counted == len(records) > 0
    generated = REPO / "paper" / "generated"
    shown = {path.name: path.read_text() for path in generated.glob("*.md")}
    for record in records:
        key = record["section"]
        table = f"{key}_claims.md" if SECTIONS[key].claims_in_paper else f"{key}_table.md"
        assert record["says"] in shown[table], record
    index = (REPO / "paper" / "index.qmd").read_text()
    for key, section in SECTIONS.items():
        table = f"{key}_claims.md" if section.claims_in_paper else f"{key}_table.md"
        assert f"generated/{table}" in index


def test_paper_names_the_imagenet_weights_file_and_its_published_accuracy():
    imagenet = ArchConfig(width=1.0, weights="imagenet")
    resnet = _weights_sentence("resnet50", imagenet)
    # V1 is the original ResNet-50 (the report's Keras model), not V2's newer recipe (80.9 %).
    assert "`ResNet50_Weights.IMAGENET1K_V1` (file `resnet50-0676ba61.pth`, 76.1 % top-1" in resnet
    vgg = _weights_sentence("vgg16", imagenet)
    assert "`VGG16_Weights.IMAGENET1K_V1` (file `vgg16-397923af.pth`, 71.6 % top-1" in vgg


def test_the_head_input_the_paper_states_is_global_average_pooling():
    from torch import nn

    from dlrepro.models.transfer import build_base
    from dlrepro.paper_assets import HEAD_INPUT

    assert "global-average-pooled" in HEAD_INPUT
    vgg, _ = build_base("vgg16", 0.125, 32)
    resnet, _ = build_base("resnet50", 0.125, 32)
    for pool in (vgg[1], resnet.avgpool):
        assert isinstance(pool, nn.AdaptiveAvgPool2d) and pool.output_size in (1, (1, 1))


def test_numbered_sections_are_the_reports_sections_in_its_order():
    """The paper's Section n is the report's Section n (summary and provenance unnumbered, the
    tuning questions after Section 6), titled as the claims tables title it."""
    text = (REPO / "paper" / "index.qmd").read_text().split("\n---\n", 1)[-1]
    numbered = [
        heading for heading in re.findall(r"^# (.+)$", text, re.M) if ".unnumbered" not in heading
    ]
    sections = [re.fullmatch(r"(?P<title>.+) \{#sec-(?P<key>[\w-]+)\}", h) for h in numbered]
    report = [f"s{number}" for number in range(1, 7)]
    assert [s["key"] for s in sections] == [*report, "tuning"]
    for number, section in enumerate(sections[:6], start=1):
        report_number, title = SECTIONS[section["key"]].title.split(" ", 1)
        assert int(report_number) == number
        assert section["title"].startswith(title), (section["title"], title)


def test_a_pipe_in_a_cell_never_splits_its_row():
    """A check on "mean |second difference|" stays in its cell, the verdict in its column, in
    every table the claims stage writes (one cell writer for all tables)."""
    import pypandoc

    from dlrepro import claims

    record = claims._record(
        {"says": "a 12-month window gives the smoothest forecast"},
        "`window_12` seed-mean test forecast: mean |second difference| 32.3, below 41.8",
        "exact check",
        "holds",
        difference=-9.5,
    )
    table = [line for line in claims.table([record]) if line.startswith("|")]
    page = pypandoc.convert_text("\n".join(table), "html5", format="markdown")
    cells = [" ".join(c.split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", page, re.S)]
    assert len(cells) == 7
    assert "|second difference| 32.3" in cells[1] and cells[4] == "holds"


def test_a_pipe_inside_inline_code_is_left_as_written():
    from dlrepro.markdown import cell, literal, row

    assert cell("`a|b` mean |x|") == "`a|b` mean \\|x\\|"
    assert row(["1", "a|b"]) == "| 1 | a\\|b |"
    assert literal("_under_ *star* `tick`") == "\\_under\\_ \\*star\\* \\`tick\\`"


def test_sentences_that_depend_on_the_results_are_written_from_them():
    from dlrepro.paper_assets import (
        against_baseline,
        percent_range,
        regime_outcome,
        separation,
    )

    rmse = {1: 48.4, 3: 45.2, 6: 45.4, 12: 48.4}
    label = "same month last year"
    assert against_baseline(rmse, label, 42.0) == f"no window beats the baseline “{label}” (42.0)"
    assert against_baseline(rmse, label, 50.3).startswith("every window beats")
    assert against_baseline(rmse, label, 46.0).startswith("only windows 3 and 6 beat")
    assert against_baseline(rmse, label, 45.3).startswith("only window 3 beats")
    assert percent_range(4.0, [48.41, 45.20]) == "8.3–8.8"
    assert percent_range(4.0, [40.0, 40.01]) == "10.0"
    points = {"human": {"mean": 89.5}, "random_words": {"mean": 68.9}, "random_chars": {"mean": 1}}
    assert separation("on chars", points | {"separates": False}).startswith(
        "on chars, it does not: random output scores up to 68.9 against the human text's 89.5"
    )
    assert separation("on chars", points | {"separates": True}).startswith(
        "on chars, it separates them"
    )

    def checked(says: str, passed: bool) -> dict:
        return {"regime": [{"says": says, "checked": "...", "passed": passed}]}

    assert regime_outcome([checked("`a` converges", True)]).startswith("Every regime check")
    unmet = regime_outcome([checked("`unet` converges", False), checked("`a` converges", True)])
    assert unmet.startswith("The regime check “`unet` converges” is not met")


def test_the_reports_time_columns_are_quoted_from_its_table():
    from dlrepro.paper_assets import images_per_epoch

    rows = [
        {"sec_per_epoch": 147.51, "ms_per_image": 0.9897},
        {"sec_per_epoch": 8.01, "ms_per_image": 0.5218},
    ]
    assert images_per_epoch(rows) == "about 149,000 and 15,000"


# A number typed into the manuscript that a result or a data set decides: thousands
# ("70,000"), years ("1949–1960"), a spread ("500 ± 0"). Such numbers come from vars.
TYPED_NUMBER = re.compile(r"\d,\d{3}|\b(?:19|20)\d\d\b|\d\s*±\s*\d")


def test_the_manuscript_types_no_number_that_data_or_results_decide():
    text = (REPO / "paper" / "index.qmd").read_text()
    prose = re.sub(r"\{\{<.*?>\}\}|@[\w-]+", "", text)  # vars, citations and references
    assert TYPED_NUMBER.findall(prose) == []
