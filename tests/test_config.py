import re

import numpy as np
import pytest
import yaml

from dlrepro import config
from dlrepro.cli import PARAMS_CHECKED, main
from dlrepro.config import (
    PER_PROFILE,
    PROFILES,
    SEED_LIMIT,
    ParamsError,
    load_params,
    resolve,
    validate,
)

from .conftest import REPO, set_key, smoke_params


def test_repository_params_are_valid_for_every_profile():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for profile in PROFILES:
        params = validate({**raw, "profile": profile})
        assert params.profile == profile


def _covers(key: str, leaf: str) -> bool:
    """`key` (a dvc.yaml params key, maybe with ${...} parts) is `leaf` or one of its parents."""
    parts, leaf_parts = key.split("."), leaf.split(".")
    return len(parts) <= len(leaf_parts) and all(
        part == other or part.startswith("${")
        for part, other in zip(parts, leaf_parts, strict=False)
    )


def test_every_stage_that_reads_a_per_profile_key_depends_on_its_home():
    # statically, from dvc.yaml alone: a block declared in the base holds `per-profile` leaves
    # whose values live in the profile (the smoke pipeline test checks each stage's reads)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    base = {key: value for key, value in raw.items() if key != "profiles"}
    per_profile = config._unset(base)
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        listed = [key for key in stage.get("do", stage).get("params", []) if isinstance(key, str)]
        overlay = "profiles.${profile}"
        # the whole overlay (paper_assets: the resolved params) holds every per-profile value
        homes = [key.removeprefix(overlay).removeprefix(".") for key in listed if overlay in key]
        for key in listed:
            for leaf in per_profile:
                if _covers(key, leaf) or _covers(leaf, key):
                    assert any(not home or _covers(home, leaf) for home in homes), (
                        f"{name} reads {leaf}"
                    )


def test_overriding_a_base_key_that_the_profile_sets_fails_naming_the_profile_key():
    raw = smoke_params()
    raw["s1"]["train"]["epochs"] = 1  # what `dvc exp run -S s1.train.epochs=1` writes
    message = (
        "s1.train.epochs = 1 is set per profile (profiles.smoke.s1.train.epochs = 2 wins); "
        "set -S profiles.smoke.s1.train.epochs=1 instead, and restore s1.train.epochs: "
        "per-profile"
    )
    with pytest.raises(ParamsError, match=re.escape(message)):
        resolve(raw)


def test_overriding_the_profile_key_is_what_the_run_reads():
    raw = smoke_params()
    raw["profiles"]["smoke"]["s1"]["train"]["epochs"] = 1
    raw["profiles"]["smoke"]["s1"]["model"]["conv_channels"] = [4]
    params = validate(raw)
    assert params.s1.train.epochs == 1 and params.s1.model.conv_channels == [4]


def test_a_second_home_in_another_profile_fails_too():
    raw = smoke_params()
    raw["profiles"]["embedded"]["s1"]["dropout"] = 0.5
    with pytest.raises(ParamsError, match=r"write s1\.dropout: per-profile and set it in every"):
        resolve(raw)


def test_a_per_profile_key_that_a_profile_leaves_out_fails_naming_where_to_set_it():
    raw = smoke_params()
    del raw["profiles"]["paper"]["s1"]["train"]["epochs"]  # not the selected profile
    with pytest.raises(ParamsError, match=r"profiles\.paper\.s1\.train\.epochs is missing"):
        resolve(raw)


def test_a_profile_cannot_set_the_marker():
    raw = smoke_params()
    raw["profiles"]["smoke"]["s4"]["n_train"] = PER_PROFILE
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.s4\.n_train = per-profile"):
        resolve(raw)


def _leaves(tree: dict, path: str = "") -> dict[str, object]:
    """Dotted key -> value of every leaf (lists are leaves)."""
    leaves = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves |= _leaves(value, f"{path}{key}.")
        else:
            leaves[f"{path}{key}"] = value
    return leaves


def test_profile_overlay_changes_only_per_profile_keys():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    per_profile = config._unset({key: value for key, value in raw.items() if key != "profiles"})
    smoke = validate({**raw, "profile": "smoke"})
    embedded = validate({**raw, "profile": "embedded"})
    smoke_leaves = _leaves(smoke.model_dump(mode="json"))
    embedded_leaves = _leaves(embedded.model_dump(mode="json"))
    changed = {
        key
        for key in smoke_leaves.keys() | embedded_leaves.keys()
        if smoke_leaves.get(key) != embedded_leaves.get(key)
    }
    outside = {k for k in changed if not any(k == p or k.startswith(f"{p}.") for p in per_profile)}
    assert outside == {"profile"} and "s1.n_train" in changed
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


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (0, r"seeds\.s1 = 0: Input should be greater than or equal to 1"),
        (True, r"seeds\.s1 = True: Input should be a valid integer"),
        (2.5, r"seeds\.s1 = 2\.5: Input should be a valid integer"),
    ],
)
def test_a_seed_count_that_is_not_a_positive_integer_fails_naming_the_key(count, message):
    raw = smoke_params()
    raw["profiles"]["smoke"]["seeds"]["s1"] = count
    with pytest.raises(ParamsError, match=message):
        validate(raw)


def test_seed_counts_are_per_section_and_start_at_zero():
    params = validate(smoke_params())
    assert params.seeds.of("s2") == list(range(params.seeds.s2))
    with pytest.raises(ParamsError, match=r"seeds.s1 = 3 is set per profile"):
        validate({**smoke_params(), "seeds": {"s1": 3}})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("profiles.smoke.s1.train.epochs", True, "true/false is no number"),
        ("s2.pretrain.lr", False, "true/false is no number"),
        ("profiles.smoke.s3.textgen.temperatures", [float("inf")], "finite number"),
        ("s4.denoise.noise_std", float("inf"), "finite number"),
        ("s6.tabular.threshold", float("nan"), "finite number"),
    ],
)
def test_a_boolean_number_infinity_or_nan_fails_naming_the_key(key, value, message):
    """YAML's `true`, `.inf` and `.nan` where a number belongs: pydantic's lax mode took `true`
    as 1 (one epoch), and gt=0 lets infinity through."""
    raw = smoke_params()
    set_key(raw, key, value)
    with pytest.raises(ParamsError) as error:
        validate(raw)
    leaf = key.removeprefix("profiles.smoke.")
    assert re.search(rf"^{re.escape(leaf)}(\.0)? = .*{message}", str(error.value), re.M)


def test_params_yaml_with_a_syntax_error_fails_in_one_line(project, capsys):
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(text.replace("seeds:", "seeds: [0,", 1))
    assert main(["s1", "train", "--variant", "baseline"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"error: params.yaml is no valid YAML: .* \(line \d+, column \d+\); fix the syntax", line
    )


def test_the_largest_valid_seed_seeds_every_generator_the_stages_use():
    from stable_baselines3.common.utils import set_random_seed

    from dlrepro.training.loop import seed_everything

    largest = SEED_LIMIT - 1
    set_random_seed(largest)  # numpy's legacy generator, unchanged
    # the largest seed the loops derive (s3's samples use the larger multiplier)
    seed_everything(largest * 1_000_003 + 10**9)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        np.random.seed(SEED_LIMIT)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # smoke s1: 300 drawn, 30 held out for validation
        ("s1.train.batch_size", 271, "s1.train.batch_size = 271 is larger than the 270"),
        (
            "profiles.smoke.s5.gan_train.batch_size",
            241,
            "s5.gan_train.batch_size = 241 is larger than the 240 training samples that "
            "s4.n_train = 300 leaves",
        ),
        ("profiles.smoke.s5.colourise.train.batch_size", 91, "s5.colourise.n_train = 120"),
    ],
)
def test_a_batch_larger_than_the_training_set_fails(key, value, message):
    raw = smoke_params()
    set_key(raw, key, value)
    with pytest.raises(ParamsError, match=re.escape(message)):
        validate(raw)


def test_a_batch_as_large_as_the_training_set_is_valid():
    raw = smoke_params()
    raw["s1"]["train"]["batch_size"] = 270
    assert validate(raw).s1.train.batch_size == 270


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


def test_check_params_writes_the_same_file_for_every_valid_params_yaml(project):
    assert main(["check-params"]) == 0
    first = (project / PARAMS_CHECKED).read_bytes()
    raw = smoke_params()
    raw["s1"]["dropout"] = 0.4
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    assert main(["check-params"]) == 0
    assert (project / PARAMS_CHECKED).read_bytes() == first


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


def test_a_variant_changing_weight_decay_is_one_params_entry(project):
    from dlrepro.experiments.s1_network_training import condition

    raw = smoke_params()
    raw["s1"]["variants"]["weight_decay"] = {"batch_norm": True, "train": {"weight_decay": 5e-4}}
    raw["s3"]["sentiment"]["models"]["lstm"]["train"] = {"patience": 9}
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    params = config.load_params(project / "params.yaml")
    base = params.s1.train.model_dump()
    run, _ = condition(params, "weight_decay")
    assert run.train.model_dump() == base | {"weight_decay": 5e-4}
    assert run.config["train"] == {"weight_decay": 5e-4}
    # a variant without `train:` trains with the section's block, its lr shorthand on top
    assert condition(params, "lr_1e-3")[0].train.model_dump() == base | {"lr": 0.001}
    assert "train" not in condition(params, "baseline")[0].config
    sentiment = params.s3.sentiment
    assert sentiment.model_train("lstm").model_dump() == sentiment.train.model_dump() | {
        "patience": 9
    }


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"weight_decay": -1}, "s1: variants.wd.train.weight_decay: Input should be greater"),
        ({"weight_dekay": 0.1}, "s1: variants.wd.train.weight_dekay: Extra inputs are not"),
    ],
)
def test_a_variant_train_block_is_validated_like_the_sections(train, message):
    raw = smoke_params()
    raw["s1"]["variants"]["wd"] = {"train": train}
    with pytest.raises(ParamsError, match=re.escape(message)):
        validate(raw)


def test_a_sentiment_model_train_block_is_validated_like_a_variant():
    raw = smoke_params()
    raw["s3"]["sentiment"]["models"]["lstm"]["train"] = {"patiense": 3}
    message = "s3.sentiment: models.lstm.train.patiense: Extra inputs are not permitted"
    with pytest.raises(ParamsError, match=re.escape(message)):
        validate(raw)
