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


def _stratified_subset(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, ...]:
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
) -> dict:
    """Write train/val/test tensors (N, C, H, W) normalised with train statistics, optionally
    for a subset of the classes."""
    from sklearn.model_selection import train_test_split

    source_record = verify_raw(raw_dir, dataset)
    splits = _select_classes(get_dataset(dataset).load(raw_dir / dataset), classes)
    train_x, train_y = _stratified_subset(splits.train_x, splits.train_y, n_train)
    test_x, test_y = _stratified_subset(splits.test_x, splits.test_y, n_test)
    fit_idx, val_idx = train_test_split(
        np.arange(len(train_y)), test_size=val_fraction, stratify=train_y, random_state=DATA_SEED
    )
    arrays = {
        "train": (train_x[np.sort(fit_idx)], train_y[np.sort(fit_idx)]),
        "val": (train_x[np.sort(val_idx)], train_y[np.sort(val_idx)]),
        "test": (test_x, test_y),
    }
    scaled_train = arrays["train"][0].astype(np.float32) / 255.0
    mean = scaled_train.mean(axis=(0, 1, 2))
    std = scaled_train.std(axis=(0, 1, 2))

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, (x, y) in arrays.items():
        images = (x.astype(np.float32) / 255.0 - mean) / std
        tensors = {
            "x": torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
            "y": torch.from_numpy(y),
        }
        path = out_dir / f"{split}.pt"
        torch.save(tensors, path)
        files[path.name] = file_checksum(path)
    manifest = {
        "dataset": dataset,
        "source": source_record["source"],
        "licence": source_record["licence"],
        "homepage": source_record["homepage"],
        "raw_files": source_record["files"],
        "classes": splits.classes,
        "class_ids": classes,
        "image_shape": list(arrays["test"][0].shape[1:]),
        "counts": {split: len(y) for split, (_, y) in arrays.items()},
        "normalisation": {"mean": mean.round(6).tolist(), "std": std.round(6).tolist()},
        "data_seed": DATA_SEED,
        "files": files,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_prepared(out_dir: Path) -> tuple[dict[str, TensorSplit], dict]:
    """Load prepared splits after checking each file against the manifest."""
    manifest_path = out_dir / MANIFEST
    hint = "re-create it with `dvc repro` (the prepare stage)"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} is missing; {hint}")
    manifest = json.loads(manifest_path.read_text())
    splits = {}
    for split in SPLITS:
        path = out_dir / f"{split}.pt"
        verify_checksum(path, manifest["files"][path.name], hint=hint)
        tensors = torch.load(path, weights_only=True)
        splits[split] = TensorSplit(tensors["x"], tensors["y"])
    return splits, manifest
