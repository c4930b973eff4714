"""Tiny-ImageNet (Stanford CS231n): 200 ImageNet classes, 64x64 colour, 500 training and 50
validation images per class; the report's Section 2 set.

Only a download source exists (no registry package ships it). Its test images carry no labels,
so the official validation split serves as the test split, as in the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data.archives import download, safe_extract
from dlrepro.data.sources import DatasetSpec, ImageSplits

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
ARCHIVE = "tiny-imagenet-200.zip"
CHECKSUMS = {ARCHIVE: "md5:90528d7ca1a48142e341f4ef8d21d0de"}
FOLDER = "tiny-imagenet-200"


def fetch_download(dest: Path) -> None:
    archive = download(URL, dest / ARCHIVE, CHECKSUMS[ARCHIVE])
    safe_extract(archive, dest)


def _read(paths: list[Path]) -> np.ndarray:
    """The images at `paths` as one (N, 64, 64, 3) uint8 array, filled in place (a list of
    100k arrays stacked would hold every image twice)."""
    from PIL import Image

    def rgb(path: Path) -> np.ndarray:
        # A few Tiny-ImageNet JPEGs are greyscale; convert("RGB") gives every image 3 channels.
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    first = rgb(paths[0])
    images = np.empty((len(paths), *first.shape), np.uint8)
    images[0] = first
    for i, path in enumerate(paths[1:], start=1):
        images[i] = rgb(path)
    return images


def load(raw: Path) -> ImageSplits:
    root = raw / FOLDER
    wnids = (root / "wnids.txt").read_text().split()
    names = dict(line.split("\t", 1) for line in (root / "words.txt").read_text().splitlines())
    label = {wnid: i for i, wnid in enumerate(wnids)}
    train = sorted((root / "train").glob("*/images/*.JPEG"))
    train_y = np.array([label[path.parts[-3]] for path in train], dtype=np.int64)
    lines = (root / "val" / "val_annotations.txt").read_text().splitlines()
    annotations = [line.split("\t")[:2] for line in lines if line]
    test = [root / "val" / "images" / file for file, _ in annotations]
    test_y = np.array([label[wnid] for _, wnid in annotations], dtype=np.int64)
    return ImageSplits(
        train_x=_read(train),
        train_y=train_y,
        test_x=_read(test),
        test_y=test_y,
        classes=[names.get(wnid, wnid).split(",")[0] for wnid in wnids],
    )


SPEC = DatasetSpec(
    name="tiny_imagenet",
    licence="ImageNet terms of access: non-commercial research and education",
    homepage="https://cs231n.stanford.edu/",
    checksums={"download": CHECKSUMS},
    fetchers={"download": fetch_download},
    load=load,
)
