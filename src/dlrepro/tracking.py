"""Weights & Biases tracking that can never break training.

Mode: WANDB_MODE when the user sets it (tests use `disabled`); otherwise `online` when an API key
is configured (WANDB_API_KEY or `wandb login`), else `offline` (no account, no network, no wait).
Runs are written under <project>/wandb even when DVC runs a queued experiment in a temporary copy
of the repository, so `wandb sync` finds them afterwards. wandb is imported lazily; any error it
raises is reported once and tracking continues as a no-op.
"""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from typing import Any

from dlrepro.paths import project_root

PROJECT = "dlrepro"


def wandb_mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if _has_api_key() else "offline"


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_dir() -> Path:
    """Absolute folder for W&B files: WANDB_DIR if set, else the real project root."""
    return Path(os.environ.get("WANDB_DIR") or project_root()).resolve()


class Run:
    """One tracked run; every method is safe to call when tracking is off or has failed."""

    def __init__(
        self,
        *,
        project: str,
        group: str,
        name: str,
        config: dict[str, Any],
        tags: list[str],
        job_type: str,
        enabled: bool = True,
    ) -> None:
        self._run = None
        mode = wandb_mode()
        if mode == "disabled" or not enabled:
            return
        try:
            import wandb

            directory = wandb_dir()
            directory.mkdir(parents=True, exist_ok=True)
            self._run = wandb.init(
                project=project,
                group=group,
                name=name,
                config=config,
                tags=tags,
                job_type=job_type,
                mode=mode,
                dir=str(directory),
                reinit="finish_previous",
                settings=wandb.Settings(console="off", silent=True, init_timeout=90),
            )
        except Exception as error:
            self._fail(error)

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self._call(lambda run: run.log(metrics, step=step))

    def log_images(self, images: dict[str, Path]) -> None:
        def log(run):
            import wandb

            run.log({key: wandb.Image(str(path)) for key, path in images.items()})

        self._call(log)

    def summary(self, metrics: dict[str, Any]) -> None:
        self._call(lambda run: run.summary.update(metrics))

    def finish(self) -> None:
        self._call(lambda run: run.finish())
        self._run = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _call(self, action) -> None:
        if self._run is None:
            return
        try:
            action(self._run)
        except Exception as error:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self._run = None
        print(f"warning: W&B tracking turned off for this run: {error}", file=sys.stderr)


def log_figures(section: str, profile: str, paths: list[Path]) -> None:
    """Log a figure stage's images as one run of the section's group."""
    with Run(
        project=PROJECT,
        group=section,
        name=f"{section}/figures",
        job_type="figures",
        config={"profile": profile},
        tags=[section, profile],
    ) as run:
        run.log_images({path.stem: path for path in paths})
