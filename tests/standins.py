"""Stand-ins for the paper profile's downloads: small files in each host's exact published
layout and format, for tests (and the prepare-memory benchmark) that cannot use the real ones."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

TINY_IMAGENET_SIDE = 64
WORDS = [
    "the", "a", "film", "movie", "story", "actor", "plot", "great", "good", "bad", "dull",
    "lovely", "awful", "brilliant", "boring", "scene", "ending", "music", "love", "hate", "fun",
    "slow", "funny", "sad", "best", "worst",
]  # fmt: skip
"""The stand-in reviews' and word vectors' vocabulary."""


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
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def write_cifar10(archive: Path, train_per_batch: int, test: int, seed: int = 0) -> Path:
    """cifar-10-python.tar.gz: cifar-10-batches-py/ with data_batch_1..5, test_batch and
    batches.meta, dicts pickled as the original's (str keys under latin-1, uint8 rows of 3072
    channel-planar pixels, labels as a list), and readme.html."""
    rng = np.random.default_rng(seed)
    label_names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]

    def batch(name: str, n: int) -> bytes:
        labels = (np.arange(n) % 10).tolist()
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        return pickle.dumps(
            {
                "batch_label": name,
                "labels": labels,
                "data": data,
                "filenames": [f"standin_{i}.png" for i in range(n)],
            },
            protocol=2,
        )

    members = {f"data_batch_{i}": batch(f"training batch {i} of 5", train_per_batch) for i in
               range(1, 6)}  # fmt: skip
    members["test_batch"] = batch("testing batch 1 of 1", test)
    members["batches.meta"] = pickle.dumps(
        {"num_cases_per_batch": train_per_batch, "label_names": label_names, "num_vis": 3072},
        protocol=2,
    )
    members["readme.html"] = b"<html>stand-in</html>"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in members.items():
            _add(tar, f"cifar-10-batches-py/{name}", payload)
    return archive


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(payload)
    tar.addfile(member, io.BytesIO(payload))


def _review(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=rng.integers(5, 30))) + ".<br /><br />The end."


def write_imdb(archive: Path, per_label: int, seed: int = 0) -> Path:
    """aclImdb_v1.tar.gz: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt, train/unsup/,
    the bag-of-words files and imdb.vocab, with reviews drawn from WORDS."""
    rng = np.random.default_rng(seed)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "aclImdb/README", b"stand-in")
        _add(tar, "aclImdb/imdb.vocab", "\n".join(WORDS).encode())
        _add(tar, "aclImdb/imdbEr.txt", b"0.1\n")
        for split in ("train", "test"):
            _add(tar, f"aclImdb/{split}/labeledBow.feat", b"0 0:1\n")
            _add(tar, f"aclImdb/{split}/urls_pos.txt", b"http://www.imdb.com/title/tt0/\n")
            for label, ratings in (("pos", (7, 10)), ("neg", (1, 4))):
                for i in range(per_label):
                    rating = rng.integers(ratings[0], ratings[1] + 1)
                    _add(tar, f"aclImdb/{split}/{label}/{i}_{rating}.txt", _review(rng).encode())
        _add(tar, "aclImdb/train/unsup/0_0.txt", _review(rng).encode())
    return archive


def write_glove_6b(archive: Path, seed: int = 0) -> Path:
    """glove.6B.zip: glove.6B.{50,100,200,300}d.txt, one `word v1 ... vd` line per word of
    WORDS (plus words no review uses)."""
    rng = np.random.default_rng(seed)
    words = [*WORDS, "unused", "zebra"]
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for dim in (50, 100, 200, 300):
            lines = [
                " ".join([word, *(f"{v:.5f}" for v in rng.normal(0, 0.4, dim))]) for word in words
            ]
            zipped.writestr(f"glove.6B.{dim}d.txt", "\n".join(lines) + "\n")
    return archive


def write_idx(path: Path, array: np.ndarray) -> Path:
    """A gzipped IDX file (the MNIST family's format)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())
    return path


def write_mnist(folder: Path, train: int, test: int, seed: int = 0) -> dict[str, Path]:
    """MNIST's four IDX files (train/t10k images and labels, gzipped) under `folder`."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(test) % 10,
    }
    return {name: write_idx(folder / name, array) for name, array in arrays.items()}


def write_imagenet_weights(path: Path, arch: str) -> Path:
    """A state dict with the keys and shapes of torchvision's ImageNet `arch` (vgg16 or
    resnet50), from the randomly initialised network: the size of the real file (VGG-16 528
    MB), since the shapes are the point."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
