"""CPU fast path: which `compute` switches make a training step faster on this machine.

Median seconds per training step (forward, loss, backward, Adam step) of the conv models the
stages train, batch 64, under each setting the `compute` params offer: float32 in the default
layout, channels_last (NHWC weights and batches), bf16 autocast, and, with --compile,
torch.compile. Each setting goes through training/compute.py, the code the stages run. Only
what wins here is on by default (params.yaml `compute`).

    python bench/fast_path.py [--steps 15] [--compile]

Writes bench/results/fast_path.json and prints a table (speed-up over the default layout).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import write_result
from loop_overhead import section1_cnn, section4_autoencoder
from torch import nn

from dlrepro.config import ComputeConfig
from dlrepro.models.gan import UNet
from dlrepro.models.transfer import build_base
from dlrepro.training import compute

BATCH = 64


def _classifier(arch: str) -> nn.Module:
    base, features = build_base(arch, 0.25, 32)
    return nn.Sequential(base, nn.Linear(features, 10))


MODELS = {  # name: (model, input shape, target)
    "s1_cnn": (section1_cnn, (1, 28, 28), "class"),
    "s2_vgg16_w0.25": (lambda: _classifier("vgg16"), (3, 32, 32), "class"),
    "s2_resnet50_w0.25": (lambda: _classifier("resnet50"), (3, 32, 32), "class"),
    "s4_cnn_autoencoder": (section4_autoencoder, (1, 32, 32), "self"),
    "s5_unet": (lambda: UNet(1, 2, 16, 3), (1, 32, 32), "ab"),
}
SETTINGS = {
    "float32": ComputeConfig(channels_last=False),
    "channels_last": ComputeConfig(channels_last=True),
    "bf16_autocast": ComputeConfig(channels_last=False, autocast="bf16"),
    "compile": ComputeConfig(channels_last=True, compile=True),
}


def step_seconds(name: str, cfg: ComputeConfig, steps: int) -> float:
    build, shape, target = MODELS[name]
    torch.manual_seed(0)
    device = torch.device("cpu")
    # The stages apply bf16 on GPUs only; this row measures it on the CPU explicitly (below).
    compute.configure(cfg.model_copy(update={"autocast": "none"}), device)
    model = compute.prepare_model(build())
    optimizer = torch.optim.Adam(model.parameters())
    x = compute.layout(torch.randn(BATCH, *shape))
    y = {
        "class": torch.randint(0, 10, (BATCH,)),
        "self": x,
        "ab": torch.randn(BATCH, 2, *shape[1:]),
    }[target]
    loss_fn = nn.CrossEntropyLoss() if target == "class" else nn.MSELoss()
    dtype = torch.bfloat16 if cfg.autocast == "bf16" else torch.float32
    times = []
    for step in range(steps + 3):  # three warm-up steps (and compilation) not counted
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype == torch.bfloat16):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 3:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    settings = [s for s in SETTINGS if args.compile or s != "compile"]
    rows = []
    for name in MODELS:
        seconds = {s: step_seconds(name, SETTINGS[s], args.steps) for s in settings}
        rows.append(
            {
                "model": name,
                "ms_per_step": {s: round(t * 1000, 2) for s, t in seconds.items()},
                "speedup": {s: round(seconds["float32"] / t, 2) for s, t in seconds.items()},
            }
        )
    write_result(
        "fast_path",
        {"settings": {"batch": BATCH, **vars(args)}, "results": rows},
    )
    print(f"{'model':<20}" + "".join(f"{s + ' ms':>22}" for s in settings))
    for row in rows:
        cells = [f"{row['ms_per_step'][s]:.1f} ({row['speedup'][s]:.2f}x)" for s in settings]
        print(f"{row['model']:<20}" + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
