"""Section 2 data-parallel: the stage under torchrun with 2 gloo processes on the CPU learns what
one process learns (same seeds, same global batches), and writes its results once."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from dlrepro.config import validate
from dlrepro.experiments import s2_cnn_regimes as s2
from dlrepro.training.distributed import Shard

from .conftest import smoke_params

REGIME = "vgg16_finetune"  # every layer trains: the gradients of both ranks are averaged


def _history(project) -> pd.DataFrame:
    return pd.read_csv(project / "results" / "s2" / REGIME / "history_seeds.csv")


def _raw(processes: int) -> dict:
    raw = smoke_params()
    raw["profiles"]["smoke"]["seeds"]["s2"] = 1
    raw["s2"]["processes"] = processes
    return raw


def test_two_gloo_processes_match_one_process(s2_project):
    s2.train_regime(validate(_raw(1)), REGIME)
    single = _history(s2_project)
    single_metrics = json.loads((s2_project / "results/s2" / REGIME / "metrics.json").read_text())

    (s2_project / "params.yaml").write_text(yaml.safe_dump(_raw(2)))
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "dlrepro.cli", "s2", "train", "--regime", REGIME],
        cwd=s2_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data-parallel over 2 processes" in done.stdout
    assert done.stdout.count(f"s2/{REGIME} seed 0") == 1, "only rank 0 reports"

    parallel = _history(s2_project)
    assert list(parallel["epoch"]) == list(single["epoch"])
    for column in ("train_loss", "val_loss", "val_acc"):
        assert parallel[column].to_numpy() == pytest.approx(single[column].to_numpy(), abs=2e-3)
    metrics = json.loads((s2_project / "results/s2" / REGIME / "metrics.json").read_text())
    single_acc = single_metrics["test_acc"]["mean"]
    assert metrics["test_acc"]["mean"] == pytest.approx(single_acc, abs=0.02)


def test_shards_interleave_a_batch_without_overlap():
    import torch

    x = torch.arange(10)
    parts = [Shard(rank, 3).take(x)[0] for rank in range(3)]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))
