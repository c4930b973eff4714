"""GPU fast path: seconds per epoch of VGG-16 and ResNet-50 fine-tuning, Tiny-ImageNet-shaped.

The report's A100 figures (Table 2): VGG-16 fine-tuning 19.05 s/epoch, ResNet-50 18.8 s/epoch
on Tiny-ImageNet (100,000 training images, 64x64, 200 classes). Target (issue 9): at most a
quarter of those on one H100. Real data cannot be fetched on the device machine, so the set is
synthetic with the same shape, created on the GPU (a step's cost does not depend on pixel
values). Full-width torchvision networks with the report's dense head (1025, 512), every layer
trainable, trained by the stages' own loop (`training.loop.fit`) with the paper profile's fast
path: bf16 autocast, channels_last, torch.compile, cuDNN autotuning, data resident on the GPU.
Epoch 1 pays for compilation and autotuning; the reported figure is the median of the rest.

    python bench/gpu_finetune.py                 # on a GPU: about 5 minutes on one H100
    python bench/gpu_finetune.py --dry-run       # seconds, on the CPU: the same code, tiny

Writes bench/results/gpu_finetune.json (with the GPU's name) and prints a table.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from common import write_result
from torch import nn

from dlrepro.config import ComputeConfig, TrainConfig
from dlrepro.data.prepare import TensorSplit
from dlrepro.models.transfer import build_base, dense_head
from dlrepro.training import compute
from dlrepro.training.loop import fit, make_optimizer

REPORT_SECONDS = {"vgg16": 19.05, "resnet50": 18.8}  # A100, report Table 2
CLASSES, SIDE = 200, 64


def synthetic(n: int, device: torch.device, seed: int) -> TensorSplit:
    generator = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(n, 3, SIDE, SIDE, generator=generator, device=device)
    return TensorSplit(x, torch.randint(0, CLASSES, (n,), generator=generator, device=device))


def seconds_per_epoch(arch: str, args: argparse.Namespace, device: torch.device) -> list[float]:
    torch.manual_seed(0)
    base, features = build_base(arch, 1.0, SIDE)
    model = compute.prepare_model(
        nn.Sequential(base, dense_head(features, [1025, 512], CLASSES)).to(device)
    )
    train = TrainConfig(
        epochs=args.epochs, batch_size=args.batch, lr=1e-3, optimizer="adam", patience=99
    )
    result = fit(
        model,
        make_optimizer(model, train),
        synthetic(args.images, device, 0),
        synthetic(max(args.batch, args.images // 100), device, 1),
        epochs=args.epochs,
        batch_size=args.batch,
        patience=args.epochs + 1,
        seed=0,
        monitor="val_loss",
        desc=arch,
    )
    return [row["train_seconds"] for row in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--archs", nargs="+", default=list(REPORT_SECONDS))
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="CPU, 64 images, 2 epochs")
    args = parser.parse_args()
    if args.dry_run:
        args.images, args.batch, args.epochs = 64, 32, 2
    device = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    if device.type != "cuda" and not args.dry_run:
        raise SystemExit("no GPU visible: this benchmark needs one (or --dry-run on the CPU)")
    compute.configure(
        ComputeConfig(autocast="bf16", compile=not args.no_compile and not args.dry_run), device
    )
    rows = []
    for arch in args.archs:
        epochs = seconds_per_epoch(arch, args, device)
        steady = statistics.median(epochs[1:])
        rows.append(
            {
                "arch": arch,
                "seconds_per_epoch": round(steady, 2),
                "all_epochs": epochs,
                "report_a100": REPORT_SECONDS[arch],
                "fraction_of_report": round(steady / REPORT_SECONDS[arch], 3),
                "target_met": steady <= REPORT_SECONDS[arch] / 4,
            }
        )
    if not args.dry_run:
        write_result("gpu_finetune", {"settings": vars(args), "results": rows})
    print(f"{'arch':<10}{'s/epoch':>9}{'report A100':>13}{'fraction':>10}")
    for r in rows:
        print(
            f"{r['arch']:<10}{r['seconds_per_epoch']:>9}{r['report_a100']:>13}"
            f"{r['fraction_of_report']:>10}"
        )


if __name__ == "__main__":
    main()
