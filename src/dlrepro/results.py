"""Writing and reading stage results: metrics over seeds, histories, figures."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dlrepro.failures import StageFailure, writing
from dlrepro.paths import RESULTS

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single seed), rounded for stable JSON."""
    array = np.asarray(values, dtype=float)
    std = array.std(ddof=1) if len(array) > 1 else 0.0
    return {"mean": round(float(array.mean()), 6), "std": round(float(std), 6)}


def summarise_runs(runs: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, float]]:
    return {column: mean_std(runs[column].tolist()) for column in columns}


STAGING = ".writing"
"""Suffix of the hidden folder beside a results folder where `result_set` writes first."""


@contextlib.contextmanager
def result_set(out: Path) -> Iterator[Path]:
    """A folder to write a set of result files into. Once all are written it takes the place of
    `out` in one atomic exchange of the two folders (files of `out` the set does not rewrite
    are kept), so a failure or a kill at any moment leaves the old set or the new one, never
    new files beside old ones."""
    if out.name.endswith(STAGING):  # a set within a set: the outer one replaces them all
        yield out
        return
    staging = out.with_name(f".{out.name}{STAGING}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with writing(out), _writers_take_turns(out.parent):
        if staging.exists():  # left by a killed run: the old set or an unfinished new one
            try:
                shutil.rmtree(staging)
            except OSError as error:
                raise StageFailure(
                    f"cannot remove {staging}, which an earlier run of this stage left "
                    f"({error.strerror}); remove it and re-run"
                ) from None
        staging.mkdir(parents=True)
        try:
            yield staging
            if out.exists():
                _keep_others(out, staging)
                _exchange(staging, out)
            else:
                staging.rename(out)
        finally:
            # the old set after an exchange, else the unfinished new one; what cannot be
            # removed now (an immutable file) the next run reports
            shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _writers_take_turns(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` while one process writes a set into it: writers of one set
    (Optuna workers sharing a study) share its staging folder, which each would otherwise
    remove under the other. A lock on the folder itself leaves no lock file among results."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also when the process is killed


def _keep_others(out: Path, staging: Path) -> None:
    """Hard links in `staging` to what `out` holds and the new set does not (another writer's
    files, such as text generation's samples): the exchange keeps them."""
    for entry in out.iterdir():
        if (staging / entry.name).exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, staging / entry.name, copy_function=os.link)
        else:
            os.link(entry, staging / entry.name)


RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _exchange(new: Path, out: Path) -> None:
    """Swap folders `new` and `out` in one step: Linux's renameat2(RENAME_EXCHANGE), which the
    standard library does not wrap. Where the system or file system lacks it, two renames: a
    kill between them leaves `out` missing, both sets complete, and still never a mixed one."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(AT_FDCWD, os.fsencode(new), AT_FDCWD, os.fsencode(out), RENAME_EXCHANGE) == 0:
            return
        error = ctypes.get_errno()
        if error not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: the file system cannot
            raise OSError(error, os.strerror(error), str(out))
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    new.rename(out)
    old.rename(new)  # removed with what is left of the new set's folder


def write_run_results(out: Path, runs: list[dict], metrics: list[str], **info) -> dict:
    """runs.csv (one row per seed) and metrics.json (mean and std over seeds, plus `info`), both
    or neither (`result_set`)."""
    table = pd.DataFrame(runs)
    summary = {**info, "n_seeds": len(table), **summarise_runs(table, metrics)}
    with result_set(out) as staging:
        table.round(6).to_csv(staging / "runs.csv", index=False)
        write_json(staging / "metrics.json", summary)
    return summary


def write_json(path: Path, obj: dict) -> None:
    """Write JSON through a temporary file so a crash never leaves a half-written result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def load_metrics(section: str, names: Iterable[str], prefix: str = "") -> dict[str, dict]:
    """metrics.json of results/<section>/<prefix><name> for each name, keyed by name."""
    return {
        name: read_json(RESULTS / section / f"{prefix}{name}" / "metrics.json") for name in names
    }


FEW_SEEDS = 5
"""At or below this many seeds a curve shows every seed, not a band: a spread of so few values
says little, and mean ± std can leave the metric's range (a CartPole return of -200)."""
ACCURACY_RANGE = (0.0, 1.0)
LOSS_RANGE = (0.0, None)


def spread_label(n_seeds: int) -> str:
    """What `plot_seeds` draws around the mean of n seeds, for a figure's title."""
    if n_seeds <= FEW_SEEDS:
        return f"mean and each of {n_seeds} seeds"
    return f"mean ± std over {n_seeds} seeds"


def plot_seeds(
    ax: plt.Axes,
    x: np.ndarray,
    curves: np.ndarray,
    label: str | None,
    *,
    limits: tuple[float | None, float | None] = (None, None),
    t_interval: bool = False,
    **style,
) -> None:
    """The mean of per-seed curves (one row per seed, NaN where a seed has no value) against x.
    With at most FEW_SEEDS seeds, each seed as a thin line beneath the mean; with more, a band
    of ±1 std (or, `t_interval`, the 95 % t-interval of the mean) clipped to `limits`, the
    metric's range."""
    per_point = pd.DataFrame(curves)  # pandas: NaN-aware, and no warnings for a lone seed
    mean = per_point.mean().to_numpy()
    line = ax.plot(x, mean, label=label, **style)[0]
    if len(curves) <= FEW_SEEDS:
        for seed_curve in curves:
            ax.plot(
                x,
                seed_curve,
                color=line.get_color(),
                linestyle=line.get_linestyle(),
                linewidth=0.6,
                alpha=0.4,
                zorder=line.get_zorder() - 0.1,
            )
        return
    if t_interval:
        from scipy import stats  # here: stages that draw no band skip scipy's import cost

        half = stats.t.ppf(0.975, per_point.count() - 1) * per_point.sem()
    else:
        half = per_point.std()
    half = half.fillna(0.0).to_numpy()  # a point with one seed has no spread to show
    low, high = np.clip(mean - half, *limits), np.clip(mean + half, *limits)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)


def plot_mean_band(
    ax: plt.Axes,
    history: pd.DataFrame,
    column: str,
    label: str | None,
    limits: tuple[float | None, float | None] = (None, None),
    **style,
) -> None:
    """Mean over seeds per epoch of a per-seed history, with each seed or a ±1 std band
    (`plot_seeds`; seeds that stopped early drop out)."""
    per_epoch = history.pivot(index="epoch", columns="seed", values=column)
    plot_seeds(
        ax, per_epoch.index.to_numpy(), per_epoch.to_numpy().T, label, limits=limits, **style
    )


def learning_curves(history: pd.DataFrame, title: str) -> plt.Figure:
    """Loss and accuracy, training beside validation, mean over seeds with each seed or a band
    (`plot_seeds`; per-seed history)."""
    fig, axes = subplots(2)
    for ax, metric in zip(axes, ["loss", "acc"], strict=True):
        limits = ACCURACY_RANGE if metric == "acc" else LOSS_RANGE
        plot_mean_band(ax, history, f"train_{metric}", label="train", limits=limits)
        plot_mean_band(ax, history, f"val_{metric}", label="validation", limits=limits)
        ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "cross-entropy")
    axes[1].legend()
    fig.suptitle(title)
    return fig


def subplots(
    ncols: int, width: float = 10, height: float = 3.6, **layout
) -> tuple[plt.Figure, list]:
    """A row of axes on the non-interactive backend (imported here: stages without figures
    skip matplotlib's import cost); `layout`: more of matplotlib's subplots arguments."""
    fig, axes = _pyplot().subplots(1, ncols, figsize=(width, height), squeeze=False, **layout)
    return fig, list(axes[0])


def _pyplot():
    """matplotlib.pyplot on the non-interactive backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: plt.Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    # No software stamp: PNG bytes then depend on the results alone.
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def image_rows(rows: dict[str, np.ndarray], title: str) -> plt.Figure:
    """One labelled row per entry, images (N, C, H, W) in [0, 1] side by side (sample grids,
    noisy / denoised / clean, grey / colourised / truth)."""
    n = max(len(images) for images in rows.values())
    fig, grid = _pyplot().subplots(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = grid[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                image = np.clip(np.asarray(images[c]).transpose(1, 2, 0), 0, 1)
                ax.imshow(
                    image.squeeze(-1) if image.shape[-1] == 1 else image,
                    cmap="gray",
                    vmin=0,
                    vmax=1,
                )
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def architecture_figure(layers: list[tuple[str, str, int]], title: str) -> plt.Figure:
    """A model's layer table (layer, output shape, parameters) drawn as a figure."""
    fig, axes = subplots(1, width=6.5, height=0.28 * (len(layers) + 2))
    ax = axes[0]
    ax.axis("off")
    cells = [[name, shape, f"{count:,}"] for name, shape, count in layers]
    cells.append(["total", "", f"{sum(count for *_, count in layers):,}"])
    table = ax.table(
        cellText=cells,
        colLabels=["layer", "output shape", "parameters"],
        loc="center",
        cellLoc="left",
        colLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.15)
    ax.set_title(title, fontsize=10)
    return fig
