"""Section 1, Network Training: augmentation, dropout, BN, zero init and learning rate.

Reproduces Table 1 (best validation accuracy per technique) and Figures 1 and 10-16 (loss and
accuracy curves) of the report. Every variant is the same small CNN and loop with one technique
switched on; each runs once per seed in `seeds`, and results are mean +- std over seeds.

Cost (2-core CPU, measured with `dvc repro` and shown in the README): smoke profile seconds,
embedded profile (Fashion-MNIST subset, 3 seeds) a few minutes for all variants; the paper
profile is CIFAR-10 at full size and wants a GPU.

    dlrepro s1 train --variant baseline [--dry-run]   one row of Table 1 (a DVC foreach stage)
    dlrepro s1 figures                                Figures 1 and 10-16 from the histories
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from dlrepro.config import Params, S1Config, S1Variant, digest
from dlrepro.data.prepare import load_prepared, prepare_images
from dlrepro.models.cnn import SmallCNN, zero_init_
from dlrepro.paths import CHECKPOINTS, PAPER, PREPARED, RESULTS
from dlrepro.results import plot_mean_band, save_figure, subplots, write_run_results
from dlrepro.tracking import PROJECT, Run, log_figures
from dlrepro.training.augment import random_affine
from dlrepro.training.loop import evaluate, fit, resolve_device, seed_everything

SECTION = "s1"
DATA_DIR = PREPARED / SECTION
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
METRICS = ["best_val_acc", "test_acc", "test_loss", "best_epoch", "epochs", "train_val_gap"]


def prepare(params: Params) -> None:
    cfg = params.s1
    prepare_images(
        cfg.dataset,
        Path(params.data.raw_dir),
        DATA_DIR,
        n_train=cfg.n_train,
        n_test=cfg.n_test,
        val_fraction=cfg.val_fraction,
    )


def build_model(cfg: S1Config, variant: S1Variant, manifest: dict) -> nn.Module:
    height, _, channels = manifest["image_shape"]
    model = SmallCNN(
        in_channels=channels,
        image_size=height,
        num_classes=len(manifest["classes"]),
        conv_channels=cfg.model.conv_channels,
        dense=cfg.model.dense,
        batch_norm=variant.batch_norm,
        dropout=cfg.dropout if variant.dropout else 0.0,
    )
    return zero_init_(model) if variant.init == "zeros" else model


def make_optimizer(model: nn.Module, cfg: S1Config, lr: float) -> torch.optim.Optimizer:
    train = cfg.train
    if train.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=train.momentum, weight_decay=train.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=train.weight_decay)


def train_variant(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """Train variant `name` once per seed; write metrics.json (mean and std over seeds),
    runs.csv (one row per seed), history_seeds.csv (per seed and epoch) and history.csv (mean
    per epoch, for `dvc plots`)."""
    cfg = params.s1
    if name not in cfg.variants:
        raise SystemExit(
            f"unknown variant {name!r}; defined in params.yaml s1.variants: "
            f"{', '.join(cfg.variants)}"
        )
    variant = cfg.variants[name]
    lr = variant.lr or cfg.train.lr
    splits, manifest = load_prepared(DATA_DIR)
    augment = None if variant.augment == "none" else random_affine(cfg.augment[variant.augment])
    config = {
        "profile": params.profile,
        "variant": name,
        "lr": lr,
        **variant.model_dump(),
        "s1": cfg.model_dump(exclude={"variants"}),
        "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
    }
    fingerprint = digest(config)
    device = resolve_device(params.device)
    checkpoint_dir = CHECKPOINTS / SECTION / name
    seeds = params.seeds[:1] if dry_run else params.seeds

    runs, histories = [], []
    for seed in seeds:
        seed_everything(seed)
        model = build_model(cfg, variant, manifest).to(device)
        optimizer = make_optimizer(model, cfg, lr)
        with Run(
            project=PROJECT,
            group=SECTION,
            name=f"{SECTION}/{name}/seed{seed}",
            config={**config, "seed": seed},
            tags=[SECTION, params.profile, name],
            job_type=name,
            enabled=not dry_run,
        ) as tracker:
            started = time.perf_counter()
            result = fit(
                model,
                optimizer,
                splits["train"],
                splits["val"],
                epochs=1 if dry_run else cfg.train.epochs,
                batch_size=cfg.train.batch_size,
                patience=cfg.train.patience,
                seed=seed,
                augment=augment,
                checkpoint=None if dry_run else checkpoint_dir / f"seed{seed}.pt",
                fingerprint=fingerprint,
                desc=f"{SECTION}/{name}/seed{seed}",
                on_epoch=tracker.log,
                max_batches=2 if dry_run else None,
            )
            model.load_state_dict(result.best_state)
            test = evaluate(model, splits["test"], nn.CrossEntropyLoss())
            best = result.history[result.best_epoch - 1]
            run = {
                "seed": seed,
                "best_val_acc": best["val_acc"],
                "test_acc": test["acc"],
                "test_loss": test["loss"],
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
                "train_val_gap": best["train_acc"] - best["val_acc"],
                "seconds": round(time.perf_counter() - started, 2),
            }
            tracker.summary(run)
        runs.append(run)
        histories.append(pd.DataFrame(result.history).assign(seed=seed))
        print(
            f"{SECTION}/{name} seed {seed}: best val acc {run['best_val_acc']:.4f} "
            f"(epoch {run['best_epoch']}), test acc {run['test_acc']:.4f}"
        )
    if dry_run:
        print(f"dry run of {SECTION}/{name} passed: params valid, data loaded, a step trained")
        return None

    out = RESULTS_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    per_seed = pd.concat(histories)[["seed", *HISTORY_COLUMNS]]
    per_seed.round(6).to_csv(out / "history_seeds.csv", index=False)
    # One curve per variant for `dvc plots`: the mean over the seeds still running at each epoch.
    per_seed.groupby("epoch")[HISTORY_COLUMNS[1:]].mean().round(6).to_csv(out / "history.csv")
    metrics = write_run_results(out, runs, METRICS, variant=name, lr=lr)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return metrics


def lr_sweep(cfg: S1Config) -> dict[str, float]:
    """Variants that differ from the baseline only in learning rate, plus the baseline."""
    sweep = {"baseline": cfg.train.lr}
    for name, variant in cfg.variants.items():
        only_lr = variant.model_dump(exclude={"lr"}) == S1Variant().model_dump(exclude={"lr"})
        if variant.lr is not None and only_lr:
            sweep[name] = variant.lr
    return dict(sorted(sweep.items(), key=lambda item: item[1]))


def make_figures(params: Params) -> list[Path]:
    """Figure 1 (validation loss per learning rate) and one curve figure per technique."""
    cfg = params.s1
    histories = {
        name: pd.read_csv(RESULTS_DIR / name / "history_seeds.csv") for name in cfg.variants
    }
    sweep = lr_sweep(cfg)
    paths = []

    fig, axes = subplots(2)
    for name, lr in sweep.items():
        for ax, column in zip(axes, ["train_loss", "val_loss"], strict=True):
            plot_mean_band(ax, histories[name], column, label=f"lr = {lr:g}")
    for ax, title in zip(axes, ["training loss", "validation loss"], strict=True):
        ax.set(xlabel="epoch", ylabel="cross-entropy", title=title)
    axes[1].legend()
    paths.append(FIGURES_DIR / "lr_sweep.png")
    save_figure(fig, paths[-1])

    for name in cfg.variants:
        if name != "baseline" and name in sweep:
            continue
        fig, axes = subplots(2)
        for ax, metric in zip(axes, ["loss", "acc"], strict=True):
            plot_mean_band(ax, histories[name], f"train_{metric}", label="train")
            plot_mean_band(ax, histories[name], f"val_{metric}", label="validation")
            ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "cross-entropy")
        axes[1].legend()
        fig.suptitle(f"{name} (mean ± std over {len(params.seeds)} seeds)")
        paths.append(FIGURES_DIR / f"curves_{name}.png")
        save_figure(fig, paths[-1])
    log_figures(SECTION, params.profile, paths)
    return paths
