"""Adversarial training of a `GANPair`: DCGAN (noise in) and pix2pix (an image in, with an L1
pull towards the target), sharing the supervised loop's seeding, batching and history rows.

Each step updates the discriminator on real and generated images (binary cross-entropy on
logits, halved as in pix2pix), then the generator to fool it, plus `l1_weight` x L1 to the
target when conditional. GAN losses do not measure sample quality, so early stopping follows a
validation measure instead (L1 to the validation targets when conditional, `Adversarial.quality`
when not): a run stops once it has not improved for `patience` epochs and keeps the weights of
its best epoch, as the supervised loop does; the regime checks can then tell a run that had
stopped improving from one the epoch cap cut off. Runs do not resume from checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from dlrepro.data.prepare import TensorSplit
from dlrepro.training import compute
from dlrepro.training.loop import (
    FitResult,
    NonFiniteLossError,
    adam_kernel,
    batches,
    clone_state,
    evaluate,
    improves,
    seed_everything,
)


@dataclass(frozen=True)
class Adversarial:
    """How a condition's GANPair trains (see the module docstring)."""

    lr: float
    beta1: float
    l1_weight: float = 0.0
    noise_dim: int | None = None
    """Unconditional (DCGAN) when set: the generator reads noise of this width; otherwise it
    reads the batch's inputs and the discriminator sees them beside the image."""
    quality: Callable[[nn.Module], float] | None = None
    """Unconditional: a validation measure of the generator's samples (higher is better),
    recorded each epoch as val_quality."""


def fit_adversarial(
    model: nn.Module,
    spec: Adversarial,
    train: TensorSplit,
    val: TensorSplit | None,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    seed: int,
    min_delta: float = 0.0,
    desc: str = "gan",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    max_batches: int | None = None,
) -> FitResult:
    """Train `model.generator` against `model.discriminator`; history rows hold d_loss, g_loss
    (adversarial part), train_loss (the generator's whole loss) and, for a conditional model
    with `val`, val_loss (L1 to the targets), else val_quality when `spec.quality` is set.
    Stops after `patience` epochs without a better validation measure (by more than the
    fraction `min_delta`: `improves`), with the best epoch's weights; with no validation
    measure, runs every epoch and keeps the last."""
    generator, discriminator = model.generator, model.discriminator
    device = next(model.parameters()).device
    betas = (spec.beta1, 0.999)
    kernel = adam_kernel(device)
    g_opt = torch.optim.Adam(generator.parameters(), lr=spec.lr, betas=betas, **kernel)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=spec.lr, betas=betas, **kernel)
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
    conditional = spec.noise_dim is None
    history = []
    best = {"epoch": 0, "score": -math.inf, "state": None}
    stopped_early = False
    bar = tqdm(
        range(epochs), desc=desc, disable=None, leave=False, position=compute.progress_position()
    )
    for epoch in bar:
        seed_everything(seed * 100_003 + epoch)
        order = torch.Generator().manual_seed(seed * 100_003 + epoch)
        model.train()
        sums = {"d_loss": 0.0, "g_loss": 0.0, "train_loss": 0.0}
        steps = 0
        started = time.perf_counter()
        for step, (x, y) in enumerate(batches(train, batch_size, order, device)):
            if max_batches is not None and step >= max_batches:
                break
            source = x if conditional else torch.randn(len(y), spec.noise_dim, device=device)
            condition = x if conditional else None
            with compute.autocast():
                fake = generator(source)
                real_logits = discriminator(y, condition)
                fake_logits = discriminator(fake.detach(), condition)
                d_loss = 0.5 * (
                    bce(real_logits, torch.ones_like(real_logits))
                    + bce(fake_logits, torch.zeros_like(fake_logits))
                )
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()

            with compute.autocast():
                fooled = discriminator(fake, condition)
                g_adv = bce(fooled, torch.ones_like(fooled))
                g_loss = g_adv + spec.l1_weight * l1(fake, y) if conditional else g_adv
            if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
                raise NonFiniteLossError(
                    f"{desc}: a GAN loss became non-finite at epoch {epoch + 1}, step {step + 1};"
                    " lower the learning rate and re-run. No metrics were written."
                )
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            for key, value in (("d_loss", d_loss), ("g_loss", g_adv), ("train_loss", g_loss)):
                sums[key] += value.item()
            steps += 1
        row = {"epoch": epoch + 1, **{k: v / max(steps, 1) for k, v in sums.items()}}
        if conditional and val is not None:
            row["val_loss"] = evaluate(generator, val, l1)["loss"]
        elif spec.quality is not None:
            row["val_quality"] = spec.quality(generator)
        row["train_seconds"] = round(time.perf_counter() - started, 4)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        score = _monitored(row)
        if improves(score, best["score"], min_delta):
            best = {"epoch": epoch + 1, "score": score, "state": clone_state(model)}
        stopped_early = epoch + 1 - best["epoch"] >= patience
        if stopped_early:
            break
    return FitResult(history, best["epoch"], best["state"], stopped_early, seed=seed)


def _monitored(row: dict[str, float]) -> float:
    """What early stopping follows, higher being better: -val_loss, or val_quality; without
    either the epoch itself, so every epoch is the best yet and the run keeps its last weights."""
    if "val_loss" in row:
        return -row["val_loss"]
    return row.get("val_quality", float(row["epoch"]))
