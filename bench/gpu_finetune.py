"""GPU fast path: seconds per epoch of VGG-16 and ResNet-50 fine-tuning, Tiny-ImageNet-shaped.

The report's A100 figures (Table 2): VGG-16 fine-tuning 19.05 s/epoch, ResNet-50 18.8 s/epoch
on Tiny-ImageNet (100,000 training images, 64x64, 200 classes). Target (issue 9): at most a
quarter of those on one H100. Real data cannot be fetched on the device machine, so the set is
synthetic with the same shape, created on the GPU (a step's cost does not depend on pixel
values). Full-width torchvision networks with the report's dense head (1025, 512), every layer
trainable, trained by the stages' own loop (`training.loop.fit`) with the GPU fast path: bf16
autocast, channels_last, torch.compile, cuDNN autotuning, data resident on the GPU.
Epoch 1 pays for compilation and autotuning; the reported figure is the median of the rest.

Each (batch size, arch) is measured twice on the same compiled model: through `fit` (with its
metrics, NaN check and validation pass) and through a bare loop of the same steps, whose ratio is
the loop's overhead on a GPU. Batch 256 comes first (the headline figure); 32 is the paper
profile's own (`s2.train.batch_size`, Keras's default), where per-step host work weighs most.

    python bench/gpu_finetune.py                 # on a GPU: about 12 minutes on an H200,
                                                 # most of it compiling (--batches 256: ~5)
    python bench/gpu_finetune.py --no-compile    # the paper profile's setting (compile lost)
    python bench/gpu_finetune.py --dry-run       # seconds, on the CPU: the same code, tiny

Writes bench/results/gpu_finetune.json (with the GPU's name) after every row, so a run cut short
keeps what it measured, and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import write_result
from torch import nn

from dlrepro.config import ComputeConfig, TrainConfig
from dlrepro.data.prepare import TensorSplit
from dlrepro.models.transfer import build_base, dense_head
from dlrepro.training import compute
from dlrepro.training.loop import batches, fit, make_optimizer

REPORT_SECONDS = {"vgg16": 19.05, "resnet50": 18.8}  # A100, report Table 2
CLASSES, SIDE = 200, 64


def synthetic(n: int, device: torch.device, seed: int) -> TensorSplit:
    generator = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(n, 3, SIDE, SIDE, generator=generator, device=device)
    return TensorSplit(x, torch.randint(0, CLASSES, (n,), generator=generator, device=device))


def finetune_net(arch: str) -> nn.Module:
    """Full-width `arch` with the report's dense head, every layer trainable."""
    base, features = build_base(arch, 1.0, SIDE)
    return nn.Sequential(base, dense_head(features, [1025, 512], CLASSES))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_seconds(
    model: nn.Module, optimizer: torch.optim.Optimizer, train: TensorSplit, batch: int, epochs: int
) -> list[float]:
    """Seconds per epoch of the same steps with nothing around them (no metrics, checks or
    validation): what `fit`'s overhead is measured against."""
    device = next(model.parameters()).device
    times = []
    for epoch in range(epochs):
        model.train()
        synchronize(device)
        started = time.perf_counter()
        for x, y in batches(train, batch, torch.Generator().manual_seed(epoch)):
            with compute.autocast():
                loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return times


def measure(arch: str, batch: int, args: argparse.Namespace, device: torch.device) -> dict:
    # A fresh compiler cache per row, as each DVC stage is a fresh process; it also keeps the
    # rows' recompilations from running into dynamo's per-function recompile limit.
    torch.compiler.reset()
    torch.manual_seed(0)
    model = compute.prepare_model(finetune_net(arch).to(device))
    optimizer = make_optimizer(
        model,
        TrainConfig(epochs=args.epochs, batch_size=batch, lr=1e-3, optimizer="adam", patience=99),
    )
    train = synthetic(args.images, device, 0)
    result = fit(
        model,
        optimizer,
        train,
        synthetic(max(batch, args.images // 100), device, 1),
        epochs=args.epochs,
        batch_size=batch,
        patience=args.epochs + 1,
        seed=0,
        monitor="val_loss",
        desc=f"{arch} batch {batch}",
    )
    ours = [row["train_seconds"] for row in result.history]
    bare = bare_seconds(model, optimizer, train, batch, args.bare_epochs)
    steady, bare_steady = statistics.median(ours[1:]), statistics.median(bare)
    return {
        "arch": arch,
        "batch_size": batch,
        "seconds_per_epoch": round(steady, 2),
        "images_per_second": round(args.images / steady),
        "all_epochs": ours,
        "bare_loop_seconds_per_epoch": round(bare_steady, 2),
        "loop_overhead": round(steady / bare_steady - 1, 3),
        "report_a100": REPORT_SECONDS[arch],
        "fraction_of_report": round(steady / REPORT_SECONDS[arch], 3),
        "target_met": steady <= REPORT_SECONDS[arch] / 4,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 32])
    parser.add_argument("--epochs", type=int, default=3, help="through fit; the first is warm-up")
    parser.add_argument("--bare-epochs", type=int, default=2)
    parser.add_argument("--archs", nargs="+", default=list(REPORT_SECONDS))
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="CPU, 64 images, tiny batches")
    args = parser.parse_args()
    if args.dry_run:
        args.images, args.batches, args.epochs, args.bare_epochs = 64, [32, 16], 2, 1
    device = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    if device.type != "cuda" and not args.dry_run:
        raise SystemExit("no GPU visible: this benchmark needs one (or --dry-run on the CPU)")
    compute.configure(
        ComputeConfig(autocast="bf16", compile=not args.no_compile and not args.dry_run), device
    )
    name = "gpu_finetune" + ("_eager" if args.no_compile else "")
    rows = []
    print(f"{'arch':<10}{'batch':>6}{'s/epoch':>9}{'bare':>7}{'overhead':>10}{'of A100':>9}")
    for batch in args.batches:
        for arch in args.archs:
            row = measure(arch, batch, args, device)
            rows.append(row)
            if not args.dry_run:
                write_result(name, {"settings": vars(args), "results": rows})
            print(
                f"{arch:<10}{batch:>6}{row['seconds_per_epoch']:>9}"
                f"{row['bare_loop_seconds_per_epoch']:>7}{row['loop_overhead']:>10.1%}"
                f"{row['fraction_of_report']:>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
