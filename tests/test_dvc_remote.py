"""Stages shared between machines through DVC's own remote (README: the paper profile on a
cluster): one clone runs them and pushes its cache and run-cache to a local-directory remote; a
second clone reproduces them from there without running them.

DVC keeps a run-cache only for stages whose outputs are all DVC-cached (data preparation here);
a training stage's results are committed to git (`cache: false`), so a clone that has the
commit has them, and the weights a later stage reads (Section 2's bases, Section 5's
classifier) are DVC-cached, so `dvc pull` brings them. Slow (about a minute and a half, run by
`.ci/run`): the first clone runs five stages."""

import pytest

from .conftest import copy_repo_on_smoke, needs_raw_data, repo_commands


@pytest.mark.slow
@needs_raw_data
def test_a_second_clone_reproduces_stages_from_the_remote_without_running_them(tmp_path):
    first = copy_repo_on_smoke(tmp_path / "first")
    run = repo_commands(first)
    run("git", "init", "-q")
    run("dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    run("git", "add", "-A")
    run("git", "commit", "-qm", "smoke profile, a DVC remote")
    assert "Running stage 's1_prepare'" in run("dvc", "repro", "s1_prepare")
    run("dvc", "push", "--run-cache")  # data/raw, the prepared tensors, the stage's run

    # Another machine: a clone of the commit, which records none of those runs (dvc.lock is
    # main's). The run-cache restores the stage's outputs instead of running it.
    second = tmp_path / "second"
    run("git", "clone", "-q", str(first), str(second))
    again = repo_commands(second)
    log = again("dvc", "repro", "--pull", "s1_prepare")
    assert "Stage 's1_prepare' is cached - skipping run, checking out outputs" in log
    assert "Running stage 's1_prepare'" not in log
    prepared = "data/prepared/s1"
    files = sorted(p.relative_to(first) for p in (first / prepared).rglob("*") if p.is_file())
    assert files and all((second / f).read_bytes() == (first / f).read_bytes() for f in files)

    # A training stage's results travel with the commit (dvc.lock and results/ in git), and
    # the prepared tensors it reads come from the remote: a clone of it runs nothing.
    assert "Running stage 's1_train@baseline'" in run("dvc", "repro", "s1_train@baseline")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "s1_train@baseline")
    third = tmp_path / "third"
    run("git", "clone", "-q", str(first), str(third))
    log = repo_commands(third)("dvc", "repro", "--pull", "s1_train@baseline")
    assert "Running stage" not in log
    assert all((third / f).read_bytes() == (first / f).read_bytes() for f in files)

    # Weights are DVC-cached, not in git: the commit has their checksums and dvc.lock, the
    # remote their bytes, and a clone pulls them instead of retraining.
    weights = "models/s5/digit_classifier.pt"
    assert "Running stage 's5_classifier'" in run("dvc", "repro", "s5_classifier")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "s5_classifier")
    assert weights not in run("git", "ls-files", "models/s5").splitlines()
    run("dvc", "push")
    fourth = tmp_path / "fourth"
    run("git", "clone", "-q", str(first), str(fourth))
    assert not (fourth / weights).exists()
    log = repo_commands(fourth)("dvc", "repro", "--pull", "s5_classifier")
    assert "Running stage" not in log
    assert (fourth / weights).read_bytes() == (first / weights).read_bytes()
