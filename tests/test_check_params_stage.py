"""DVC removes a stage's outputs before it runs the stage's command, so a value that only the
stage's own command rejects costs its results. dvc.yaml's first stage, check_params, validates
params.yaml before that; these tests run DVC on a two-stage project built the same way."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO, smoke_params

TRAIN = """\
from pathlib import Path

from dlrepro.config import load_params

params = load_params()  # a real stage validates too, but only after DVC removed its outputs
Path("results/train").mkdir(parents=True, exist_ok=True)
Path("results/train/lr.txt").write_text(str(params.s1.train.lr))
"""


def _project(root: Path):
    """A git + DVC project: check_params as in dvc.yaml, then a stage with a cache: false output."""
    python = sys.executable
    stages = {
        "check_params": {
            "cmd": f"{python} -m dlrepro.cli check-params",
            "params": [{"params.yaml": None}],
            "outs": [{"results/check_params.json": {"cache": False}}],
        },
        "train": {
            "cmd": f"{python} train.py",
            "deps": ["results/check_params.json", "train.py"],
            "params": ["s1.train"],
            "outs": [{"results/train/lr.txt": {"cache": False}}],
        },
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (root / "params.yaml").write_text(yaml.safe_dump(smoke_params()))
    (root / "train.py").write_text(TRAIN)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    dvc = str(Path(python).parent / "dvc")

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)

    for command in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "repro"]):
        assert run(*command).returncode == 0, command
    assert run("git", "add", "-A").returncode == 0
    assert run("git", "commit", "-qm", "valid params").returncode == 0
    return run, dvc


def test_an_invalid_param_stops_dvc_before_a_later_stage_loses_its_outputs(tmp_path):
    run, dvc = _project(tmp_path)
    result = tmp_path / "results/train/lr.txt"
    assert result.read_text() == "0.01"

    # a valid change to a key the train stage does not read: the check's output is unchanged
    params = smoke_params()
    params["s1"]["dropout"] = 0.4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    log = run(dvc, "repro").stdout
    assert "Running stage 'check_params'" in log
    assert "Stage 'train' didn't change, skipping" in log

    failed = run(dvc, "exp", "run", "-S", "s1.train.lr=-0.01")
    assert failed.returncode != 0
    assert "s1.train.lr = -0.01: Input should be greater than 0" in failed.stderr
    assert result.read_text() == "0.01"

    # without the check, DVC removes the output before the stage's own validation fails
    assert run(dvc, "repro", "--single-item", "train").returncode != 0
    assert not result.exists()
