import json
import os
import socket
import subprocess
import sys

import pytest

from dlrepro import tracking
from dlrepro.paths import project_root

from .conftest import REPO


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


UNREACHABLE_SERVER_STAGE = """
import json, multiprocessing, sys, time
from dlrepro import tracking

def run(name):
    tracking.Run(project="p", group="g", name=name, config={}, tags=[], job_type="j").finish()

started = time.perf_counter()
# Seed workers forked before anyone found the server dead, as map_seeds forks them; then the
# stage process itself, which must learn it from them.
with multiprocessing.get_context("fork").Pool(3) as pool:
    pool.map(run, ["seed0", "seed1", "seed2"])
run("summary")
print(json.dumps({"seconds": time.perf_counter() - started, "mode": tracking.wandb_mode()}))
"""


def test_unreachable_server_sends_the_stage_offline_at_once(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("WANDB_")
    }
    env |= {
        "WANDB_MODE": "online",
        "WANDB_API_KEY": "x" * 40,  # fake, and only ever offered to the dead port
        "WANDB_BASE_URL": f"http://127.0.0.1:{port}",
        "WANDB_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO / "src"),
    }
    stage = subprocess.run(
        [sys.executable, "-c", UNREACHABLE_SERVER_STAGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stage.returncode == 0, stage.stderr[-3000:]
    result = json.loads(stage.stdout.splitlines()[-1])
    assert result["seconds"] < 30, "wandb's 90 s init timeout was waited for"
    assert result["mode"] == "offline"
    assert stage.stderr.count("warning: no W&B connection") == 1, stage.stderr
    assert f"127.0.0.1:{port} (cannot connect to" in stage.stderr  # found by the quick probe
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 4
    assert not list((tmp_path / "wandb").glob("run-*"))
