"""Optuna studies: resume, pruning, storage errors, and the tuned training run."""

import functools
import json
import math
import multiprocessing
import os
import signal

import optuna
import pytest
import torch
from torch import nn

from dlrepro import tuning
from dlrepro.config import ParamsError, TuneConfig, override, validate
from dlrepro.models.transfer import build_base, reinitialise
from dlrepro.training import seeds
from dlrepro.training.loop import fit

from .conftest import separable_split, smoke_params


def _params(n_trials: int = 3):
    raw = smoke_params()
    raw["profiles"]["smoke"]["tune"]["studies"]["s1_bn"]["n_trials"] = n_trials
    return validate(raw)


def _study(project):
    url = f"sqlite:///{project}/.dlrepro/optuna.db"
    summaries = optuna.get_all_study_summaries(url)
    assert len(summaries) == 1
    return optuna.load_study(study_name=summaries[0].study_name, storage=url)


def test_smoke_study_writes_best_params_and_resumes(project):
    first = tuning.tune(_params(3), "s1_bn")
    assert first["n_trials"] == 3
    best = json.loads((project / "results" / "tune" / "s1_bn" / "best_params.json").read_text())
    assert set(best) == {
        "s1.train.lr",
        "s1.train.optimizer",
        "s1.train.momentum",
        "s1.train.batch_size",
    }
    for figure in ("history.png", "importance.png"):
        assert (project / "paper" / "figures" / "tune" / "s1_bn" / figure).exists()

    # The same study again with a larger budget: it is loaded, not re-created, and only the
    # missing trials run.
    second = tuning.tune(_params(5), "s1_bn")
    assert second["study"] == first["study"]
    numbers = [trial.number for trial in _study(project).trials]
    assert numbers == list(range(5))


def test_a_study_under_other_code_starts_afresh(project, monkeypatch):
    """Stored trials are results of the code that ran them: another code's are not reused."""
    first = tuning.tune(_params(2), "s1_bn")
    monkeypatch.setattr(seeds, "source_digest", lambda: "the code after a change")
    second = tuning.tune(_params(2), "s1_bn")
    assert second["study"] != first["study"]
    assert [
        trial.number
        for trial in optuna.load_study(
            study_name=second["study"], storage=f"sqlite:///{project}/.dlrepro/optuna.db"
        ).trials
    ] == [0, 1]


def test_tuned_run_applies_the_best_params(project):
    tuning.tune(_params(3), "s1_bn")
    metrics = tuning.train_tuned(_params(3), "s1_bn")
    best = json.loads((project / "results" / "tune" / "s1_bn" / "best_params.json").read_text())
    assert metrics["lr"] == pytest.approx(best["s1.train.lr"])
    assert (project / "results" / "s1" / "bn_tuned" / "metrics.json").exists()


def test_tuned_run_refuses_best_params_tuned_under_another_profile(project):
    tuning.tune(_params(3), "s1_bn")
    raw = smoke_params()
    raw["profile"] = "embedded"
    with pytest.raises(tuning.TuningError, match=r"another profile.*run study s1_bn-\w+ first"):
        tuning.train_tuned(validate(raw), "s1_bn")
    assert not (project / "results" / "s1" / "bn_tuned").exists()


def test_median_pruner_prunes_a_bad_trial(tmp_path):
    cfg = TuneConfig.model_validate(
        {
            "storage": f"sqlite:///{tmp_path}/optuna.db",
            "sampler_seed": 0,
            "pruner": {"n_startup_trials": 1, "n_warmup_steps": 0},
            "studies": {},
        }
    )
    study = tuning.open_study("crafted", cfg)

    def objective(trial):
        good = trial.number == 0
        for step in range(5):
            trial.report(1.0 if good else 0.0, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 1.0 if good else 0.0

    study.optimize(objective, n_trials=3)
    states = [trial.state for trial in study.trials]
    assert states[0] == optuna.trial.TrialState.COMPLETE
    assert states[1:] == [optuna.trial.TrialState.PRUNED] * 2


N_TRIALS = 14
"""Past TPE's 10 random startup trials, so that both its random and its model phase resume."""


def _tune_config(tmp_path, name: str) -> TuneConfig:
    return TuneConfig.model_validate(
        {
            "storage": f"sqlite:///{tmp_path}/{name}.db",
            "sampler_seed": 0,
            "pruner": {"n_startup_trials": 4, "n_warmup_steps": 0},
            "studies": {},
        }
    )


@functools.cache
def _s1_bn_space() -> dict:
    return _params().tune.studies["s1_bn"].space


def _cheap_objective(trial, kill_at: int | None = None) -> float:
    """Deterministic in the params, with a few intermediate reports for the pruner; SIGKILLs
    its own process mid-trial once the study has `kill_at` finished trials."""
    params = tuning.suggest(trial, _s1_bn_space())
    value = (
        -((math.log10(params["s1.train.lr"]) + 2) ** 2)
        - (params["s1.train.momentum"] - 0.9) ** 2
        + 0.1 * (params["s1.train.optimizer"] == "adam")
        - params["s1.train.batch_size"] / 1000
    )
    for step in range(3):
        trial.report(value * (3 - step), step)
        if kill_at is not None and len(tuning._finished(trial.study)) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def _killed_run(cfg: TuneConfig, kill_at: int) -> None:
    study = tuning.open_study("resume", cfg)
    tuning.run_study(study, lambda trial: _cheap_objective(trial, kill_at), N_TRIALS)


def _finished_trials(study) -> list[tuple]:
    return [(t.state, t.params, t.value) for t in tuning._finished(study)]


def test_killed_study_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    # Two real kills, in TPE's random phase and in its model phase, each leaving a RUNNING
    # trial; forked before this process opens any database.
    killed = _tune_config(tmp_path, "killed")
    for kill_at in (3, 12):
        process = multiprocessing.get_context("fork").Process(
            target=_killed_run, args=(killed, kill_at)
        )
        process.start()
        process.join(timeout=120)
        assert process.exitcode == -signal.SIGKILL
    resumed = tuning.open_study("resume", killed)
    assert len(tuning._finished(resumed)) == 12
    tuning.run_study(resumed, _cheap_objective, N_TRIALS)

    uninterrupted = tuning.open_study("resume", _tune_config(tmp_path, "uninterrupted"))
    tuning.run_study(uninterrupted, _cheap_objective, N_TRIALS)

    assert len(tuning._finished(uninterrupted)) == N_TRIALS
    assert _finished_trials(resumed) == _finished_trials(uninterrupted)
    assert resumed.best_params == uninterrupted.best_params
    states = [t.state for t in resumed.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 2  # the killed trials, run again
    assert optuna.trial.TrialState.PRUNED in states

    # ... and writes the same bytes: the failed trials and their numbers are not results
    written = {}
    for name, study in (("resumed", resumed), ("uninterrupted", uninterrupted)):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        tuning._write_results("resume", study)
        written[name] = {
            path.relative_to(tmp_path / name): path.read_bytes()
            for path in sorted((tmp_path / name).rglob("*"))
            if path.is_file()
        }
    assert written["resumed"] == written["uninterrupted"]
    assert sorted(map(str, written["resumed"])) == [
        "paper/figures/tune/resume/history.png",
        "paper/figures/tune/resume/importance.png",
        "results/tune/resume/best_params.json",
        "results/tune/resume/metrics.json",
        "results/tune/resume/trials.csv",
    ]


def test_corrupt_database_fails_in_one_line(project):
    database = project / ".dlrepro" / "optuna.db"
    database.parent.mkdir()
    database.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    with pytest.raises(tuning.TuningError) as error:
        tuning.tune(_params(), "s1_bn")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"the Optuna database {database.relative_to(project)} is corrupt")
    assert message.endswith(f"rm {database.relative_to(project)}")


def test_invalid_storage_url_fails_clearly(project, monkeypatch):
    monkeypatch.setenv(tuning.STORAGE_ENV, "nosuchdb://user@host/db")
    with pytest.raises(tuning.TuningError, match=r"cannot open the Optuna storage.*SQLAlchemy URL"):
        tuning.tune(_params(), "s1_bn")


def test_space_with_an_unknown_key_fails_before_any_trial(project):
    raw = smoke_params()
    raw["tune"]["studies"]["s1_bn"]["space"] = {"s1.train.learning_rate": {"choices": [0.1]}}
    with pytest.raises(ParamsError, match="learning_rate"):
        tuning.tune(validate(raw), "s1_bn")
    assert not (project / ".dlrepro" / "optuna.db").exists()


def test_override_validates_the_result():
    params = _params()
    assert override(params, {"s1.train.lr": 0.5}).s1.train.lr == 0.5
    with pytest.raises(ParamsError, match="no such params key"):
        override(params, {"s1.nope.lr": 0.5})
    with pytest.raises(ParamsError, match="optimizer"):
        override(params, {"s1.train.optimizer": "lbfgs"})


def test_study_must_name_an_existing_condition():
    raw = smoke_params()
    raw["tune"]["studies"]["s1_bn"]["condition"] = "nope"
    with pytest.raises(ParamsError, match=r"not a key of s1\.variants"):
        validate(raw)


def test_warmup_ramps_the_learning_rate_linearly():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = separable_split(64, seed=0)
    fit(model, optimizer, data, data, epochs=1, batch_size=16, patience=1, seed=0, warmup_epochs=2)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)  # half way after 1 of 2 epochs


@pytest.mark.parametrize("scheme", ["kaiming_uniform", "xavier", "orthogonal"])
def test_init_schemes_redraw_the_weights(scheme):
    torch.manual_seed(0)
    base, _ = build_base("vgg16", 0.125, 32)
    before = base[0][0].weight.clone()
    reinitialise(base, scheme)
    assert not torch.equal(before, base[0][0].weight)
    assert torch.count_nonzero(base[0][0].bias) == 0


def test_batch_norm_is_for_scratch_vgg_only():
    raw = smoke_params()
    raw["s2"]["regimes"]["vgg16_finetune"]["batch_norm"] = True
    with pytest.raises(ParamsError, match="scratch network"):
        validate(raw)
    base, _ = build_base("vgg16", 0.125, 32, batch_norm=True)
    assert any(isinstance(layer, nn.BatchNorm2d) for layer in base.modules())
