"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 greyscale images of 10 clothing classes, MIT.

offline:  Debian's `dataset-fashion-mnist` package (the original IDX files, recompressed).
download: the Zalando mirror torchvision uses, with torchvision's published MD5s.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torchvision.datasets import FashionMNIST

from dlrepro.data.archives import debian_package_files, download
from dlrepro.data.sources import DatasetSpec, ImageSplits

FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_SHA256 = {
    "train_x": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train_y": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "test_x": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "test_y": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
DEBIAN_CHECKSUMS = {FILES[key]: f"sha256:{digest}" for key, digest in DEBIAN_SHA256.items()}
DOWNLOAD_CHECKSUMS = {name: f"md5:{md5}" for name, md5 in FashionMNIST.resources}


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST family's format: magic, dims, big-endian data)."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {array.size} values, its header says {shape}")
    return array.reshape(shape)


def read_idx_splits(raw: Path, files: dict[str, str], classes: list[str]) -> ImageSplits:
    """The four IDX files of an MNIST-family dataset (`files`: train_x, train_y, test_x,
    test_y -> file name) as ImageSplits with a channel axis."""
    arrays = {key: read_idx(raw / name) for key, name in files.items()}
    return ImageSplits(
        train_x=arrays["train_x"][..., None],
        train_y=arrays["train_y"].astype(np.int64),
        test_x=arrays["test_x"][..., None],
        test_y=arrays["test_y"].astype(np.int64),
        classes=classes,
    )


def load(raw: Path) -> ImageSplits:
    return read_idx_splits(raw, FILES, list(FashionMNIST.classes))


def fetch_offline(dest: Path) -> None:
    members = [f"usr/share/datasets/fashion-mnist/{name}" for name in FILES.values()]
    debian_package_files(DEBIAN_PACKAGE, members, dest)


def download_all(mirrors: Sequence[str], checksums: dict[str, str], dest: Path) -> None:
    """Each file from the first of `mirrors` (base URLs, torchvision's list) that answers."""
    first, *others = mirrors
    for name, expected in checksums.items():
        download(first + name, dest / name, expected, fallbacks=[base + name for base in others])


def fetch_download(dest: Path) -> None:
    download_all(FashionMNIST.mirrors, DOWNLOAD_CHECKSUMS, dest)


SPEC = DatasetSpec(
    name="fashion_mnist",
    licence="MIT (Zalando SE)",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    checksums={"offline": DEBIAN_CHECKSUMS, "download": DOWNLOAD_CHECKSUMS},
    fetchers={"offline": fetch_offline, "download": fetch_download},
    load=load,
)
