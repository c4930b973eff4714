"""The section registry: a section added as one registry entry and its experiment runs through the
CLI, the claims stage and the paper assets, with no other code edited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dlrepro import claims, cli, paper_assets
from dlrepro.config import Params, load_params
from dlrepro.sections import SECTIONS, Action, Option, Section

REPO = Path(__file__).resolve().parents[1]
TOY_RUNS = {"wide": 0.9, "narrow": 0.6}  # run -> its accuracy at seed 0


def toy_train(params: Params, width: str, *, dry_run: bool = False) -> None:
    """The toy experiment: one run's per-seed accuracy (seed s adds s/100)."""
    if dry_run:
        return
    out = Path("results/toy") / width
    out.mkdir(parents=True, exist_ok=True)
    seeds = params.seeds.of("s1")  # a real section would add its own count to `seeds`
    accuracy = [TOY_RUNS[width] + seed / 100 for seed in seeds]
    pd.DataFrame({"seed": seeds, "acc": accuracy}).to_csv(out / "runs.csv", index=False)


def toy_claims(params: Params, register: dict) -> list[claims.Claim]:
    return claims.orderings(register["orderings"], claims.load_runs("toy", TOY_RUNS))


def toy_assets(params: Params, report: dict) -> tuple[dict, dict[str, list[str]]]:
    runs = claims.load_runs("toy", TOY_RUNS)
    table = ["| Run | Accuracy |", "|---|---:|"]
    table += [f"| {name} | {run['acc'].mean():.3f} |" for name, run in runs.items()]
    return {"runs": len(runs)}, {"toy_table.md": table}


TOY = Section(
    title="7 Toy",
    help="a toy section",
    actions={"train": Action(toy_train, options=("width",))},
    options={"width": Option("a toy run", choices=tuple(TOY_RUNS))},
    claims=toy_claims,
    paper_assets=toy_assets,
)


def params_without_studies() -> dict:
    """The repository's params.yaml without tuning studies (their sections are not registered
    in the toy project)."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["tune"]["studies"] = {}
    for overlay in raw["profiles"].values():
        overlay.get("tune", {}).pop("studies", None)
    return raw


@pytest.fixture
def only_toy(tmp_path, monkeypatch) -> Iterator[Path]:
    """A scratch project whose registry holds the toy section alone (so nothing reads the real
    results), with its params, the toy's register block, a manuscript citing its values and what
    the provenance table reads."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_without_studies()))
    registered = dict(SECTIONS)
    SECTIONS.clear()
    SECTIONS["toy"] = TOY
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper").mkdir()
    register = {"toy": {"orderings": [{"higher": "wide", "lower": "narrow", "metric": "acc",
                                       "says": "wide beats narrow"}]}}  # fmt: skip
    (tmp_path / "paper" / "report_values.yaml").write_text(yaml.safe_dump(register))
    (tmp_path / "paper" / "index.qmd").write_text("{{< var toy.runs >}} {{< var toy.claims >}}\n")
    (tmp_path / "data.dvc").write_text("outs:\n- md5: 0123abcd.dir\n  nfiles: 1\n")
    monkeypatch.setattr(paper_assets, "_stages", lambda root: [])  # no DVC project here
    yield tmp_path
    SECTIONS.clear()
    SECTIONS.update(registered)  # in its order: the paper's


def test_a_toy_section_runs_through_cli_claims_and_paper_assets(only_toy):
    params = ["--params", "params.yaml"]
    for width in TOY_RUNS:
        assert cli.main([*params, "toy", "train", "--width", width]) == 0
    with pytest.raises(SystemExit, match="toy train needs --width NAME"):
        cli.main([*params, "toy", "train"])
    assert cli.main([*params, "claims"]) == 0
    assert cli.main([*params, "paper-assets"]) == 0

    (record,) = json.loads((only_toy / "results/claims/claims.json").read_text())
    assert (record["section"], record["says"], record["verdict"]) == (
        "toy",
        "wide beats narrow",
        "holds",
    )
    assert record["difference"] == pytest.approx(0.3)
    assert "## 7 Toy" in (only_toy / "results/claims/claims.md").read_text()
    generated = only_toy / "paper/generated"
    mean_seed = (load_params(only_toy / "params.yaml").seeds.s1 - 1) / 2 / 100
    assert (generated / "toy_table.md").read_text().splitlines()[2:] == [
        f"| wide | {0.9 + mean_seed:.3f} |",
        f"| narrow | {0.6 + mean_seed:.3f} |",
    ]
    assert "wide beats narrow" in (generated / "toy_claims.md").read_text()
    assert "| 7 Toy | 1 | 1 | 0 | 0 | 0 | 1 | 0 |" in (generated / "claims_summary.md").read_text()
    variables = yaml.safe_load((only_toy / "paper/_variables.yml").read_text())
    assert variables["toy"]["runs"] == 2
    assert variables["toy"]["claims"] == {
        "holds": 1,
        "fails": 0,
        "inconclusive": 0,
        "not_testable_here": 0,
    }
