"""What Sections 4 and 5 share: the prepared digits (Section 4 prepares them, both read them),
batched inference, MSE, and which test images a figure shows."""

from __future__ import annotations

from collections.abc import Callable

import torch

from dlrepro.data.prepare import TensorSplit, load_prepared
from dlrepro.paths import PREPARED
from dlrepro.training.loop import EVAL_BATCH

DIGITS_DIR = PREPARED / "s4"
SHOWN = 8
"""Test images in each figure."""


def load_digits() -> tuple[dict[str, TensorSplit], dict]:
    """Prepared digits in [0, 1] (x, float32) with their labels (y), per split."""
    digits, manifest = load_prepared(DIGITS_DIR)
    return {split: data.decoded() for split, data in digits.items()}, manifest


@torch.no_grad()
def apply(fn: Callable, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`fn` over `x` in evaluation batches, results on the CPU."""
    return torch.cat(
        [fn(x[i : i + EVAL_BATCH].to(device)).cpu() for i in range(0, len(x), EVAL_BATCH)]
    )


def mse(output: torch.Tensor, target: torch.Tensor) -> float:
    return (output - target).square().mean().item()


def shown(n: int) -> torch.Tensor:
    """Indices of SHOWN test images spread over a test set of n (prepared splits are ordered by
    class or source photo, so the first few would all look alike)."""
    return torch.linspace(0, n - 1, SHOWN).long()
