"""Weights & Biases tracking that can never break training.

Mode: WANDB_MODE when the user sets it (tests use `disabled`); otherwise `online` when an API key
is configured (WANDB_API_KEY or `wandb login`), else `offline` (no account, no network, no wait).
When the W&B server cannot be reached (a quick connect to it, or an online start that fails),
the run and every later run of the stage's process tree go offline, with one line saying so.
Runs are written under <project>/wandb even when DVC runs a queued experiment in a temporary copy
of the repository, so `wandb sync` finds them afterwards. wandb is imported lazily; any other
error it raises is reported once and tracking continues as a no-op.
"""

from __future__ import annotations

import multiprocessing
import netrc
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from dlrepro.failures import first_line
from dlrepro.paths import project_root

PROJECT = "dlrepro"
CONNECT_TIMEOUT_S = 3
"""How long the connect to the W&B server may take before the stage's runs go offline."""
ONLINE_INIT_TIMEOUT_S = 20
"""wandb.init's limit for a server that accepts the connect but does not answer (wandb's own
default, 90 s, would be paid by every run of a stage)."""

# Set when the server is found unreachable, for the rest of the stage. It lives in shared memory
# made when the stage imports this module, so the seed workers it forks later (map_seeds) read
# it, and one worker's finding reaches its siblings and the parent; the stage's end frees it.
_server_unreachable = multiprocessing.get_context("fork").Value("b", False)


def wandb_mode() -> str:
    mode = os.environ.get("WANDB_MODE") or ("online" if _has_api_key() else "offline")
    return "offline" if mode == "online" and _server_unreachable.value else mode


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

            def start(mode: str):
                # Offline, the limit only bounds the start of wandb's local service.
                timeout = ONLINE_INIT_TIMEOUT_S if mode == "online" else 90
                return wandb.init(
                    project=project,
                    group=group,
                    name=name,
                    config=config,
                    tags=tags,
                    job_type=job_type,
                    mode=mode,
                    dir=str(directory),
                    reinit="finish_previous",
                    settings=wandb.Settings(console="off", silent=True, init_timeout=timeout),
                )

            if mode != "online":
                self._run = start(mode)
                return
            base_url = wandb.setup().settings.base_url
            if problem := _unreachable(base_url):
                self._run = start(_offline_from_now(base_url, problem, directory))
                return
            try:
                self._run = start("online")
            except Exception as error:
                self._run = start(_offline_from_now(base_url, first_line(error), directory))
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


def _unreachable(base_url: str) -> str | None:
    """Why a connection to the W&B server (or to the proxy the environment names for it) cannot
    be opened within CONNECT_TIMEOUT_S; None when it can."""
    url = urlsplit(base_url)
    proxy = getproxies().get(url.scheme)
    if proxy and not proxy_bypass(url.hostname or ""):
        url = urlsplit(proxy)
    address = (url.hostname or "", url.port or (443 if url.scheme == "https" else 80))
    try:
        socket.create_connection(address, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        return f"cannot connect to {address[0]}:{address[1]}: {error.strerror or error}"
    return None


def _offline_from_now(base_url: str, problem: str, directory: Path) -> str:
    """Switch this process tree's runs to offline, saying so once."""
    with _server_unreachable.get_lock():
        first = not _server_unreachable.value
        _server_unreachable.value = True
    if first:
        print(
            f"warning: no W&B connection to {base_url} ({problem}); this stage's runs are "
            f"written offline under {directory / 'wandb'}: upload them with `wandb sync`",
            file=sys.stderr,
        )
    return "offline"


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
