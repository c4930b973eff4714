"""Shared fixtures: tiny synthetic data, a scratch project, no W&B traffic."""

from __future__ import annotations

import gzip
import json
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dlrepro.data.archives import MIRROR_ENV, file_checksum
from dlrepro.data.prepare import MANIFEST, TensorSplit

REPO = Path(__file__).resolve().parents[1]
needs_raw_data = pytest.mark.skipif(
    not (REPO / "data" / "raw").exists(), reason="run `make data` first"
)
"""For tests that run the repository's stages on its fetched data/raw."""


@pytest.fixture(autouse=True)
def _no_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a gzipped IDX file (the MNIST family's format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def separable_split(n: int, seed: int, classes: int = 4, size: int = 8) -> TensorSplit:
    """Images whose class is a bright quadrant: learnable in a few epochs."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 1, size, size, generator=generator) * 0.3
    half = size // 2
    for label in range(classes):
        row, col = divmod(label, 2)
        x[y == label, :, row * half : (row + 1) * half, col * half : (col + 1) * half] += 1.5
    return TensorSplit(x, y)


def write_prepared(folder: Path, n_train: int = 96, classes: int = 4, size: int = 8) -> None:
    """A prepared-data folder (tensors + manifest with checksums) as the prepare stage writes."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, (split, n) in enumerate({"train": n_train, "val": 48, "test": 48}.items()):
        data = separable_split(n, seed=i, classes=classes, size=size)
        torch.save({"x": data.x, "y": data.y}, folder / f"{split}.pt")
        files[f"{split}.pt"] = file_checksum(folder / f"{split}.pt")
    manifest = {
        "dataset": "synthetic",
        "source": "test",
        "counts": {},
        "files": files,
        "classes": [str(c) for c in range(classes)],
        "image_shape": [size, size, 1],
        "normalisation": {"mean": [0.0], "std": [1.0]},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))


def smoke_params(**s1_overrides) -> dict:
    """The repository's params.yaml switched to the smoke profile, with optional s1 edits."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["profile"] = "smoke"
    raw["s1"].update(s1_overrides)
    return raw


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Callable[[str], Path]:
    """A file:// download mirror set as $DLREPRO_MIRROR; `mirror(url)` is the local path where
    the file `url` names must be put (its parent folders are made)."""
    root = tmp_path / "mirror"
    monkeypatch.setenv(MIRROR_ENV, root.as_uri())

    def path_of(url: str) -> Path:
        parts = urllib.parse.urlsplit(url)
        path = root / parts.netloc / urllib.parse.unquote(parts.path).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    return path_of


def set_key(raw: dict, dotted: str, value) -> None:
    """Set a dotted params key (`profiles.smoke.s1.train.epochs`) as `dvc exp run -S` does."""
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[leaf] = value


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project folder (cwd) with smoke params and tiny prepared Section 1 data."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(smoke_params()))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    write_prepared(tmp_path / "data" / "prepared" / "s1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def s2_project(project):
    """The scratch project plus tiny prepared Section 2 target and source sets and the
    pretrained bases the smoke profile names."""
    from dlrepro.config import validate
    from dlrepro.experiments import s2_cnn_regimes

    for task in ("target", "source"):
        write_prepared(project / "data" / "prepared" / "s2" / task, n_train=64, size=16)
    params = validate(smoke_params())
    for arch in params.s2.archs:
        s2_cnn_regimes.pretrain(params, arch)
    return project


def copy_repo(dest: Path) -> Path:
    """Copy the tracked and untracked-but-not-ignored files of the repository, plus data/raw."""
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copytree(REPO / "data" / "raw", dest / "data" / "raw")
    return dest


def copy_repo_on_smoke(dest: Path) -> Path:
    """`copy_repo` with the copy's params.yaml on the smoke profile."""
    repo = copy_repo(dest)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["profile"] = "smoke"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def repo_commands(repo: Path, **env: str) -> Callable[..., str]:
    """`run(*command)` in the repository copy `repo`, with this venv's commands on PATH, W&B
    off and a git identity (plus `env`), asserting success; returns its stdout."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **env,
    }

    def run(*command: str) -> str:
        result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    return run


@pytest.fixture
def restore_compute():
    """Put the process-wide compute settings and thread count back after a test changes them."""
    from dlrepro.config import ComputeConfig
    from dlrepro.training import compute

    threads = torch.get_num_threads()
    yield
    compute.configure(ComputeConfig(), torch.device("cpu"))
    torch.set_num_threads(threads)
