"""One experiment condition trained once per seed: what every supervised section's train stage
does between reading its params and writing its results."""

from __future__ import annotations

import functools
import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

import dlrepro
from dlrepro.config import Params, TrainConfig, digest
from dlrepro.data.prepare import TensorSplit
from dlrepro.paths import CHECKPOINTS, RESULTS
from dlrepro.results import result_set, write_run_results
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
    "val_quality",
]
"""What history files keep of the loop's rows: not `train_seconds`, since wall times are not
results (they differ on every run; W&B records them, per epoch and per run)."""


DRY_RUN_BATCHES = 2
"""A dry run trains this many batches of one seed, and evaluates on as many batches' examples."""


def dry_run_data(splits: dict[str, TensorSplit], batch_size: int) -> dict[str, TensorSplit]:
    """The first DRY_RUN_BATCHES batches of every split: all a dry run trains and evaluates on,
    so it takes seconds at any profile's data size."""
    return {name: split.head(DRY_RUN_BATCHES * batch_size) for name, split in splits.items()}


@dataclass
class Condition:
    """What to train: names for tracking and output, the config it runs, how to build it."""

    section: str
    name: str
    profile: str
    config: dict
    """Logged to W&B; its digest is part of the resume checkpoints' key (`resume_key`)."""
    build: Callable[[int], nn.Module]
    """A fresh model for the seed it is given (called after seeding, so initialisation follows
    the seed; a pretrained model may also start from that seed's own base)."""
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
        model = compute.prepare_model(c.build(seed).to(device))
    if c.adversarial is not None:
        return fit_adversarial(
            model,
            c.adversarial,
            splits["train"],
            splits.get("val"),
            epochs=1 if dry_run else c.train.epochs,
            batch_size=c.train.batch_size,
            patience=c.train.patience,
            min_delta=c.train.min_delta,
            seed=seed,
            desc=f"{c.section}/{c.name}/seed{seed}",
            on_epoch=on_epoch,
            max_batches=DRY_RUN_BATCHES if dry_run else None,
        )
    return fit(
        model,
        make_optimizer(model, c.train),
        splits["train"],
        splits["val"],
        epochs=1 if dry_run else c.train.epochs,
        batch_size=c.train.batch_size,
        patience=c.train.patience,
        min_delta=c.train.min_delta,
        seed=seed,
        augment=c.augment,
        loss_fn=c.loss_fn,
        warmup_epochs=c.train.warmup_epochs,
        monitor=c.train.monitor,
        checkpoint=checkpoint,
        fingerprint=fingerprint,
        desc=f"{c.section}/{c.name}/seed{seed}",
        on_epoch=on_epoch,
        max_batches=DRY_RUN_BATCHES if dry_run else None,
    )


@dataclass
class Measured:
    """What a stage's `measure` makes of one seed's trained model."""

    metrics: dict
    """That seed's row of runs.csv."""
    kept: object = None
    """Anything else the stage writes once every seed ran (samples to show, forecasts, weights),
    handed back in seed order (from the seed's worker process when seeds train side by side)."""


@dataclass
class SeedRuns:
    """Every seed's outcome, in seed order."""

    runs: list[dict]
    """One metrics row per seed (runs.csv)."""
    history: pd.DataFrame
    """Per seed and epoch."""
    kept: list
    """`Measured.kept` per seed."""
    seconds: list[float]
    """Wall time per seed, resumed sessions included: logged and sent to W&B, never written
    to a result file."""


def train_over_seeds(
    condition: Condition,
    splits: dict[str, TensorSplit],
    seeds: list[int],
    *,
    device,
    checkpoint_dir: Path | None,
    measure: Callable[[nn.Module, FitResult], Measured],
    dry_run: bool = False,
) -> SeedRuns:
    """Fit the condition once per seed with the best weights restored, and ask `measure` for
    that run's metrics. Seeds train side by side where `compute.seed_processes` allows (not
    under data-parallel processes); every seed is seeded alike either way. A seed resumes from
    its checkpoint in `checkpoint_dir` only when the checkpoint was written under the same
    `resume_key`."""
    c = condition
    keep_checkpoints = checkpoint_dir is not None and not dry_run
    fingerprint = resume_key(c.config, splits) if keep_checkpoints else ""
    # Small enough for memory by construction (prepared tensors): on a GPU, moved there once.
    splits = {name: split.to(device) for name, split in splits.items()}

    def one_seed(seed: int) -> tuple[Measured, pd.DataFrame, float]:
        seed_everything(seed)
        model = compute.prepare_model(c.build(seed).to(device))
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
            measured = measure(model, result)
            measured.metrics = {"seed": seed, **measured.metrics}
            seconds = round(result.seconds_before_resume + time.perf_counter() - started, 2)
            tracker.summary({**measured.metrics, "seconds": seconds})
        if distributed.is_main():
            shown = ", ".join(f"{k} {v:.4g}" for k, v in measured.metrics.items() if k != "seed")
            print(f"{c.section}/{c.name} seed {seed}: {shown} ({seconds:.0f} s)", flush=True)
        return measured, pd.DataFrame(result.history).assign(seed=seed), seconds

    try:
        outcomes = compute.map_seeds(
            one_seed,
            seeds[:1] if dry_run else seeds,
            concurrent=not distributed.requested(),
        )
    except compute.WorkerDiedError as error:
        raise compute.WorkerDiedError(
            f"{c.section}/{c.name}: {error}; the other seeds' checkpoints are kept: re-run to "
            "train only what is missing"
        ) from None
    per_seed = pd.concat([history for _, history, _ in outcomes])
    return SeedRuns(
        runs=[measured.metrics for measured, _, _ in outcomes],
        history=per_seed[["seed", *(c for c in HISTORY_COLUMNS if c in per_seed)]],
        kept=[measured.kept for measured, _, _ in outcomes],
        seconds=[seconds for _, _, seconds in outcomes],
    )


def resume_key(config: dict, splits: dict[str, TensorSplit]) -> str:
    """What a run's result depends on: its config, the code and the data it trains on. A
    checkpoint written under another key is never resumed."""
    data = hashlib.blake2b(digest_size=16)
    for name, split in sorted(splits.items()):
        scale = (split.scale.mean, split.scale.std) if split.scale is not None else ()
        for tensor in (split.x, split.y, *scale):
            data.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
            flat = tensor.detach().cpu().contiguous().reshape(-1)
            data.update(flat.view(torch.uint8).numpy())
    return digest([digest(config), source_digest(), data.hexdigest()])


@functools.cache
def source_digest() -> str:
    """A hash of every .py file of the package (path and contents), once per process."""
    package = Path(dlrepro.__file__).parent
    source = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        content = path.read_bytes()
        source.update(f"{path.relative_to(package)} {len(content)}\n".encode())
        source.update(content)
    return source.hexdigest()


def write_histories(out: Path, per_seed: pd.DataFrame) -> None:
    """history_seeds.csv (per seed and epoch) and history.csv (the mean over the seeds still
    running at each epoch: one curve per condition for `dvc plots`), both or neither."""
    with result_set(out) as staging:
        per_seed.round(6).to_csv(staging / "history_seeds.csv", index=False)
        columns = [c for c in HISTORY_COLUMNS[1:] if c in per_seed]
        per_seed.groupby("epoch")[columns].mean().round(6).to_csv(staging / "history.csv")


def run_condition(
    condition: Condition,
    splits: dict[str, TensorSplit],
    params: Params,
    *,
    measure: Callable[[nn.Module, FitResult], Measured],
    metrics: list[str],
    dry_run: bool = False,
    **info,
) -> tuple[dict | None, list]:
    """A train stage's whole job: train over its section's seeds (resumable), then write
    results/<section>/<name>/ (histories, runs.csv, metrics.json with `info`: all of them or,
    on a failure, none) and drop the checkpoints. Returns the summary and each seed's
    `Measured.kept`. A dry run trains two batches of one seed and writes nothing (summary None);
    its stage hands it `dry_run_data` only, so evaluating takes no longer;
    so does every data-parallel rank but the first."""
    c = condition
    checkpoint_dir = CHECKPOINTS / c.section / c.name
    seed_runs = train_over_seeds(
        c,
        splits,
        params.seeds.of(c.section),
        device=resolve_device(params),
        checkpoint_dir=checkpoint_dir,
        measure=measure,
        dry_run=dry_run,
    )
    if not distributed.is_main():
        return None, seed_runs.kept
    if dry_run:
        print(f"dry run of {c.section}/{c.name} passed: params valid, data loaded, a step trained")
        return None, seed_runs.kept
    summary = write_results(
        RESULTS / c.section / c.name, seed_runs.history, seed_runs.runs, metrics, **info
    )
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return summary, seed_runs.kept


def write_results(
    out: Path, history: pd.DataFrame, runs: list[dict], metrics: list[str], **info
) -> dict:
    """A train stage's results in `out`: histories, runs.csv and metrics.json (the mean and
    std of `metrics` over the seeds, with `info`), replacing the previous set whole
    (`result_set`). Returns the summary."""
    with result_set(out) as staging:
        write_histories(staging, history)
        return write_run_results(staging, runs, metrics, **info)
