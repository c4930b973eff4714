"""Section 1, Network Training: augmentation, dropout, BN, zero init and learning rate.

Reproduces Table 1 (best validation accuracy per technique) and Figures 1 and 10-16 (loss and
accuracy curves) of the report. Every variant is the same small CNN and loop with one technique
switched on; each runs once per seed in `seeds`, and results are mean +- std over seeds.

Cost: per stage in bench/results/pipeline.json (2-core CPU, embedded profile: a Fashion-MNIST
subset, 3 seeds). The paper profile is CIFAR-10 at full size and wants a GPU.

    dlrepro s1 train --variant baseline [--dry-run]   one row of Table 1 (a DVC foreach stage)
    dlrepro s1 figures                                Figures 1 and 10-16 from the histories
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from torch import nn

from dlrepro.config import Params, S1Config, S1Variant, named
from dlrepro.data.prepare import TensorSplit, load_prepared, prepare_images
from dlrepro.models.cnn import SmallCNN, zero_init_
from dlrepro.paths import PAPER, PREPARED, RESULTS
from dlrepro.results import (
    LOSS_RANGE,
    learning_curves,
    plot_mean_band,
    save_figure,
    spread_label,
    subplots,
)
from dlrepro.tracking import log_figures
from dlrepro.training.augment import random_affine
from dlrepro.training.loop import FitResult, evaluate
from dlrepro.training.seeds import Condition, Measured, dry_run_data, run_condition

SECTION = "s1"
DATA_DIR = PREPARED / SECTION
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION
METRICS = [
    "best_val_acc",
    "test_acc",
    "test_loss",
    "best_epoch",
    "epochs",
    "train_val_gap",
    "final_train_val_gap",
]


def datasets(params: Params) -> list[str]:
    """Raw datasets this section's stages read (what `dlrepro fetch` gets)."""
    return [params.s1.dataset]


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


def condition(params: Params, name: str) -> tuple[Condition, dict[str, TensorSplit]]:
    """Variant `name` as a trainable condition, with its data."""
    cfg = params.s1
    variant = named(cfg.variants, name, "s1.variants")
    train = cfg.variant_train(name)
    splits, manifest = load_prepared(DATA_DIR)
    config = {
        "profile": params.profile,
        "variant": name,
        "lr": train.lr,
        # A variant without `train:` keys records what it did before they existed.
        **variant.model_dump(exclude={"train"} if variant.train is None else None),
        "s1": cfg.model_dump(exclude={"variants"}),
        "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
    }
    return Condition(
        section=SECTION,
        name=name,
        profile=params.profile,
        config=config,
        build=lambda _: build_model(cfg, variant, manifest),
        train=train,
        augment=None if variant.augment == "none" else random_affine(cfg.augment[variant.augment]),
    ), splits


def train_variant(
    params: Params, name: str, *, dry_run: bool = False, output_name: str | None = None
) -> dict | None:
    """Train variant `name` once per seed; write metrics.json (mean and std over seeds),
    runs.csv (one row per seed) and the histories under results/s1/<output_name or name>/."""
    run, splits = condition(params, name)
    run.name = output_name or name
    if dry_run:
        splits = dry_run_data(splits, run.train.batch_size)

    def measure(model: nn.Module, result: FitResult) -> Measured:
        test = evaluate(model, splits["test"], nn.CrossEntropyLoss())
        best, last = result.history[result.best_epoch - 1], result.history[-1]
        return Measured(
            {
                "best_val_acc": best["val_acc"],
                "test_acc": test["acc"],
                "test_loss": test["loss"],
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
                "train_val_gap": best["train_acc"] - best["val_acc"],
                # at the last epoch trained: how far the run overfitted before it stopped
                "final_train_val_gap": last["train_acc"] - last["val_acc"],
            }
        )

    summary, _ = run_condition(
        run,
        splits,
        params,
        measure=measure,
        metrics=METRICS,
        dry_run=dry_run,
        variant=name,
        lr=run.train.lr,
    )
    return summary


def lr_sweep(cfg: S1Config) -> dict[str, float]:
    """Variants that differ from the baseline only in learning rate, plus the baseline."""
    sweep = {"baseline": cfg.train.lr}
    for name, variant in cfg.variants.items():
        only_lr = variant.model_dump(exclude={"lr"}) == S1Variant().model_dump(exclude={"lr"})
        if variant.lr is not None and only_lr:
            sweep[name] = variant.lr
    return dict(sorted(sweep.items(), key=lambda item: item[1]))


def variant_title(variant: S1Variant, cfg: S1Config) -> str:
    """A technique as a figure names it, from what it switches on: "batch normalisation +
    dropout 0.3"; the baseline for none."""
    parts = [f"{variant.augment} augmentation"] if variant.augment != "none" else []
    parts += ["batch normalisation"] if variant.batch_norm else []
    parts += [f"dropout {cfg.dropout:g}"] if variant.dropout else []
    parts += ["zero initialisation"] if variant.init == "zeros" else []
    parts += [f"learning rate {variant.lr:g}"] if variant.lr is not None else []
    parts += [f"{key} {value}" for key, value in (variant.train or {}).items()]
    return " + ".join(parts) or "baseline"


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
            plot_mean_band(ax, histories[name], column, f"lr = {lr:g}", limits=LOSS_RANGE)
    for ax, title in zip(axes, ["training loss", "validation loss"], strict=True):
        ax.set(xlabel="epoch", ylabel="cross-entropy", title=title)
    axes[1].legend()
    paths.append(FIGURES_DIR / "lr_sweep.png")
    save_figure(fig, paths[-1])

    for name in cfg.variants:
        if name != "baseline" and name in sweep:
            continue
        title = variant_title(cfg.variants[name], cfg)
        # the seeds the history holds, which the curves draw (params may name more than ran)
        seeds = histories[name]["seed"].nunique()
        fig = learning_curves(histories[name], f"{title} ({spread_label(seeds)})")
        paths.append(FIGURES_DIR / f"curves_{name}.png")
        save_figure(fig, paths[-1])
    log_figures(SECTION, params.profile, paths)
    return paths
