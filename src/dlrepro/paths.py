"""Where things live, relative to the project root."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path("results")
PREPARED = Path("data/prepared")
CHECKPOINTS = Path(".dlrepro/checkpoints")
PAPER = Path("paper")
MODELS = Path("models")
"""Trained weights a later stage reads (DVC-cached, not committed to git)."""


def project_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder above `start` holding dvc.yaml.

    `dvc exp run --queue/--temp` executes in a copy under <root>/.dvc/tmp/exps/; from there the
    real root (where files meant to outlive the run belong) is the folder above `.dvc`.
    """
    here = (start or Path.cwd()).resolve()
    parts = here.parts
    if ".dvc" in parts:
        return Path(*parts[: parts.index(".dvc")])
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here
