"""Stand-ins for the paper profile's downloads: small files in each host's exact published
layout and format, for tests (and the prepare-memory benchmark) that cannot use the real ones."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

TINY_IMAGENET_SIDE = 64


def _jpeg(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def write_tiny_imagenet(
    root: Path, classes: int, train_per_class: int, val_per_class: int, seed: int = 0
) -> Path:
    """Tiny-ImageNet as `tiny-imagenet-200.zip` extracts (wnids.txt, words.txt, train/<wnid>/
    images/<wnid>_<i>.JPEG with <wnid>_boxes.txt, val/images/val_<i>.JPEG with
    val_annotations.txt, test/images) under root/tiny-imagenet-200: 64x64 JPEGs whose class
    sets their mean colour, and, like the real set, one greyscale JPEG. Returns that folder."""
    rng = np.random.default_rng(seed)
    folder = root / "tiny-imagenet-200"
    wnids = [f"n{1440000 + i:08d}" for i in range(classes)]
    colours = rng.integers(40, 216, size=(classes, 3))
    ramp = np.linspace(-30, 30, TINY_IMAGENET_SIDE)[None, :, None]

    def image(label: int) -> np.ndarray:
        noise = rng.normal(0, 12, size=(TINY_IMAGENET_SIDE, TINY_IMAGENET_SIDE, 3))
        return np.clip(colours[label] + ramp + noise, 0, 255).astype(np.uint8)

    (folder / "val" / "images").mkdir(parents=True)
    (folder / "test" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("".join(f"{wnid}\n" for wnid in wnids))
    # words.txt lists every ImageNet synset, not only the 200: a few extra lines stand for them.
    words = [f"{wnid}\tclass {i}, synonym" for i, wnid in enumerate(wnids)]
    (folder / "words.txt").write_text("\n".join([*words, "n00001740\tentity"]) + "\n")
    for label, wnid in enumerate(wnids):
        images = folder / "train" / wnid / "images"
        images.mkdir(parents=True)
        boxes = []
        for i in range(train_per_class):
            _jpeg(images / f"{wnid}_{i}.JPEG", image(label))
            boxes.append(f"{wnid}_{i}.JPEG\t0\t0\t63\t63\n")
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(boxes))
    annotations = []
    for i in range(classes * val_per_class):
        label = i % classes
        _jpeg(folder / "val" / "images" / f"val_{i}.JPEG", image(label))
        annotations.append(f"val_{i}.JPEG\t{wnids[label]}\t0\t0\t63\t63\n")
    (folder / "val" / "val_annotations.txt").write_text("".join(annotations))
    _jpeg(folder / "test" / "images" / "test_0.JPEG", image(0))
    # A few real Tiny-ImageNet JPEGs are greyscale: the loader must give them 3 channels.
    grey = folder / "train" / wnids[0] / "images" / f"{wnids[0]}_0.JPEG"
    _jpeg(grey, image(0).mean(axis=2).astype(np.uint8))
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    """`folder` zipped as its host ships it: every path starts with the folder's name."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(folder.parent).as_posix())
    return archive
