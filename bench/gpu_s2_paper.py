"""Section 2 at the paper profile's scale on a GPU: seconds per Tiny-ImageNet epoch of each of
Table 2's regimes at the report's batch size (32), eager vs whole-step CUDA graphs
(`compute.cuda_graphs`), float32 vs bf16 autocast; and an estimate of the section's GPU hours.

The report's A100 figures (Table 2): VGG-16 scratch 147.51 s/epoch, transfer 8.01, fine-tune
19.05, ResNet-50 fine-tune 18.8. Goal (issue 22): a quarter of those at batch 32. Real data
cannot be fetched on the device machine, so the images are synthetic with Tiny-ImageNet's
shape (64x64, 200 classes; a step's cost does not depend on pixel values). The models are the
stage's own (`s2_cnn_regimes.build_model` with the paper profile's params: full-width
torchvision networks, the report's dense head, the transfer regime's frozen base), trained by
the stage's loop (`training.loop.fit`) under the paper profile's `compute` settings. ImageNet
weights are not loaded (random bases cost the same per step).

An epoch is 100,000 images (the report's train split: 3,125 steps); each mode trains one
untimed epoch of `--steps` steps (warm-up, cuDNN's choices, the graph's capture), then a timed
one, scaled to 3,125 steps. Evaluation of 10,000 validation images is timed apart.
`--check-steps` trains both ways from the same seed and compares the weights: a graph must
compute what the eager loop computes.

    python bench/gpu_s2_paper.py             # on a GPU: about 4 minutes on an H200
    python bench/gpu_s2_paper.py --dry-run   # seconds, on the CPU: the same code, tiny

Writes bench/results/gpu_s2_paper.json after every row and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml
from common import write_result
from torch import nn

from dlrepro.config import Params, validate
from dlrepro.data.prepare import TensorSplit
from dlrepro.experiments.s2_cnn_regimes import build_model
from dlrepro.training import compute
from dlrepro.training.loop import evaluate, fit, make_optimizer

REPORT_SECONDS = {  # A100, report Table 2
    "vgg16_scratch": 147.51,
    "vgg16_transfer": 8.01,
    "vgg16_finetune": 19.05,
    "resnet50_finetune": 18.8,
}
CLASSES, SIDE, EPOCH_IMAGES, VAL_IMAGES = 200, 64, 100_000, 10_000
MODES = {  # name: (cuda_graphs, autocast)
    "eager_fp32": (False, "none"),
    "eager_bf16": (False, "bf16"),
    "graphs_fp32": (True, "none"),
    "graphs_bf16": (True, "bf16"),
}
REPORT_EPOCHS = {"vgg16_scratch": 5, "vgg16_transfer": 13, "vgg16_finetune": 13}
"""Where the report's runs stopped (Section 2's text); ResNet-50's is not given."""


def paper_params() -> Params:
    raw = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    return validate(raw | {"profile": "paper"})


def synthetic(n: int, device: torch.device, seed: int) -> TensorSplit:
    generator = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(n, 3, SIDE, SIDE, generator=generator, device=device)
    return TensorSplit(x, torch.randint(0, CLASSES, (n,), generator=generator, device=device))


MANIFEST = {
    "normalisation": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
    "classes": list(range(CLASSES)),
}


def trained(params: Params, regime: str, mode: str, device: torch.device, **fit_args) -> tuple:
    """(model, fit result) of `regime` trained under `mode` from seed 0."""
    graphs, autocast = MODES[mode]
    compute.configure(
        params.compute.model_copy(update={"cuda_graphs": graphs, "autocast": autocast}), device
    )
    cfg = params.s2
    spec = cfg.regimes[regime]
    torch.manual_seed(0)
    model = build_model(cfg, spec.arch, MANIFEST, None, spec.trainable == "head", spec)
    model = compute.prepare_model(model.to(device))
    optimizer = make_optimizer(model, cfg.train)
    result = fit(model, optimizer, seed=0, monitor="val_loss", desc=f"{regime} {mode}", **fit_args)
    return model, result


def two_epochs(params: Params, regime: str, mode: str, train: TensorSplit) -> tuple:
    """`regime` trained for two epochs of `train` on the GPU at the paper profile's batch size
    (a one-batch validation set: evaluation is timed apart)."""
    batch = params.s2.train.batch_size
    val = synthetic(batch, train.x.device, 2)
    kwargs = {"train": train, "val": val, "epochs": 2, "batch_size": batch, "patience": 3}
    return trained(params, regime, mode, train.x.device, **kwargs)


def measure(params: Params, regime: str, mode: str, args: argparse.Namespace) -> dict:
    device = torch.device("cuda")
    batch = params.s2.train.batch_size
    train = synthetic(args.steps * batch, device, 0)
    val = synthetic(VAL_IMAGES, device, 1)
    model, result = two_epochs(params, regime, mode, train)
    steps_per_epoch = EPOCH_IMAGES // batch
    epoch_s = result.history[1]["train_seconds"] * steps_per_epoch / args.steps
    torch.cuda.synchronize()
    started = time.perf_counter()
    evaluate(model, val, nn.CrossEntropyLoss())
    eval_s = time.perf_counter() - started
    return {
        "regime": regime,
        "mode": mode,
        "batch_size": batch,
        "ms_per_step": round(1000 * epoch_s / steps_per_epoch, 3),
        "seconds_per_epoch": round(epoch_s, 2),
        "eval_seconds_per_10k": round(eval_s, 2),
        "report_a100": REPORT_SECONDS[regime],
        "fraction_of_report": round(epoch_s / REPORT_SECONDS[regime], 3),
        "quarter_met": epoch_s <= REPORT_SECONDS[regime] / 4,
    }


def same_weights(params: Params, regime: str, args: argparse.Namespace) -> dict:
    """Eager and graphed training from one seed (fp32), against the control of two eager runs:
    kernels without a deterministic implementation (the warning in backward) make even eager
    runs differ slightly, and Adam's first steps, near lr * sign(gradient), magnify that. A graph
    that computes what the eager loop computes ends as close to it as a second eager run does."""
    device = torch.device("cuda")
    batch = params.s2.train.batch_size
    # One short last batch, so the eager fallback inside a graphed epoch is exercised too.
    train = synthetic(args.check_steps * batch + batch // 2, device, 0)
    weights, losses = [], []
    for mode in ("eager_fp32", "eager_fp32", "graphs_fp32"):
        model, result = two_epochs(params, regime, mode, train)
        weights.append(torch.cat([p.detach().float().flatten() for p in model.parameters()]))
        losses.append([round(row["train_loss"], 6) for row in result.history])

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(f"{((a - b).norm() / a.norm()).item():.3g}")

    return {
        "regime": regime,
        "steps": 2 * (args.check_steps + 1),
        "eager_vs_eager_relative_l2": relative(weights[0], weights[1]),
        "eager_vs_graphs_relative_l2": relative(weights[0], weights[2]),
        "train_loss_per_epoch": dict(zip(["eager", "eager_again", "graphs"], losses, strict=True)),
    }


def gpu_hours(rows: list[dict], params: Params) -> dict:
    """Section 2's training time at the paper profile: every measured regime and seed, at the
    fastest measured mode; epochs at the cap (an upper bound) and where the report's runs
    stopped plus the patience (typical). Tuning and the interleaved timing stage are left out."""
    cfg, seeds = params.s2, len(params.seeds)
    train_images = EPOCH_IMAGES * (1 - cfg.target.val_fraction)
    upper = typical = 0.0
    for regime in dict.fromkeys(row["regime"] for row in rows):
        best = min((r for r in rows if r["regime"] == regime), key=lambda r: r["seconds_per_epoch"])
        epoch = best["seconds_per_epoch"] * train_images / EPOCH_IMAGES + best[
            "eval_seconds_per_10k"
        ] * (1 + EPOCH_IMAGES * cfg.target.val_fraction / VAL_IMAGES)
        upper += seeds * cfg.train.epochs * epoch
        stop = min(
            cfg.train.epochs, REPORT_EPOCHS.get(regime, cfg.train.epochs) + cfg.train.patience
        )
        typical += seeds * stop * epoch
    return {"upper_bound_hours": round(upper / 3600, 2), "typical_hours": round(typical / 3600, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="timed steps per epoch")
    parser.add_argument("--check-steps", type=int, default=30)
    parser.add_argument("--regimes", nargs="+", default=list(REPORT_SECONDS))
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--nondeterministic", action="store_true", help="cuDNN autotuning on")
    parser.add_argument("--check-only", action="store_true", help="the weights check alone")
    parser.add_argument("--dry-run", action="store_true", help="CPU: build and step each regime")
    args = parser.parse_args()
    params = paper_params()
    if args.dry_run:
        dry_run(params, args)
        return
    if not torch.cuda.is_available():
        raise SystemExit("no GPU visible: this benchmark needs one (or --dry-run on the CPU)")
    name = "gpu_s2_paper"
    if args.nondeterministic:  # what the paper profile's gpu_deterministic costs
        params = params.model_copy(
            update={"compute": params.compute.model_copy(update={"gpu_deterministic": False})}
        )
        name += "_nondeterministic"
    settings = vars(args) | {"epoch_images": EPOCH_IMAGES}
    result: dict = {"settings": settings, "results": [], "same_weights": []}
    for regime in [] if args.check_only else args.regimes:
        for mode in args.modes:
            row = measure(params, regime, mode, args)
            result["results"].append(row)
            print(row, flush=True)
            write_result(name, result)
    for regime in [] if args.nondeterministic else ["vgg16_finetune", "resnet50_finetune"]:
        check = same_weights(params, regime, args)
        result["same_weights"].append(check)
        print(check, flush=True)
        write_result(name, result)
    if not args.check_only:
        result["section2_gpu_hours"] = gpu_hours(result["results"], params)
        write_result(name, result)
        print(result["section2_gpu_hours"])


def dry_run(params: Params, args: argparse.Namespace) -> None:
    """Every regime built and trained for two tiny steps on the CPU (graphs are GPU-only, so
    the CPU takes the eager path): proves the script and the stage code fit together."""
    device = torch.device("cpu")
    # torch loaded before the CPU contract could be applied; a dry run's bytes don't matter.
    native = params.compute.model_copy(update={"cpu_isa": "native"})
    params = params.model_copy(update={"compute": native})
    for regime in args.regimes:
        _, result = trained(
            params,
            regime,
            "eager_fp32",
            device,
            train=synthetic(4, device, 0),
            val=synthetic(2, device, 1),
            epochs=1,
            batch_size=2,
            patience=1,
        )
        print(regime, result.history[0])


if __name__ == "__main__":
    main()
