"""Data-parallel training over processes with torch.distributed (launched by torchrun).

`fit` asks `current()` whether this process is one of several. If it is, every rank walks the
same shuffled global batches (same seed, same generator) and trains on its own interleaved
slice of each; DistributedDataParallel averages the gradients, so a step equals one
single-process step on the whole batch (up to batch-norm statistics, which stay per rank, and
float summation order). Every rank evaluates the full validation set with identical weights, so
early stopping decides the same everywhere; only rank 0 writes checkpoints, results and tracking.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Shard:
    rank: int
    world: int

    def take(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t[self.rank :: self.world] for t in tensors)

    def wrap(self, model: nn.Module) -> nn.Module:
        return nn.parallel.DistributedDataParallel(model)

    def total(self, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each value summed over the ranks."""
        stacked = torch.stack([v.double() for v in values])
        dist.all_reduce(stacked)
        return tuple(stacked.unbind())


def requested() -> bool:
    """This process was started by torchrun as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextlib.contextmanager
def joined(device: torch.device) -> Iterator[None]:
    """Inside: a member of the torchrun job when this process was started as one (NCCL between
    GPUs, one per local rank; gloo between CPUs); otherwise nothing changes."""
    if not requested():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def current() -> Shard | None:
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return Shard(dist.get_rank(), dist.get_world_size())


def is_main() -> bool:
    shard = current()
    return shard is None or shard.rank == 0


def relaunch(processes: int, argv: list[str]) -> None:
    """Replace this process by `torchrun --standalone --nproc-per-node processes` running the
    same dlrepro command (one node; for several, start torchrun yourself)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={processes}", "-m", "dlrepro.cli", *argv]
    print("data-parallel over", processes, "processes:", " ".join(command[1:]), flush=True)
    os.execv(sys.executable, command)
