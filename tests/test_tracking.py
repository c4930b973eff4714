import pytest

from dlrepro import tracking
from dlrepro.paths import project_root


def test_mode_defaults_to_offline_without_a_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tracking.wandb_mode() == "offline"


def test_mode_is_online_with_a_key(monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)  # never used: no run is started here
    assert tracking.wandb_mode() == "online"


def test_user_mode_wins(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.wandb_mode() == "disabled"


def test_wandb_failure_never_fails_training(monkeypatch, capsys):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")

    def broken_init(**kwargs):
        raise RuntimeError("service unreachable")

    monkeypatch.setattr(wandb, "init", broken_init)
    run = tracking.Run(project="p", group="g", name="n", config={}, tags=[], job_type="j")
    run.log({"loss": 1.0})
    run.summary({"acc": 1.0})
    run.finish()
    assert "service unreachable" in capsys.readouterr().err


def test_offline_run_is_written_under_the_project(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    with tracking.Run(
        project="dlrepro-test", group="g", name="n", config={"a": 1}, tags=["t"], job_type="j"
    ) as run:
        run.log({"loss": 0.5})
    assert list((tmp_path / "wandb").glob("offline-run-*"))


@pytest.mark.parametrize("inside", [".dvc/tmp/exps/run/abc", ".dvc/tmp/exps/tmpx/src"])
def test_queued_experiments_resolve_to_the_real_project(tmp_path, inside):
    (tmp_path / inside).mkdir(parents=True)
    assert project_root(tmp_path / inside) == tmp_path
