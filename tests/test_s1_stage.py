"""Section 1 stage functions, run in a scratch project on tiny synthetic data."""

import pandas as pd

from dlrepro.config import validate
from dlrepro.experiments import s1_network_training as s1
from dlrepro.training import loop
from dlrepro.training.loop import NonFiniteLossError
from dlrepro.training.seeds import DRY_RUN_BATCHES

from .conftest import smoke_params


def _params(**s1_overrides):
    return validate(smoke_params(**s1_overrides))


def test_train_variant_writes_metrics_history_and_runs(project):
    metrics = s1.train_variant(_params(), "dropout")
    out = project / "results" / "s1" / "dropout"
    assert {p.name for p in out.iterdir()} == {
        "metrics.json",
        "history.csv",
        "history_seeds.csv",
        "runs.csv",
    }
    assert set(metrics) >= {
        "best_val_acc",
        "test_acc",
        "epochs",
        "train_val_gap",
        "final_train_val_gap",
    }
    assert metrics["n_seeds"] == 3
    assert not (project / ".dlrepro" / "checkpoints" / "s1" / "dropout").exists()


def test_final_gap_is_the_last_epochs_train_minus_val_accuracy(project):
    s1.train_variant(_params(), "baseline")
    out = project / "results" / "s1" / "baseline"
    runs = pd.read_csv(out / "runs.csv").set_index("seed")
    last = pd.read_csv(out / "history_seeds.csv").groupby("seed").last()
    expected = (last["train_acc"] - last["val_acc"]).round(6)
    assert runs["final_train_val_gap"].round(6).tolist() == expected.tolist()
    assert runs["epochs"].tolist() == last["epoch"].tolist()


def test_same_seed_gives_byte_identical_metrics(project):
    path = project / "results" / "s1" / "moderate_aug" / "metrics.json"
    s1.train_variant(_params(), "moderate_aug")
    first = path.read_bytes()
    s1.train_variant(_params(), "moderate_aug")
    assert path.read_bytes() == first


def test_diverging_run_writes_no_metrics(project):
    params = _params(train={**smoke_params()["s1"]["train"], "lr": 1e12})
    try:
        s1.train_variant(params, "baseline")
    except NonFiniteLossError as error:
        assert "No metrics were written" in str(error)
    else:
        raise AssertionError("a diverging run must stop")
    assert not (project / "results" / "s1" / "baseline" / "metrics.json").exists()


def test_dry_run_writes_nothing(project):
    s1.train_variant(_params(), "bn", dry_run=True)
    assert not (project / "results").exists()
    assert not (project / ".dlrepro").exists()


def test_dry_run_evaluates_a_few_batches_only(project, monkeypatch):
    """At the paper profile's size a dry run must still take seconds: it evaluates no split."""
    evaluated = []

    def evaluate(model, data, loss_fn):
        evaluated.append(len(data))
        return original(model, data, loss_fn)

    original = loop.evaluate
    monkeypatch.setattr(loop, "evaluate", evaluate)
    monkeypatch.setattr(s1, "evaluate", evaluate)
    raw = smoke_params(train={**smoke_params()["s1"]["train"], "batch_size": 8})
    raw["compute"]["seed_processes"] = 0  # in this process, where the counter is
    params = validate(raw)
    s1.train_variant(params, "bn", dry_run=True)
    assert evaluated and max(evaluated) <= DRY_RUN_BATCHES * params.s1.train.batch_size


def test_lr_sweep_is_the_baseline_plus_lr_only_variants():
    cfg = _params().s1
    sweep = s1.lr_sweep(cfg)
    assert "baseline" in sweep and "lr_1e-3" in sweep and "dropout" not in sweep
    assert list(sweep.values()) == sorted(sweep.values())
