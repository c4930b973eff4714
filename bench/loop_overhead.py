"""Loop overhead: samples/s of dlrepro's training loop against a bare PyTorch loop.

Both train the same model on the same in-memory tensors with the same batches and run the same
validation pass each epoch; ours adds what the stages use (per-epoch reseeding, progress bar,
an atomic checkpoint every epoch, the tracking callback, the NaN check). Target (issue 9): ours
within 5% of the bare loop. Models: the Section 1 CNN (embedded size), the Section 2 VGG-16
(quarter width, 32x32 input, the report's dense head), Section 3's sentiment LSTM and
character language model (embedded sizes; the LM's targets are whole sequences), and Section 4's
CNN autoencoder (embedded size; MSE to its own 32x32 input).

    python bench/loop_overhead.py [--epochs 3] [--repeats 3]

Writes bench/results/loop_overhead.json (with the machine it ran on) and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from common import alternating, write_result
from torch import nn

from dlrepro.config import TrainConfig
from dlrepro.data.prepare import TensorSplit
from dlrepro.models.autoencoders import ConvAutoencoder
from dlrepro.models.cnn import SmallCNN
from dlrepro.models.rnn import LSTMClassifier, TokenLSTM
from dlrepro.models.transfer import InputAdapter, TransferNet, build_base, dense_head
from dlrepro.training.loop import batches, evaluate, fit, make_optimizer

TRAIN = TrainConfig(epochs=1, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.9, patience=99)


def section1_cnn() -> nn.Module:
    return SmallCNN(1, 28, 10, conv_channels=[16, 32], dense=[128, 64], batch_norm=False)


def section4_autoencoder() -> nn.Module:
    return ConvAutoencoder(32, 10, [8, 16, 32, 64])


def section2_vgg() -> nn.Module:
    base, features = build_base("vgg16", 0.25, 32)
    norm = {"mean": [0.0], "std": [1.0]}
    head = dense_head(features, [1025, 512], 10)
    return TransferNet(InputAdapter(norm, norm, 32), base, head, freeze_base=False)


def images(n: int) -> TensorSplit:
    generator = torch.Generator().manual_seed(0)
    return TensorSplit(torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,)))


def reviews(n: int) -> TensorSplit:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 10_000, (n, 32), generator=generator)
    return TensorSplit(ids, torch.randint(0, 2, (n,), generator=generator))


def char_sequences(n: int) -> TensorSplit:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 45, (n // 4, 129), generator=generator)
    return TensorSplit(ids[:, :-1], ids[:, 1:])


def digits(n: int) -> TensorSplit:
    x = torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    return TensorSplit(x, x)


MODELS = {  # name: (model, data, loss)
    "s1_cnn": (section1_cnn, images, nn.CrossEntropyLoss),
    "s2_vgg16_w0.25": (section2_vgg, images, nn.CrossEntropyLoss),
    "s3_sentiment_lstm": (lambda: LSTMClassifier(10_000, 50, 64), reviews, nn.CrossEntropyLoss),
    "s3_char_lm": (lambda: TokenLSTM(45, 32, 128, 1), char_sequences, nn.CrossEntropyLoss),
    "s4_cnn_autoencoder": (section4_autoencoder, digits, nn.MSELoss),
}


def bare_epochs(
    model: nn.Module, train: TensorSplit, val: TensorSplit, epochs: int, loss_fn: nn.Module
) -> float:
    optimizer = make_optimizer(model, TRAIN)
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        generator = torch.Generator().manual_seed(epoch)
        for x, y in batches(train, TRAIN.batch_size, generator):
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        evaluate(model, val, loss_fn)
    return time.perf_counter() - started


def our_epochs(
    model: nn.Module, train: TensorSplit, val: TensorSplit, epochs: int, loss_fn: nn.Module
) -> float:
    logged = []
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        fit(
            model,
            make_optimizer(model, TRAIN),
            train,
            val,
            epochs=epochs,
            batch_size=TRAIN.batch_size,
            patience=epochs + 1,
            monitor="val_loss",  # defined for every row (the autoencoder has no accuracy)
            seed=0,
            loss_fn=loss_fn,
            checkpoint=Path(folder) / "ckpt.pt",
            fingerprint="bench",
            on_epoch=logged.append,
        )
        return time.perf_counter() - started


def seeded(
    loop: Callable,
    build: Callable,
    train: TensorSplit,
    val: TensorSplit,
    epochs: int,
    loss: Callable,
    repeat: int,
) -> float:
    """`loop`'s seconds on a fresh model initialised from the repeat's seed."""
    torch.manual_seed(repeat)
    return loop(build(), train, val, epochs, loss())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2000)
    args = parser.parse_args()
    rows = []
    for name, (build, make_data, loss) in MODELS.items():
        train, val = make_data(args.n_train), make_data(args.n_train // 4)
        data = (train, val, args.epochs)
        times = alternating(
            {
                "bare": partial(seeded, bare_epochs, build, *data, loss),
                "dlrepro": partial(seeded, our_epochs, build, *data, loss),
            },
            args.repeats,
        )
        samples = args.epochs * len(train)
        bare, ours = statistics.median(times["bare"]), statistics.median(times["dlrepro"])
        rows.append(
            {
                "model": name,
                "samples": "sequences" if name.startswith("s3") else "images",
                "bare_samples_per_s": round(samples / bare, 1),
                "dlrepro_samples_per_s": round(samples / ours, 1),
                "overhead_pct": round((ours / bare - 1) * 100, 2),
                "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
            }
        )
    result = {
        "target": "dlrepro loop within 5% of a bare PyTorch loop",
        "settings": vars(args),
        "results": rows,
    }
    write_result("loop_overhead", result)
    print(f"{'model':<18}{'bare samples/s':>16}{'dlrepro samples/s':>19}{'overhead':>10}")
    for row in rows:
        print(
            f"{row['model']:<18}{row['bare_samples_per_s']:>16}"
            f"{row['dlrepro_samples_per_s']:>19}{row['overhead_pct']:>9}%"
        )


if __name__ == "__main__":
    main()
