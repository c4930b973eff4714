"""One experiment condition trained once per seed: what every supervised section's train stage
does between reading its params and writing its results."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from torch import nn

from dlrepro.config import Params, TrainConfig, digest
from dlrepro.data.prepare import TensorSplit
from dlrepro.paths import CHECKPOINTS, RESULTS
from dlrepro.results import write_run_results
from dlrepro.tracking import PROJECT, Run
from dlrepro.training import compute, distributed
from dlrepro.training.adversarial import Adversarial, fit_adversarial
from dlrepro.training.loop import (
    FitResult,
    fit,
    make_optimizer,
    resolve_device,
    seed_everything,
)

HISTORY_COLUMNS = [
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "d_loss",
    "g_loss",
    "train_seconds",
]


@dataclass
class Condition:
    """What to train: names for tracking and output, the config it runs, how to build it."""

    section: str
    name: str
    profile: str
    config: dict
    """Logged to W&B; its digest keys the resume checkpoints."""
    build: Callable[[], nn.Module]
    """A fresh model (called after seeding, so initialisation follows the seed)."""
    train: TrainConfig
    augment: Callable | None = None
    loss_fn: nn.Module | None = None
    """Cross-entropy when None."""
    adversarial: Adversarial | None = None
    """Set for a GANPair: trained by `fit_adversarial` instead of the supervised loop."""


def fit_condition(
    condition: Condition,
    splits: dict[str, TensorSplit],
    *,
    seed: int,
    device,
    model: nn.Module | None = None,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    on_epoch: Callable[[dict], None] | None = None,
    dry_run: bool = False,
) -> FitResult:
    """One seeded training run of the condition (a fresh model unless `model` is given)."""
    c = condition
    if model is None:
        seed_everything(seed)
        model = compute.prepare_model(c.build().to(device))
    if c.adversarial is not None:
        return fit_adversarial(
            model,
            c.adversarial,
            splits["train"],
            splits.get("val"),
            epochs=1 if dry_run else c.train.epochs,
            batch_size=c.train.batch_size,
            seed=seed,
            desc=f"{c.section}/{c.name}/seed{seed}",
            on_epoch=on_epoch,
            max_batches=2 if dry_run else None,
        )
    return fit(
        model,
        make_optimizer(model, c.train),
        splits["train"],
        splits["val"],
        epochs=1 if dry_run else c.train.epochs,
        batch_size=c.train.batch_size,
        patience=c.train.patience,
        seed=seed,
        augment=c.augment,
        loss_fn=c.loss_fn,
        warmup_epochs=c.train.warmup_epochs,
        monitor=c.train.monitor,
        checkpoint=checkpoint,
        fingerprint=fingerprint,
        desc=f"{c.section}/{c.name}/seed{seed}",
        on_epoch=on_epoch,
        max_batches=2 if dry_run else None,
    )


def train_over_seeds(
    condition: Condition,
    splits: dict[str, TensorSplit],
    seeds: list[int],
    *,
    device,
    checkpoint_dir: Path | None,
    fingerprint: str,
    measure: Callable[[nn.Module, FitResult], dict],
    dry_run: bool = False,
) -> tuple[list[dict], pd.DataFrame]:
    """Fit the condition once per seed with the best weights restored, and ask `measure` for
    that run's metrics. Returns one metrics row per seed and the per-seed, per-epoch history."""
    c = condition
    # Small enough for memory by construction (prepared tensors): on a GPU, moved there once.
    splits = {name: TensorSplit(s.x.to(device), s.y.to(device)) for name, s in splits.items()}
    runs, histories = [], []
    keep_checkpoints = checkpoint_dir is not None and not dry_run
    for seed in seeds[:1] if dry_run else seeds:
        seed_everything(seed)
        model = compute.prepare_model(c.build().to(device))
        with Run(
            project=PROJECT,
            group=c.section,
            name=f"{c.section}/{c.name}/seed{seed}",
            config={**c.config, "seed": seed},
            tags=[c.section, c.profile, c.name],
            job_type=c.name,
            enabled=not dry_run and distributed.is_main(),
        ) as tracker:
            started = time.perf_counter()
            result = fit_condition(
                c,
                splits,
                seed=seed,
                device=device,
                model=model,
                checkpoint=checkpoint_dir / f"seed{seed}.pt" if keep_checkpoints else None,
                fingerprint=fingerprint,
                on_epoch=tracker.log,
                dry_run=dry_run,
            )
            model.load_state_dict(result.best_state)
            run = {"seed": seed, **measure(model, result)}
            run["seconds"] = round(time.perf_counter() - started, 2)
            tracker.summary(run)
        runs.append(run)
        histories.append(pd.DataFrame(result.history).assign(seed=seed))
        if distributed.is_main():
            shown = ", ".join(
                f"{k} {v:.4g}" for k, v in run.items() if k not in {"seed", "seconds"}
            )
            print(f"{c.section}/{c.name} seed {seed}: {shown}")
    per_seed = pd.concat(histories)
    return runs, per_seed[["seed", *(c for c in HISTORY_COLUMNS if c in per_seed)]]


def write_histories(out: Path, per_seed: pd.DataFrame) -> None:
    """history_seeds.csv (per seed and epoch) and history.csv (the mean over the seeds still
    running at each epoch: one curve per condition for `dvc plots`)."""
    out.mkdir(parents=True, exist_ok=True)
    per_seed.round(6).to_csv(out / "history_seeds.csv", index=False)
    columns = [c for c in HISTORY_COLUMNS[1:] if c in per_seed]
    per_seed.groupby("epoch")[columns].mean().round(6).to_csv(out / "history.csv")


def run_condition(
    condition: Condition,
    splits: dict[str, TensorSplit],
    params: Params,
    *,
    measure: Callable[[nn.Module, FitResult], dict],
    metrics: list[str],
    dry_run: bool = False,
    **info,
) -> dict | None:
    """A train stage's whole job: train over `params.seeds` (resumable), then write
    results/<section>/<name>/ (histories, runs.csv, metrics.json with `info`) and drop the
    checkpoints. A dry run trains two batches of one seed and writes nothing; so does every
    data-parallel rank but the first."""
    c = condition
    checkpoint_dir = CHECKPOINTS / c.section / c.name
    runs, per_seed = train_over_seeds(
        c,
        splits,
        params.seeds,
        device=resolve_device(params),
        checkpoint_dir=checkpoint_dir,
        fingerprint=digest(c.config),
        measure=measure,
        dry_run=dry_run,
    )
    if not distributed.is_main():
        return None
    if dry_run:
        print(f"dry run of {c.section}/{c.name} passed: params valid, data loaded, a step trained")
        return None
    out = RESULTS / c.section / c.name
    write_histories(out, per_seed)
    summary = write_run_results(out, runs, metrics, **info)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary
