"""The supervised training loop every section shares.

What it guarantees:
- determinism: each epoch reseeds python, numpy and torch from (seed, epoch), so a run is a pure
  function of its seed, and a run resumed from a checkpoint continues exactly as if never stopped;
- resume: with `checkpoint` set, state is saved atomically (and fsynced) after every epoch and
  picked up again when the same run (same `fingerprint`) starts; a finished run returns its
  stored result at once. A checkpoint of another fingerprint, or one that cannot be read, is
  discarded with a warning and the run starts from scratch;
- early stopping on validation accuracy (or loss) with the best weights restored (Keras
  semantics);
- one loop for classifiers (logits (N, C) or (N, C, L) against integer targets) and regressors
  (outputs shaped like float targets, which have a loss but no accuracy: autoencoders too);
- a model may add its own loss term in forward (`auxiliary_loss`, as Keras's `add_loss`: the
  VAE's KL divergence), which training and evaluation add to `loss_fn`'s;
- a NaN or infinite loss stops the run with NonFiniteLossError before any result is written;
- the `compute` fast path (layout, mixed precision, CUDA graphs; training/compute.py,
  training/graphs.py) and data-parallel
  processes (training/distributed.py) apply without the caller doing anything.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dlrepro.config import Params, TrainConfig
from dlrepro.data.prepare import TensorSplit
from dlrepro.failures import StageFailure, writing
from dlrepro.training import compute, distributed
from dlrepro.training.graphs import GraphedStep

EVAL_BATCH = 1024


class NonFiniteLossError(StageFailure, FloatingPointError):
    """The loss became NaN or infinite: training diverged."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(params: Params) -> torch.device:
    """The stage's device, with the `compute` fast path configured for it. `auto` picks the GPU
    when there is one; `cuda` without one is an error, not a fallback."""
    name = params.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was requested but no GPU is visible; use device: auto")
    device = torch.device(name)
    compute.configure(params.compute, device)
    return device


def batches(
    data: TensorSplit,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches straight from in-memory tensors (shuffled when a generator is given), as the
    network takes them (stored pixels normalised on `device`)."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    # Once per epoch, so a GPU-resident set is indexed without a host-to-device copy (and the
    # wait that comes with it) every step.
    order = order.to(data.x.device)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        yield compute.layout(data.inputs(data.x[index].to(device))), data.y[index].to(device)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer `cfg` names, over the parameters that take gradients (frozen ones excluded)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            trainable, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    # Capturable keeps Adam's step count on the device, so a CUDA graph can replay its update;
    # on every GPU run, graphed or not, so that switching graphs on changes no arithmetic.
    device = trainable[0].device
    kernel = {"capturable": True} if device.type == "cuda" else adam_kernel(device)
    return torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, **kernel)


def adam_kernel(device: torch.device | str) -> dict[str, bool]:
    """Options every Adam of the project is built with (SB3's through `optimizer_kwargs`): fused
    on the CPU. The unfused update takes its square roots from MKL's vector maths, whose code
    path MKL picks by CPU vendor whatever MKL_CBWR says (on an AMD EPYC about 1 in 5 roots came
    out 1 ulp from an Intel CPU's); the fused kernel uses the exact square-root instruction, so
    the numeric contract holds (tests/test_numerics.py)."""
    return {"fused": True} if torch.device(device).type == "cpu" else {}


def is_classification(outputs: torch.Tensor, targets: torch.Tensor) -> bool:
    """Class scores on dim 1 against integer targets (sequence models: (N, C, L) vs (N, L))."""
    return outputs.ndim == targets.ndim + 1 and not targets.is_floating_point()


def n_correct(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs.argmax(1) == targets).sum()


def auxiliary_loss(model: nn.Module) -> torch.Tensor | float:
    """The term the model's last forward pass asked to add to the loss (0 when none)."""
    return getattr(model, "auxiliary_loss", 0.0)


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorSplit, loss_fn: nn.Module) -> dict[str, float]:
    """Mean loss (per target element) and, for a classifier, accuracy, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct, count, classify = 0.0, 0, 0, False
    for x, y in batches(data, EVAL_BATCH, device=device):
        with compute.autocast():
            outputs = model(x)
            loss = loss_fn(outputs, y) + auxiliary_loss(model)
        total_loss += loss.item() * y.numel()
        count += y.numel()
        classify = is_classification(outputs, y)
        if classify:
            correct += n_correct(outputs, y).item()
    return {"loss": total_loss / count, **({"acc": correct / count} if classify else {})}


@dataclass
class FitResult:
    history: list[dict[str, float]]
    """One row per epoch: epoch, train_loss, train_acc (running, on augmented batches; classifiers
    only), val_loss, val_acc (classifiers only), train_seconds (the training pass's wall time)."""
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    stopped_early: bool
    seed: int
    seconds_before_resume: float = 0.0
    """Wall time the run spent before the checkpoint it resumed from (0 when it did not resume):
    the run's total time is this plus the time taken now."""


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: TensorSplit,
    val: TensorSplit,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    seed: int,
    min_delta: float = 0.0,
    loss_fn: nn.Module | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    desc: str = "train",
    max_batches: int | None = None,
    warmup_epochs: int = 0,
    monitor: str = "val_acc",
) -> FitResult:
    """Train with early stopping on `monitor` (`val_acc`, higher is better, or `val_loss`),
    a new best being a gain of more than the fraction `min_delta` (`improves`); see the module
    docstring.

    `max_batches` caps batches per epoch (dry runs); `on_epoch` receives each history row;
    `warmup_epochs` ramps the learning rate linearly from 0 per step over that many epochs.
    """
    started = time.perf_counter()
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = next(model.parameters()).device
    shard = distributed.current()
    # DDP's wrapper only for the training forward: state, evaluation and checkpoints use `model`.
    net = shard.wrap(model) if shard else model
    for group in optimizer.param_groups:
        # torch's schedulers' convention; saved with the optimizer, so resume keeps it.
        group.setdefault("initial_lr", group["lr"])
    state = _resume(checkpoint, fingerprint, model, optimizer, desc)
    seconds_before_resume = state.get("seconds", 0.0)
    history: list[dict[str, float]] = state.get("history", [])
    best = state.get("best", {"epoch": 0, "score": -math.inf, "state": None})
    stopped_early = state.get("stopped_early", False)
    remaining = range(len(history), 0 if stopped_early else epochs)
    steps_per_epoch = -(-len(train) // batch_size)
    check_every_step = checks_every_step(device)

    def train_step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with compute.autocast():
            outputs = net(x)
            loss = loss_fn(outputs, y) + auxiliary_loss(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return outputs, loss

    # DDP's gradient hooks synchronise across processes, which a replayed graph would skip.
    graphed = GraphedStep(train_step, optimizer) if compute.graphs() and not shard else None

    bar = tqdm(
        remaining,
        desc=desc,
        initial=len(history),
        total=epochs,
        disable=None,
        leave=False,
        position=compute.progress_position(),
    )
    for epoch in bar:
        seed_everything(seed * 100_003 + epoch)
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        model.train()
        total_loss = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen, classify = torch.zeros((), dtype=torch.long, device=device), False
        epoch_started = time.perf_counter()
        for step, (x, y) in enumerate(batches(train, batch_size, generator, device)):
            if max_batches is not None and step >= max_batches:
                break
            if shard:
                x, y = shard.take(x, y)
            if augment is not None:
                x = augment(x)
            # From the global step alone, so a resumed run warms up exactly as before.
            done = epoch * steps_per_epoch + step + 1
            if warmup_epochs:
                ramp = min(1.0, done / (warmup_epochs * steps_per_epoch))
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * ramp
            if graphed is None:
                logits, loss = train_step(x, y)
            else:  # captured once the learning rate stops changing: the graph holds it
                logits, loss = graphed(x, y, capturable=done >= warmup_epochs * steps_per_epoch)
            if check_every_step and not torch.isfinite(loss):
                raise _diverged(desc, loss.item(), f"epoch {epoch + 1}, step {step + 1}")
            total_loss += loss.detach() * y.numel()
            seen += y.numel()
            classify = is_classification(logits, y)
            if classify:
                correct += n_correct(logits, y)
        if not torch.isfinite(total_loss):  # also waits for the device, so the time is whole
            raise _diverged(desc, total_loss.item(), f"epoch {epoch + 1}")
        train_seconds = time.perf_counter() - epoch_started
        if shard:
            total_loss, correct, seen = shard.total(total_loss, correct, seen)
        val_metrics = evaluate(model, val, loss_fn)
        row = {"epoch": epoch + 1, "train_loss": total_loss.item() / seen.item()}
        if classify:
            row["train_acc"] = correct.item() / seen.item()
        row["val_loss"] = val_metrics["loss"]
        if classify:
            row["val_acc"] = val_metrics["acc"]
        row["train_seconds"] = round(train_seconds, 4)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        bar.set_postfix({monitor: f"{row[monitor]:.3f}", "loss": f"{row['train_loss']:.3f}"})
        score = row["val_acc"] if monitor == "val_acc" else -row["val_loss"]
        if improves(score, best["score"], min_delta):
            best = {"epoch": epoch + 1, "score": score, "state": clone_state(model)}
        stopped_early = epoch + 1 - best["epoch"] >= patience
        if checkpoint is not None and distributed.is_main():
            _atomic_save(
                {
                    "fingerprint": fingerprint,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": history,
                    "best": best,
                    "stopped_early": stopped_early,
                    "seconds": seconds_before_resume + time.perf_counter() - started,
                },
                checkpoint,
            )
        if stopped_early:
            break
    return FitResult(
        history, best["epoch"], best["state"], stopped_early, seed, seconds_before_resume
    )


def improves(score: float, best: float, min_delta: float) -> bool:
    """Whether `score` (higher is better) is a new best: above `best` by more than the fraction
    `min_delta` of |best| (any gain when min_delta is 0, and over no best yet)."""
    return score > best + min_delta * abs(best) if math.isfinite(best) else score > best


def checks_every_step(device: torch.device) -> bool:
    """Whether each step's loss is checked for NaN. Reading it on the host makes the host wait
    for the device: free on a CPU, so every step is checked there; elsewhere only the epoch's
    total is (one NaN step makes it NaN too), so the host never stalls the GPU's queue."""
    return device.type == "cpu"


def _diverged(desc: str, loss: float, when: str) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"{desc}: loss is {loss} at {when}; training diverged. Lower the learning rate (or "
        "check the inputs for NaN) and re-run. No metrics were written for this run."
    )


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the weights and buffers (the best epoch's, kept in memory)."""
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _atomic_save(obj: dict, path: Path) -> None:
    """Write through a temporary file, flushed to disk before it replaces `path`: a crash or a
    power cut leaves the previous checkpoint or the new one, never a truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with writing(path), open(partial, "wb") as file:
        torch.save(obj, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # makes the rename itself durable
    finally:
        os.close(folder)


UNREADABLE = (EOFError, OSError, RuntimeError, pickle.UnpicklingError)
"""What torch.load raises on a truncated or corrupt file."""


def _resume(
    checkpoint: Path | None,
    fingerprint: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    desc: str,
) -> dict:
    """The checkpoint's state, loaded into `model` and `optimizer`; {} (a fresh start) when there
    is none to use."""
    if checkpoint is None or not checkpoint.exists():
        return {}
    try:
        state = torch.load(checkpoint, weights_only=True)
    except UNREADABLE as error:
        return _discard(checkpoint, f"unreadable ({type(error).__name__})", desc)
    if state.get("fingerprint") != fingerprint:
        # Resuming would mix two runs: weights trained by other code, data or params.
        return _discard(checkpoint, "written by other code, data or params", desc)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    print(f"resuming from {checkpoint} after epoch {len(state['history'])}")
    return state


def _discard(checkpoint: Path, why: str, desc: str) -> dict:
    print(f"warning: discarding {checkpoint}: {why}; training {desc} from scratch", file=sys.stderr)
    checkpoint.unlink()
    return {}
