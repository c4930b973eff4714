"""Data path: samples/s of each prepared dataset's loader against its model's training step.

The stages keep prepared datasets as tensors in memory (they are small by construction: the
largest embedded one is 3,600 images) and cut shuffled batches from them (`training.loop.batches`,
with the `compute` layout); on a GPU, `train_over_seeds` moves them to the device once. This
measures one epoch of batches against the training step of the model each section trains on
that data, so the loader is shown never to be the bottleneck (target: loader >= 10x the model).

    python bench/data_path.py          # after `dvc repro` has prepared the data

Writes bench/results/data_path.json and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import write_result
from loop_overhead import section1_cnn, section2_vgg, section4_autoencoder
from torch import nn

from dlrepro.data.prepare import TensorSplit, load_prepared
from dlrepro.models.gan import UNet
from dlrepro.models.rnn import LSTMClassifier
from dlrepro.training.loop import batches

BATCH = 64


def _classify(model: nn.Module):
    loss = nn.CrossEntropyLoss()
    return model, lambda x, y: loss(model(x), y)


def _reconstruct(model: nn.Module):
    return model, lambda x, y: nn.functional.mse_loss(model(x), x)


def _colourise(model: nn.Module):
    # The stage feeds L and predicts ab; the first channel stands in for L here.
    return model, lambda x, y: nn.functional.l1_loss(model(x[:, :1]), x[:, 1:])


DATASETS = {  # name: (prepared folder, model and loss of the section that trains on it)
    "s1_fashion_mnist": ("data/prepared/s1", lambda: _classify(section1_cnn())),
    "s2_target": ("data/prepared/s2/target", lambda: _classify(section2_vgg())),
    "s3_sentiment": (
        "data/prepared/s3/sentiment",
        lambda: _classify(LSTMClassifier(10_000, 50, 64)),
    ),
    "s4_digits": ("data/prepared/s4", lambda: _reconstruct(section4_autoencoder())),
    "s5_colour_patches": ("data/prepared/s5/colour", lambda: _colourise(UNet(1, 2, 16, 3))),
}


def loader_rate(train: TensorSplit, epochs: int = 3) -> float:
    """Samples/s over `epochs` epochs of shuffled batches, after one untimed epoch."""
    for epoch in range(epochs + 1):
        if epoch == 1:
            started = time.perf_counter()
        for _ in batches(train, BATCH, torch.Generator().manual_seed(epoch)):
            pass
    return epochs * len(train) / (time.perf_counter() - started)


def model_rate(train: TensorSplit, make, steps: int) -> float:
    torch.manual_seed(0)
    model, loss_of = make()
    optimizer = torch.optim.Adam(model.parameters())
    seen, started = 0, None
    for step, (x, y) in enumerate(batches(train, BATCH, torch.Generator().manual_seed(0))):
        if step == 2:  # two warm-up steps
            seen, started = 0, time.perf_counter()
        if step == steps + 2:
            break
        loss = loss_of(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(x)
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="model steps timed per dataset")
    args = parser.parse_args()
    rows = []
    for name, (folder, make) in DATASETS.items():
        if not Path(folder).exists():
            print(f"{name}: {folder} missing (run `dvc repro` first); skipped")
            continue
        train = load_prepared(Path(folder))[0]["train"]
        loader, model = loader_rate(train), model_rate(train, make, args.steps)
        rows.append(
            {
                "dataset": name,
                "samples": len(train),
                "loader_samples_per_s": round(loader),
                "model_samples_per_s": round(model, 1),
                "loader_over_model": round(loader / model, 1),
            }
        )
    write_result("data_path", {"settings": {"batch": BATCH, **vars(args)}, "results": rows})
    print(f"{'dataset':<20}{'samples':>9}{'loader/s':>12}{'model/s':>10}{'ratio':>9}")
    for r in rows:
        print(
            f"{r['dataset']:<20}{r['samples']:>9}{r['loader_samples_per_s']:>12}"
            f"{r['model_samples_per_s']:>10}{r['loader_over_model']:>8}x"
        )


if __name__ == "__main__":
    main()
