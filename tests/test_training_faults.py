"""Faults injected into a train stage: stale, corrupt or interrupted checkpoints, a seed worker
killed, a write that fails. Each ends in a correct result or one clear line, never a silent
wrong result."""

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from dlrepro import cli, results
from dlrepro.config import ComputeConfig, TrainConfig, validate
from dlrepro.failures import StageFailure, file_system_failure
from dlrepro.models.cnn import SmallCNN
from dlrepro.training import compute, seeds
from dlrepro.training.compute import WorkerDiedError
from dlrepro.training.seeds import (
    Condition,
    Measured,
    resume_key,
    run_condition,
    train_over_seeds,
    write_results,
)

from .conftest import separable_split, smoke_params

SPLITS = {"train": separable_split(96, 0), "val": separable_split(48, 1)}
EPOCHS = 3


class Killed(Exception):
    pass


pytestmark = pytest.mark.usefixtures("restore_compute")


def _condition(augment=None) -> Condition:
    return Condition(
        section="s1",
        name="c",
        profile="smoke",
        config={"net": "small"},
        build=lambda _: SmallCNN(1, 8, 4, conv_channels=[4], dense=[8]),
        train=TrainConfig(
            epochs=EPOCHS, batch_size=16, lr=0.05, optimizer="sgd", momentum=0.9, patience=10
        ),
        augment=augment,
    )


def _measure(model, result) -> Measured:
    return Measured({"best_val_acc": result.history[result.best_epoch - 1]["val_acc"]})


def _train(checkpoint_dir, measure=_measure, augment=None, workers=0) -> seeds.SeedRuns:
    # workers=0: one seed after another in this process, where monkeypatches and capsys reach
    compute.configure(ComputeConfig(seed_processes=workers), torch.device("cpu"))
    return train_over_seeds(
        _condition(augment),
        SPLITS,
        [0, 1, 2],
        device=torch.device("cpu"),
        checkpoint_dir=checkpoint_dir,
        measure=measure,
    )


def _untimed(runs: seeds.SeedRuns) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(runs.runs), runs.history


def _assert_same_runs(a: seeds.SeedRuns, b: seeds.SeedRuns) -> None:
    for frame_a, frame_b in zip(_untimed(a), _untimed(b), strict=True):
        pd.testing.assert_frame_equal(frame_a, frame_b)


def _killed_measuring_seed_0(checkpoint_dir) -> None:
    """A stage stopped after seed 0 trained to the end (its checkpoint complete)."""

    def measure(model, result):
        raise Killed

    with pytest.raises(Killed):
        _train(checkpoint_dir, measure)


def test_resume_key_covers_config_code_and_data(monkeypatch):
    key = resume_key({"net": "small"}, SPLITS)
    assert resume_key({"net": "small"}, SPLITS) == key
    assert resume_key({"net": "large"}, SPLITS) != key
    changed = separable_split(96, 0)
    changed.x[5, 0, 0, 0] += 1e-6
    assert resume_key({"net": "small"}, {**SPLITS, "train": changed}) != key
    monkeypatch.setattr(seeds, "source_digest", lambda: "other code")
    assert resume_key({"net": "small"}, SPLITS) != key


def test_checkpoint_of_other_code_is_discarded_and_the_seed_retrained(
    tmp_path, monkeypatch, capsys
):
    fresh = _train(tmp_path / "fresh")
    _killed_measuring_seed_0(tmp_path / "ckpt")
    capsys.readouterr()
    monkeypatch.setattr(seeds, "source_digest", lambda: "the model code changed")
    rerun = _train(tmp_path / "ckpt")
    checkpoint = tmp_path / "ckpt" / "seed0.pt"
    assert capsys.readouterr().err.splitlines() == [
        f"warning: discarding {checkpoint}: written by other code, data or params; "
        "training s1/c/seed0 from scratch"
    ]
    _assert_same_runs(rerun, fresh)


def test_seconds_count_the_time_before_a_resume(tmp_path, capsys):
    _killed_measuring_seed_0(tmp_path)
    state = torch.load(tmp_path / "seed0.pt", weights_only=True)
    state["seconds"] = 1000.0  # as if the killed session had taken that long
    torch.save(state, tmp_path / "seed0.pt")
    rerun = _train(tmp_path)
    assert f"resuming from {tmp_path / 'seed0.pt'} after epoch {EPOCHS}" in capsys.readouterr().out
    assert 1000 <= rerun.seconds[0] < 1000 + 60
    assert rerun.seconds[1] < 60


def test_a_killed_seed_worker_fails_the_stage_naming_it_and_a_rerun_trains_the_rest(
    tmp_path, capfd
):
    compute.configure(ComputeConfig(threads=1, seed_processes=3), torch.device("cpu"))
    kill = tmp_path / "kill seed 2 in its second epoch"

    def augment(x):
        if kill.exists() and torch.initial_seed() == 2 * 100_003 + 1:
            kill.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return x

    uninterrupted = _train(tmp_path / "uninterrupted", augment=augment)
    kill.touch()
    with pytest.raises(WorkerDiedError) as died:
        _train(tmp_path / "ckpt", augment=augment, workers=3)
    assert str(died.value) == (
        "s1/c: seed 2's worker process died (killed by SIGKILL: out of memory, or killed); the "
        "other seeds' checkpoints are kept: re-run to train only what is missing"
    )
    epochs_done = {
        seed: len(torch.load(tmp_path / "ckpt" / f"seed{seed}.pt")["history"]) for seed in (0, 1, 2)
    }
    assert epochs_done == {0: EPOCHS, 1: EPOCHS, 2: 1}
    capfd.readouterr()
    rerun = _train(tmp_path / "ckpt", augment=augment, workers=3)
    printed = capfd.readouterr().out  # by the workers: capfd reads their output too
    for seed, epoch in epochs_done.items():
        assert (
            f"resuming from {tmp_path / 'ckpt' / f'seed{seed}.pt'} after epoch {epoch}" in printed
        )
    _assert_same_runs(rerun, uninterrupted)


def test_a_failed_write_leaves_the_previous_result_set_intact(project, monkeypatch):
    params = validate(smoke_params())

    def run(condition):
        return run_condition(condition, SPLITS, params, measure=_measure, metrics=["best_val_acc"])

    run(_condition())
    out = project / "results" / "s1" / "c"
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert set(before) == {"history.csv", "history_seeds.csv", "runs.csv", "metrics.json"}

    def disk_full(path, obj):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("dlrepro.results.write_json", disk_full)
    changed = _condition()
    changed.train = changed.train.model_copy(update={"epochs": EPOCHS - 1})
    with pytest.raises(OSError) as failed:
        run(changed)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert file_system_failure(failed.value) == (
        "disk full while writing results/s1/c; free space and re-run"
    )


OLD_HISTORY = pd.DataFrame({"seed": [0, 0, 1], "epoch": [1, 2, 1], "val_acc": [0.5, 0.6, 0.4]})
NEW_HISTORY = pd.DataFrame({"seed": [0, 1], "epoch": [1, 1], "val_acc": [0.7, 0.8]})
OLD_RUNS, NEW_RUNS = [{"seed": 0, "acc": 0.5}, {"seed": 1, "acc": 0.4}], [{"seed": 0, "acc": 0.9}]


def _result_files(out) -> dict[str, bytes] | None:
    """The files of `out`, what readers read (None where it is missing)."""
    if not out.exists():
        return None
    return {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}


MUTATIONS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.link", "shutil.rmtree"}
"""Audit events of the file-system changes a result set's writing makes (os.replace raises
os.rename's); with the writes of files, the moments a kill could fall between."""


def _write_new_set_killed_at_step(out, step: int) -> bool:
    """Write the new set in a forked process that SIGKILLs itself just before its `step`-th
    change to the file system; True when it finished before that step."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        steps = 0

        def count(*args) -> None:
            nonlocal steps
            steps += 1
            if steps == step:
                os.kill(os.getpid(), signal.SIGKILL)

        def on_event(event: str, args: tuple) -> None:
            writes = event == "open" and isinstance(args[1], str) and set(args[1]) & set("wax+")
            if event in MUTATIONS or writes:
                count()

        sys.addaudithook(on_event)
        exchange = getattr(results, "_exchange", None)
        if exchange is not None:  # a foreign function, which raises no audit event
            results._exchange = lambda *args: (count(), exchange(*args))
        try:
            write_results(out, NEW_HISTORY, NEW_RUNS, ["acc"])
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def test_a_kill_at_any_step_of_replacing_a_result_set_leaves_the_old_set_or_the_new(project):
    out = project / "results" / "t" / "c"
    write_results(out, NEW_HISTORY, NEW_RUNS, ["acc"])
    new = _result_files(out)
    for step in range(1, 200):
        write_results(out, OLD_HISTORY, OLD_RUNS, ["acc"])  # after the last kill's leftovers
        old = _result_files(out)
        finished = _write_new_set_killed_at_step(out, step)
        assert _result_files(out) in (old, new), f"a mixed set after a kill at step {step}"
        if finished:
            break
    assert step > 10 and _result_files(out) == new
    assert sorted(path.name for path in out.parent.iterdir()) == ["c"]


@pytest.fixture
def immutable(tmp_path):
    """`immutable(path)` makes a file immutable (chattr +i: not even root may replace or
    remove it), undone after the test; skips where chattr cannot (not root, or a file system
    without the flag)."""
    marked = []

    def mark(path) -> None:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i needs root and a file system with the immutable flag")
        marked.append(path)

    yield mark
    subprocess.run(["chattr", "-R", "-i", str(tmp_path)], capture_output=True)


def test_a_result_file_that_cannot_be_replaced_leaves_a_whole_set(project, immutable, capsys):
    """An immutable metrics.json: replacing file by file left the new files beside it, and the
    error named the staging copy; the folders' exchange never touches it."""
    out = project / "results" / "t" / "c"
    write_results(out, OLD_HISTORY, OLD_RUNS, ["acc"])
    immutable(out / "metrics.json")
    write_results(out, NEW_HISTORY, NEW_RUNS, ["acc"])
    assert json.loads((out / "metrics.json").read_text())["acc"]["mean"] == 0.9
    assert _result_files(out).keys() == {
        "history.csv",
        "history_seeds.csv",
        "runs.csv",
        "metrics.json",
    }
    # The old set, moved aside, cannot be removed while its metrics.json is immutable: the
    # next run says so, naming the folder to remove.
    with pytest.raises(StageFailure) as failed:
        write_results(Path("results/t/c"), OLD_HISTORY, OLD_RUNS, ["acc"])
    assert str(failed.value) == (
        "cannot remove results/t/.c.writing, which an earlier run of this stage left (Operation "
        "not permitted); remove it and re-run"
    )
    assert json.loads((out / "metrics.json").read_text())["acc"]["mean"] == 0.9


def _fails_with(error):
    def run(params, args):
        raise error

    return run


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "results/s1/baseline/runs.csv"),
            "disk full while writing results/s1/baseline/runs.csv; free space and re-run",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "results/s1/baseline"),
            "Read-only file system: results/s1/baseline; make results/s1 writable and re-run",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "results/s1/baseline/runs.csv"),
            "Permission denied: results/s1/baseline/runs.csv; make results/s1/baseline writable "
            "and re-run",
        ),
        (WorkerDiedError("seed 2's worker process died"), "seed 2's worker process died"),
    ],
    ids=["disk-full", "read-only", "permission", "worker-died"],
)
def test_cli_prints_an_expected_failure_as_one_line(project, monkeypatch, capsys, error, line):
    monkeypatch.setattr(cli, "_check", _fails_with(error))
    assert cli.main(["check-params"]) == 2
    assert capsys.readouterr().err == f"error: {line}\n"


def test_cli_shows_an_unexpected_os_error_in_full(project, monkeypatch):
    monkeypatch.setattr(cli, "_check", _fails_with(FileNotFoundError(errno.ENOENT, "gone", "x")))
    with pytest.raises(FileNotFoundError):
        cli.main(["check-params"])


def test_cli_prints_a_loss_that_diverged_in_a_seed_worker_as_one_line(project, capsys):
    raw = smoke_params(train={**smoke_params()["s1"]["train"], "lr": 1e12})
    raw["compute"]["seed_processes"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    assert cli.main(["s1", "train", "--variant", "baseline"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: s1/baseline/seed0: loss is ")
    assert line.endswith("No metrics were written for this run.")


def test_two_processes_writing_one_result_set_take_turns(project):
    """Optuna workers sharing a study both write its result set: each removed the staging
    folder the other was writing into ("Cannot save file into a non-existent directory")."""
    out = project / "results" / "t" / "c"
    write_results(out, NEW_HISTORY, NEW_RUNS, ["acc"])
    new = _result_files(out)
    write_results(out, OLD_HISTORY, OLD_RUNS, ["acc"])
    old = _result_files(out)
    writers = []
    for history, runs in ((OLD_HISTORY, OLD_RUNS), (NEW_HISTORY, NEW_RUNS)):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for _ in range(40):
                    write_results(out, history, runs, ["acc"])
                code = 0
            finally:
                os._exit(code)
        writers.append(pid)
    assert all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in writers)
    assert _result_files(out) in (old, new)
    assert sorted(path.name for path in out.parent.iterdir()) == ["c"]
