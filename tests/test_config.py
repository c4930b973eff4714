import re

import pytest
import yaml

from dlrepro.cli import main
from dlrepro.config import PROFILES, ParamsError, load_params, resolve, validate

from .conftest import REPO, smoke_params


def test_repository_params_are_valid_for_every_profile():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for profile in PROFILES:
        params = validate({**raw, "profile": profile})
        assert params.profile == profile


def test_profile_overlay_changes_sizes_only():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    smoke = validate({**raw, "profile": "smoke"})
    embedded = validate({**raw, "profile": "embedded"})
    assert smoke.s1.n_train < embedded.s1.n_train
    assert smoke.s1.variants == embedded.s1.variants  # same runs, smaller
    assert smoke.s4.encoders == embedded.s4.encoders
    assert smoke.s4.denoise.losses == embedded.s4.denoise.losses
    assert smoke.s5.models == embedded.s5.models
    assert smoke.s5.colourise.models == embedded.s5.colourise.models


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (lambda p: p["s1"]["train"].update(lr=-0.1), "s1.train.lr", "greater than 0"),
        (lambda p: p["s1"].update(dropout=1.5), "s1.dropout", "less than 1"),
        (
            lambda p: p["s1"]["variants"]["baseline"].update(augment="extreme"),
            "augment",
            "allowed: none, moderate, aggressive",
        ),
        (
            lambda p: p["s1"]["train"].update(optimizer="lion"),
            "s1.train.optimizer",
            "'sgd' or 'adam'",
        ),
        (lambda p: p["s1"].update(droput=0.3), "s1.droput", "unknown key"),
    ],
)
def test_invalid_values_name_the_key_and_the_allowed_values(edit, key, allowed):
    raw = smoke_params()
    edit(raw)
    with pytest.raises(ParamsError) as error:
        validate(raw)
    assert key in str(error.value)
    assert allowed in str(error.value)


def test_unknown_profile_lists_the_profiles():
    with pytest.raises(ParamsError, match="allowed: smoke, embedded, paper"):
        resolve({**smoke_params(), "profile": "huge"})


def test_profile_overlay_with_a_typo_fails():
    raw = smoke_params()
    raw["profiles"]["smoke"]["s1"]["n_trian"] = 5
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.s1\.n_trian: unknown key"):
        validate(raw)


def test_profiles_must_list_the_same_sections():
    raw = smoke_params()
    del raw["profiles"]["paper"]["s6"]
    with pytest.raises(ParamsError, match=r"every profile must list the same sections"):
        validate(raw)


def test_cli_rejects_bad_params_before_any_work(project, capsys):
    raw = smoke_params()
    raw["s1"]["train"]["lr"] = -1
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    assert main(["s1", "train", "--variant", "baseline"]) == 2
    assert "s1.train.lr = -1" in capsys.readouterr().err
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_load_params_of_missing_file_says_where_to_run(tmp_path):
    with pytest.raises(ParamsError, match="run from the repository root"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["s1", "train"], "s1 train needs --variant NAME (see s1.variants"),
        (["s3", "textgen"], "s3 textgen needs --level NAME (see s3.textgen.levels)"),
        (["s4", "denoise"], "s4 denoise needs --loss NAME (see s4.denoise.losses)"),
    ],
)
def test_cli_says_which_name_an_action_needs(project, argv, message):
    with pytest.raises(SystemExit, match=re.escape(message)):
        main(argv)
