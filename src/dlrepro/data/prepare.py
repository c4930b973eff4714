"""Prepare stages: raw files -> tensors + a manifest, and loading them back verified.

Images are kept as uint8 pixels, channels first, with the per-channel statistics of the training
split (scale.pt); each batch is normalised where it is used, on its device, in float32
(`PixelScale`): a quarter of float32's memory on disk, in the DVC cache and on the GPU, and
prepared in chunks, so no full-size float copy of a set ever exists.

The manifest records sha256 per tensor file, sample counts, normalisation statistics (fitted on
the training split only), the raw source and its licence. Loading re-checks the hashes, so a
prepared file damaged after the stage ran fails with its name instead of training on garbage.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dlrepro.data.archives import file_checksum, verify_checksum
from dlrepro.data.sources import ImageSplits, get_dataset, verify_raw
from dlrepro.failures import StageFailure

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
DATA_SEED = 12345
"""Subsampling and the validation split use one fixed seed, so every training seed sees the same
data and seeds measure only training randomness."""


CHUNK = 1024
"""Images converted at a time while preparing: bounds the prepare stage's temporary memory."""
PIXEL_MAX = 255.0


@dataclass(frozen=True)
class PixelScale:
    """How stored uint8 pixels become a network's float32 input: (pixels / 255 - mean) / std
    per channel, the operations (and so the bytes) of a float32 array normalised in numpy."""

    mean: torch.Tensor
    """float32, (C,)"""
    std: torch.Tensor

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        def column(values: torch.Tensor) -> torch.Tensor:
            return values.to(pixels.device).view(1, -1, *[1] * (pixels.ndim - 2))

        mean, std = column(self.mean), column(self.std)
        # Divided by a tensor on the pixels' device: CUDA multiplies by the reciprocal of a
        # Python number instead, which rounds differently.
        unit = pixels.to(torch.float32) / torch.full_like(mean, PIXEL_MAX)
        return (unit - mean) / std

    def to(self, device: torch.device | str) -> PixelScale:
        return PixelScale(self.mean.to(device), self.std.to(device))


@dataclass(frozen=True)
class TensorSplit:
    x: torch.Tensor
    """Inputs as stored: uint8 pixels (N, C, H, W) with `scale` set, else the inputs themselves."""
    y: torch.Tensor
    scale: PixelScale | None = None

    def __post_init__(self) -> None:
        if self.x.dtype == torch.uint8 and self.scale is None:
            raise ValueError("uint8 pixels need their PixelScale (load them with load_prepared)")

    def __len__(self) -> int:
        return len(self.y)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Stored inputs `x` (all or some of this split's) as the network takes them."""
        return x if self.scale is None else self.scale(x)

    def to(self, device: torch.device | str) -> TensorSplit:
        scale = self.scale.to(device) if self.scale is not None else None
        return TensorSplit(self.x.to(device), self.y.to(device), scale)

    def head(self, n: int) -> TensorSplit:
        """The first `n` examples (all, where fewer exist)."""
        return replace(self, x=self.x[:n], y=self.y[:n])

    def decoded(self) -> TensorSplit:
        """The whole split with float inputs, for code that uses images whole (small sets)."""
        return TensorSplit(self.inputs(self.x), self.y)


def stratified_split(y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the kept part and of a stratified `fraction` split off (validation)."""
    from sklearn.model_selection import train_test_split

    keep, held = train_test_split(
        np.arange(len(y)), test_size=fraction, stratify=y, random_state=DATA_SEED
    )
    return np.sort(keep), np.sort(held)


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, ...]:
    """`n` samples drawn with the class balance kept (all of them when n is None)."""
    from sklearn.model_selection import train_test_split

    if n is None or n >= len(y):
        return x, y
    keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=DATA_SEED)
    keep = np.sort(keep)
    return x[keep], y[keep]


def _select_classes(splits: ImageSplits, classes: list[int] | None) -> ImageSplits:
    """Keep only `classes`, relabelled 0..k-1 in the order given."""
    if classes is None:
        return splits
    unknown = [c for c in classes if not 0 <= c < len(splits.classes)]
    if unknown:
        raise ValueError(
            f"classes {unknown} do not exist: the dataset has labels 0..{len(splits.classes) - 1}"
        )
    relabel = np.full(len(splits.classes), -1, dtype=np.int64)
    relabel[classes] = np.arange(len(classes))
    train_keep = relabel[splits.train_y] >= 0
    test_keep = relabel[splits.test_y] >= 0
    return ImageSplits(
        train_x=splits.train_x[train_keep],
        train_y=relabel[splits.train_y[train_keep]],
        test_x=splits.test_x[test_keep],
        test_y=relabel[splits.test_y[test_keep]],
        classes=[splits.classes[c] for c in classes],
    )


def prepare_images(
    dataset: str,
    raw_dir: Path,
    out_dir: Path,
    *,
    n_train: int | None,
    n_test: int | None,
    val_fraction: float,
    classes: list[int] | None = None,
    standardise: bool = True,
    pad_to: int | None = None,
) -> dict:
    """Write train/val/test pixels (N, C, H, W), optionally for a subset of the classes.

    Batches are standardised with the training split's per-channel mean and std, or with
    `standardise=False` kept in [0, 1] (for models whose outputs are images). `pad_to`
    zero-pads the images, centred, to that side (MNIST's 28 -> 32).
    """
    source_record = verify_raw(raw_dir, dataset)
    splits = _select_classes(get_dataset(dataset).load(raw_dir / dataset), classes)
    if splits.train_x.dtype != np.uint8 or splits.test_x.dtype != np.uint8:
        raise TypeError(f"{dataset}'s loader must return uint8 pixels (ImageSplits)")
    train_x, train_y = stratified_subset(splits.train_x, splits.train_y, n_train)
    test_x, test_y = stratified_subset(splits.test_x, splits.test_y, n_test)
    fit_idx, val_idx = stratified_split(train_y, val_fraction)
    selected = {
        "train": (train_x, fit_idx, train_y[fit_idx]),
        "val": (train_x, val_idx, train_y[val_idx]),
        "test": (test_x, np.arange(len(test_y)), test_y),
    }
    tensors = {
        split: {
            "x": torch.from_numpy(_channels_first(images, index, pad_to)),
            "y": torch.from_numpy(y),
        }
        for split, (images, index, y) in selected.items()
    }
    channels = tensors["test"]["x"].shape[1]
    if standardise:
        mean, std = channel_statistics(tensors["train"]["x"].numpy())
    else:
        mean, std = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    tensors["scale"] = {"mean": torch.from_numpy(mean), "std": torch.from_numpy(std)}
    _, _, height, width = tensors["test"]["x"].shape
    return write_prepared(
        out_dir,
        tensors,
        {
            "dataset": dataset,
            **provenance(source_record),
            "classes": splits.classes,
            "class_ids": classes,
            "image_shape": [height, width, channels],
            "counts": {split: len(y) for split, (_, _, y) in selected.items()},
            "stored": "uint8 pixels (N, C, H, W); a batch becomes (x / 255 - mean) / std "
            "with scale.pt's float32 mean and std",
            "normalisation": {"mean": mean.round(6).tolist(), "std": std.round(6).tolist()},
            "data_seed": DATA_SEED,
        },
    )


def _channels_first(images: np.ndarray, index: np.ndarray, pad_to: int | None) -> np.ndarray:
    """`images[index]` (N, H, W, C) as contiguous (N, C, H, W) uint8, padded to `pad_to`,
    converted CHUNK images at a time into the one output array."""
    sample = images[:1] if pad_to is None else _pad(images[:1], pad_to)
    _, height, width, channels = sample.shape
    out = np.empty((len(index), channels, height, width), np.uint8)
    for start in range(0, len(index), CHUNK):
        chunk = images[index[start : start + CHUNK]]
        if pad_to is not None:
            chunk = _pad(chunk, pad_to)
        out[start : start + len(chunk)] = chunk.transpose(0, 3, 1, 2)
    return out


def channel_statistics(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of uint8 pixels (N, C, H, W) scaled to [0, 1],
    as float32, from counts of the 256 pixel values (taken CHUNK images at a time).

    Each value's float32 scaling, deviation and square are the float32 operations numpy applies
    to a float32 array; only the sums are exact (math.fsum), where a float32 running sum stalls
    once it reaches 2**24: over CIFAR-10's 46M pixels per channel it gives a mean of 0.36 for
    0.50. On sets small enough for float32 sums (every embedded set) the two agree to the bit.
    """
    channels = pixels.shape[1]
    counts = np.zeros((channels, 256), np.int64)
    for start in range(0, len(pixels), CHUNK):
        chunk = pixels[start : start + CHUNK]
        for channel in range(channels):
            counts[channel] += np.bincount(chunk[:, channel].ravel(), minlength=256)
    values = np.arange(256, dtype=np.float32) / np.float32(PIXEL_MAX)
    mean = np.zeros(channels, np.float32)
    variance = np.zeros(channels, np.float32)
    for channel, count in enumerate(counts.tolist()):
        mean[channel] = _average(count, values)
        variance[channel] = _average(count, np.square(values - mean[channel]))
    return mean, np.sqrt(variance)


def _average(counts: list[int], per_value: np.ndarray) -> float:
    """The mean of `per_value[v]` over pixels counted `counts[v]` times, summed exactly."""
    pairs = zip(counts, per_value.tolist(), strict=True)
    return math.fsum(n * value for n, value in pairs) / sum(counts)


def _pad(images: np.ndarray, side: int) -> np.ndarray:
    """(N, H, W, C) zero-padded, centred, to (N, side, side, C)."""
    rows, cols = side - images.shape[1], side - images.shape[2]
    if rows < 0 or cols < 0:
        raise ValueError(f"cannot pad {images.shape[1]}x{images.shape[2]} images to {side}")
    pad = ((0, 0), (rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2), (0, 0))
    return np.pad(images, pad)


def provenance(source_record: dict) -> dict:
    """What a manifest says about the raw data it was made from."""
    return {
        "source": source_record["source"],
        "licence": source_record["licence"],
        "homepage": source_record["homepage"],
        "raw_files": source_record["files"],
    }


def write_prepared(
    out_dir: Path,
    tensors: dict[str, dict[str, torch.Tensor]],
    manifest: dict,
    texts: dict[str, str] | None = None,
) -> dict:
    """<name>.pt per tensor group and <name>.txt per text, then manifest.json (written last)
    with every file's sha256."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, group in tensors.items():
        path = out_dir / f"{name}.pt"
        torch.save(group, path)
        files[path.name] = file_checksum(path)
    for name, text in (texts or {}).items():
        path = out_dir / f"{name}.txt"
        path.write_text(text, encoding="utf-8")
        files[path.name] = file_checksum(path)
    manifest = {**manifest, "files": files}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_prepared(out_dir: Path) -> tuple[dict[str, dict | str], dict]:
    """Every file write_prepared wrote (tensor groups by name, texts by name) after checking
    each against the manifest, and the manifest."""
    manifest_path = out_dir / MANIFEST
    hint = "re-create it with `dvc repro` (the prepare stage)"
    if not manifest_path.exists():
        raise StageFailure(f"{manifest_path} is missing; {hint}")
    manifest = json.loads(manifest_path.read_text())
    contents: dict[str, dict | str] = {}
    for file_name, expected in manifest["files"].items():
        path = out_dir / file_name
        verify_checksum(path, expected, hint=hint)
        stem = path.stem
        if path.suffix == ".pt":
            contents[stem] = torch.load(path, weights_only=True)
        else:
            contents[stem] = path.read_text(encoding="utf-8")
    return contents, manifest


def load_prepared(out_dir: Path) -> tuple[dict[str, TensorSplit], dict]:
    """Prepared image splits (train, val, test) after checking each file against the manifest:
    uint8 pixels with their PixelScale (inputs as stored where a folder has no scale.pt)."""
    contents, manifest = read_prepared(out_dir)
    scale = PixelScale(**contents["scale"]) if "scale" in contents else None
    return {
        split: TensorSplit(contents[split]["x"], contents[split]["y"], scale) for split in SPLITS
    }, manifest
