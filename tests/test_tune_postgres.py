"""Optuna with a shared PostgreSQL storage: two worker processes on one study, on a real
server this test starts on localhost (Debian's postgresql package) and stops again."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from .conftest import smoke_params

N_TRIALS = 6


def _server_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres_url():
    bin_dir = _server_binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server (apt-get install postgresql); .ci/run installs it")
    pytest.importorskip("psycopg2")
    # The server refuses to run as root: as root, it runs as the package's `postgres` user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="dlrepro-pg-"))
    if as_user:
        shutil.chown(home, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = home / "data"

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(home / "log"), "-w",
        "start")  # fmt: skip
    try:
        run(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "optuna",
        )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_share_one_study_without_losing_or_repeating_trials(project, postgres_url):
    raw = smoke_params()
    raw["profiles"]["smoke"]["tune"]["studies"]["s1_bn"]["n_trials"] = N_TRIALS
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "dlrepro.cli", "tune", "study", "--study", "s1_bn"],
            cwd=project,
            env={
                **os.environ,
                "DLREPRO_OPTUNA_STORAGE": postgres_url,
                "DLREPRO_TUNE_WORKER": str(worker),
                "WANDB_MODE": "disabled",
                "OMP_NUM_THREADS": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for worker in (0, 1)
    ]
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output[-3000:]

    (summary,) = optuna.get_all_study_summaries(postgres_url)
    trials = optuna.load_study(study_name=summary.study_name, storage=postgres_url).trials
    # One budget for both workers: it may overshoot by the one trial a race lets the other
    # worker start, never fall short.
    assert N_TRIALS <= len(trials) <= N_TRIALS + 1
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}, "both workers took trials"
    points = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(points)) == len(points), "no point was evaluated twice"
