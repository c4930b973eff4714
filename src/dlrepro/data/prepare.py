"""Prepare stages: raw files -> normalised tensors + a manifest, and loading them back verified.

The manifest records sha256 per tensor file, sample counts, normalisation statistics (fitted on
the training split only), the raw source and its licence. Loading re-checks the hashes, so a
prepared file damaged after the stage ran fails with its name instead of training on garbage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlrepro.data.archives import file_checksum, verify_checksum
from dlrepro.data.sources import ImageSplits, get_dataset, verify_raw

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
DATA_SEED = 12345
"""Subsampling and the validation split use one fixed seed, so every training seed sees the same
data and seeds measure only training randomness."""


@dataclass(frozen=True)
class TensorSplit:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


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
    """Write train/val/test tensors (N, C, H, W), optionally for a subset of the classes.

    Pixels are standardised with the training split's per-channel mean and std, or with
    `standardise=False` kept in [0, 1] (for models whose outputs are images). `pad_to`
    zero-pads the images, centred, to that side (MNIST's 28 -> 32).
    """
    source_record = verify_raw(raw_dir, dataset)
    splits = _select_classes(get_dataset(dataset).load(raw_dir / dataset), classes)
    train_x, train_y = stratified_subset(splits.train_x, splits.train_y, n_train)
    test_x, test_y = stratified_subset(splits.test_x, splits.test_y, n_test)
    fit_idx, val_idx = stratified_split(train_y, val_fraction)
    arrays = {
        "train": (train_x[fit_idx], train_y[fit_idx]),
        "val": (train_x[val_idx], train_y[val_idx]),
        "test": (test_x, test_y),
    }
    if pad_to is not None:
        arrays = {split: (_pad(x, pad_to), y) for split, (x, y) in arrays.items()}
    scaled_train = arrays["train"][0].astype(np.float32) / 255.0
    channels = scaled_train.shape[-1]
    mean = scaled_train.mean(axis=(0, 1, 2)) if standardise else np.zeros(channels, np.float32)
    std = scaled_train.std(axis=(0, 1, 2)) if standardise else np.ones(channels, np.float32)
    tensors = {
        split: {
            "x": torch.from_numpy(
                np.ascontiguousarray(
                    ((x.astype(np.float32) / 255.0 - mean) / std).transpose(0, 3, 1, 2)
                )
            ),
            "y": torch.from_numpy(y),
        }
        for split, (x, y) in arrays.items()
    }
    return write_prepared(
        out_dir,
        tensors,
        {
            "dataset": dataset,
            **provenance(source_record),
            "classes": splits.classes,
            "class_ids": classes,
            "image_shape": list(arrays["test"][0].shape[1:]),
            "counts": {split: len(y) for split, (_, y) in arrays.items()},
            "normalisation": {"mean": mean.round(6).tolist(), "std": std.round(6).tolist()},
            "data_seed": DATA_SEED,
        },
    )


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
        raise FileNotFoundError(f"{manifest_path} is missing; {hint}")
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
    """Prepared image splits (train, val, test) after checking each file against the manifest."""
    contents, manifest = read_prepared(out_dir)
    return {
        split: TensorSplit(contents[split]["x"], contents[split]["y"]) for split in SPLITS
    }, manifest
