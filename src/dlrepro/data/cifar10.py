"""CIFAR-10 (Krizhevsky 2009): 60,000 32x32 colour images of 10 classes; the report's Section 1 set.

Only a download source exists: no registry package ships CIFAR-10, so the paper profile fetches
it from its host (torchvision's URL and MD5) and extracts it with member checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10

from dlrepro.data.archives import download, safe_extract
from dlrepro.data.sources import DatasetSpec, ImageSplits

CHECKSUMS = {CIFAR10.filename: f"md5:{CIFAR10.tgz_md5}"}


def fetch_download(dest: Path) -> None:
    archive = download(CIFAR10.url, dest / CIFAR10.filename, CHECKSUMS[CIFAR10.filename])
    safe_extract(archive, dest)


def load(raw: Path) -> ImageSplits:
    train = CIFAR10(raw, train=True, download=False)
    test = CIFAR10(raw, train=False, download=False)
    return ImageSplits(
        train_x=np.asarray(train.data),
        train_y=np.asarray(train.targets, dtype=np.int64),
        test_x=np.asarray(test.data),
        test_y=np.asarray(test.targets, dtype=np.int64),
        classes=list(train.classes),
    )


SPEC = DatasetSpec(
    name="cifar10",
    licence="no licence stated; free for research (A. Krizhevsky)",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    checksums={"download": CHECKSUMS},
    fetchers={"download": fetch_download},
    load=load,
)
