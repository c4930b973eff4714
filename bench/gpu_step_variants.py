"""Why a fine-tuning step costs what it does on a GPU: milliseconds per training step of VGG-16
and ResNet-50 (64x64, 200 classes, Adam) in eager mode for each mix of the fast-path switches
that need no compilation (bf16 autocast, channels_last), at the headline batch (256) and the
paper profile's (32). A companion to gpu_finetune.py, whose compiled runs take minutes to build:
this one runs in about a minute, so it fits what is left of a lease.

    python bench/gpu_step_variants.py            # on a GPU
    python bench/gpu_step_variants.py --dry-run  # seconds, on the CPU

Writes bench/results/gpu_step_variants.json and prints a table (s/epoch = ms/step x steps of a
100,000-image epoch).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch
from common import write_result
from gpu_finetune import CLASSES, SIDE, finetune_net
from torch import nn

IMAGES = 100_000  # gpu_finetune's epoch


def step_ms(
    arch: str,
    batch: int,
    bf16: bool,
    channels_last: bool,
    args: argparse.Namespace,
    device: torch.device,
) -> float:
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = finetune_net(arch).to(device, memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, SIDE, SIDE, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, CLASSES, (batch,), device=device)
    times = []
    for step in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dry-run", action="store_true", help="CPU, 2 steps, batches 4 and 2")
    args = parser.parse_args()
    batch_sizes = [256, 32]
    if args.dry_run:
        args.warmup, args.steps, batch_sizes = 1, 2, [4, 2]
    device = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    if device.type != "cuda" and not args.dry_run:
        raise SystemExit("no GPU visible: this benchmark needs one (or --dry-run on the CPU)")
    torch.backends.cudnn.benchmark = True
    rows = []
    print(f"{'arch':<10}{'batch':>6}{'bf16':>6}{'ch_last':>8}{'ms/step':>9}{'s/epoch':>9}")
    for batch, arch, bf16, channels_last in itertools.product(
        batch_sizes, ["resnet50", "vgg16"], [True, False], [True, False]
    ):
        ms = step_ms(arch, batch, bf16, channels_last, args, device)
        row = {
            "arch": arch,
            "batch_size": batch,
            "bf16": bf16,
            "channels_last": channels_last,
            "ms_per_step": round(ms, 2),
            "seconds_per_epoch": round(ms / 1000 * -(-IMAGES // batch), 2),
        }
        rows.append(row)
        if not args.dry_run:
            write_result("gpu_step_variants", {"settings": vars(args), "results": rows})
        print(
            f"{arch:<10}{batch:>6}{bf16!s:>6}{channels_last!s:>8}{row['ms_per_step']:>9}"
            f"{row['seconds_per_epoch']:>9}",
            flush=True,
        )


if __name__ == "__main__":
    main()
