"""Faults in what a stage reads from an earlier one: the weights it trains from or scores with
(one byte flipped, truncated, missing) and its prepared data. Each stops the stage in one line
naming the file and the stage that rebuilds it, before any training; none loads silently."""

import shutil
from pathlib import Path

import pytest
import torch

from dlrepro.cli import main
from dlrepro.config import validate
from dlrepro.experiments import s5_generative
from dlrepro.training import weights

from .conftest import REPO, smoke_params, write_prepared


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensors' bytes, which torch.load does not check
    path.write_bytes(data)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {"flipped": _flip_a_byte, "truncated": _truncate, "missing": Path.unlink}


def _one_error_line(capsys) -> str:
    (line,) = capsys.readouterr().err.splitlines()
    return line


def _assert_names_file_and_stage(line: str, path: str, stage: str, damage: str) -> None:
    problem = "is missing" if damage == "missing" else "is corrupt or incomplete"
    assert line.startswith(f"error: {path} {problem}")
    assert line.endswith(f"rebuild it with `dvc repro {stage}`")


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_pretrained_base_stops_the_regime_in_one_line(s2_project, capsys, damage):
    path = "data/prepared/s2/pretrained/vgg16.pt"
    DAMAGE[damage](s2_project / path)
    assert main(["s2", "train", "--regime", "vgg16_finetune"]) == 2
    _assert_names_file_and_stage(_one_error_line(capsys), path, "s2_pretrain@vgg16", damage)
    assert not (s2_project / "results" / "s2" / "vgg16_finetune").exists()


@pytest.fixture
def s5_project(project):
    """The scratch project with 32x32 prepared digits and a digit classifier, as the s5 stages
    read them (an untrained classifier: these tests never score)."""
    write_prepared(project / "data" / "prepared" / "s4", n_train=64, classes=10, size=32)
    weights.save(
        s5_generative._classifier(validate(smoke_params())).state_dict(),
        Path(s5_generative.CLASSIFIER),
    )
    return project


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("model", ["vae", "gan"])
def test_a_damaged_digit_classifier_stops_generation_before_any_training(
    s5_project, monkeypatch, capsys, damage, model
):
    """The classifier is read only to score trained seeds: it is checked before the first."""

    def train(*args, **kwargs):
        raise AssertionError("trained before the classifier was checked")

    monkeypatch.setattr(s5_generative, "run_condition", train)
    DAMAGE[damage](s5_project / s5_generative.CLASSIFIER)
    assert main(["s5", "generate", "--model", model]) == 2
    line = _one_error_line(capsys)
    _assert_names_file_and_stage(line, str(s5_generative.CLASSIFIER), "s5_classifier", damage)


def test_the_digit_classifier_loads_as_saved(s5_project):
    saved = torch.load(s5_project / s5_generative.CLASSIFIER, weights_only=True)
    loaded, checksum = s5_generative.load_classifier(validate(smoke_params()))
    assert all(torch.equal(loaded.state_dict()[key], value) for key, value in saved.items())
    record = (s5_project / "models" / "s5" / "digit_classifier.pt.sha256").read_text()
    assert record == f"{checksum.removeprefix('sha256:')}  digit_classifier.pt\n"


def test_missing_prepared_data_stops_the_stage_in_one_line(project, capsys):
    (project / "data" / "prepared" / "s1" / "manifest.json").unlink()
    assert main(["s1", "train", "--variant", "baseline"]) == 2
    assert _one_error_line(capsys) == (
        "error: data/prepared/s1/manifest.json is missing; re-create it with `dvc repro` "
        "(the prepare stage)"
    )


@pytest.mark.parametrize(
    "lock",
    [b"", b"schema: '2.0'\nstages:\n  s1_prepare: {cmd: [dlrepro"],
    ids=["empty", "cut-short"],
)
def test_a_damaged_dvc_lock_stops_dlrepro_naming_the_recovery(project, capsys, lock):
    """DVC rewrites dvc.lock in place: killed meanwhile, it leaves the file empty and every DVC
    command then fails with a schema error. `dlrepro` (and so `make repro`, which fetches
    with it before `dvc repro`) says what happened and how to recover."""
    (project / "dvc.lock").write_bytes(lock)
    assert main(["check-params"]) == 2
    assert _one_error_line(capsys) == (
        f"error: dvc.lock is empty or damaged ({len(lock)} bytes; DVC was stopped while "
        "rewriting it), so every DVC command fails: restore it with `git checkout dvc.lock`, "
        "then `dvc repro` re-runs what ran since that commit"
    )


def test_the_repositorys_dvc_lock_reads_and_a_stage_under_dvc_does_not_read_it(
    project, monkeypatch
):
    shutil.copy(REPO / "dvc.lock", project / "dvc.lock")
    assert main(["check-params"]) == 0
    (project / "dvc.lock").write_bytes(b"")
    monkeypatch.setenv("DVC_STAGE", "check_params")  # DVC read it to start the stage
    assert main(["check-params"]) == 0
