"""Trained weights that later stages read: Section 2's pretrained bases and Section 5's digit
classifier.

The stage that writes such a file records its sha256 beside it, as `<file>.sha256` in
`sha256sum`'s format (`sha256sum -c` checks it by hand), and every reader checks the file
against that record before `torch.load`. PyTorch checks no checksum when it loads, so a flipped
byte would otherwise load as other weights, silently; a truncated file would fail with
PyTorch's traceback. DVC tracks the record as an output of the same stage, so the check holds
whether git or DVC's cache put the weights there.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dlrepro.data.archives import file_checksum, verify_checksum
from dlrepro.failures import StageFailure

ALGORITHM = "sha256"


def record_of(path: Path) -> Path:
    return path.with_name(f"{path.name}.{ALGORITHM}")


def save(obj: dict, path: Path) -> str:
    """`torch.save` through a partial file, then the record of what was written; returns the
    digest (`sha256:<hex>`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    torch.save(obj, partial)
    partial.replace(path)
    checksum = file_checksum(path, ALGORITHM)
    partial_record = partial.with_name(partial.name + f".{ALGORITHM}")
    partial_record.write_text(f"{checksum.removeprefix(f'{ALGORITHM}:')}  {path.name}\n")
    partial_record.replace(record_of(path))
    return checksum


def load(path: Path, stage: str) -> tuple[dict, str]:
    """The weights in `path`, checked against their record, and their digest (a resumed run
    must start from the same weights: it goes into the resume key). Missing, unrecorded or
    damaged weights fail in one line naming the file and the DVC stage that rebuilds it."""
    hint = f"rebuild it with `dvc repro {stage}`"
    record = record_of(path)
    if not path.exists():
        raise StageFailure(f"{path} is missing; {hint}")
    if not record.exists():
        raise StageFailure(f"{path} has no record of its {ALGORITHM} ({record}); {hint}")
    expected = f"{ALGORITHM}:{(record.read_text().split() or [''])[0]}"
    verify_checksum(path, expected, hint=hint)
    return torch.load(path, weights_only=True), expected
