"""The fast path: process-wide switches for how tensors are laid out and computed
(`compute` in params.yaml), set once per stage by `configure` and read by the loops.

They are process-wide because some of what they set is process-wide in torch already (thread
count, cuDNN autotuning), and so that a stage's loops, evaluation and measurements all run the
same way without threading flags through every call. None changes what is computed beyond
float rounding.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from dlrepro import numerics
from dlrepro.config import ComputeConfig
from dlrepro.failures import StageFailure
from dlrepro.tracking import wandb_mode
from dlrepro.training import cpu_kernels

T = TypeVar("T")

_active = ComputeConfig()
_device_type = "cpu"
_worker_slot: int | None = None
"""This process's place among concurrent seed workers (None outside them): its progress line."""


def configure(cfg: ComputeConfig, device: torch.device) -> None:
    if cfg.seed_processes not in ("auto", 0, 1) and device.type == "cuda":
        raise ValueError(
            f"compute.seed_processes = {cfg.seed_processes} forks one process per seed, which "
            "CUDA does not survive; set compute.seed_processes to auto or 1 on a GPU"
        )
    global _active, _device_type
    _active, _device_type = cfg, device.type
    if device.type == "cpu":
        numerics.verify(cfg.cpu_isa)
        cpu_kernels.keep_heap()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda" and cfg.gpu_deterministic:
        # cuBLAS reads this when its first handle is made, which the first model step does.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    # Autotuning times algorithms and keeps the fastest, which may differ from run to run.
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark and not cfg.gpu_deterministic
    if cfg.autocast != "none" and device.type != "cuda":
        print(f"compute.autocast = {cfg.autocast} applies on a GPU only; running in float32")
    if cfg.cuda_graphs and device.type != "cuda":
        print("compute.cuda_graphs applies on a GPU only; training steps run eagerly")


def prepare_model(model: nn.Module) -> nn.Module:
    """The model in the configured layout, on the configured CPU kernels, compiled when asked
    (in place: state_dict keys keep their names, so checkpoints and weights files are the same
    either way)."""
    if _active.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if _active.onednn_layers and _device_type == "cpu" and torch.backends.mkldnn.is_available():
        model = cpu_kernels.route(model)
    if _active.compile:
        model.compile()
    return model


def layout(x: torch.Tensor) -> torch.Tensor:
    """An input batch in the configured layout (only image batches, N x C x H x W, change)."""
    if _active.channels_last and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


@contextlib.contextmanager
def autocast() -> Iterator[None]:
    """Mixed precision for forward passes and losses where configured and on a GPU."""
    enabled = _active.autocast == "bf16" and _device_type == "cuda"
    # A graph replays the casts it captured; autocast's cache of cast weights would go stale.
    with torch.autocast(
        _device_type, dtype=torch.bfloat16, enabled=enabled, cache_enabled=not graphs()
    ):
        yield


def graphs() -> bool:
    """Whether training steps are captured as CUDA graphs (training/graphs.py)."""
    return _active.cuda_graphs and _device_type == "cuda"


def seed_processes(n_seeds: int) -> int:
    """Worker processes `n_seeds` seeds train in (see ComputeConfig.seed_processes); 0: one
    after another in this process (always on a GPU). Never a function of the core count: on a
    CPU a seed always computes on one thread, so its bytes are the same on any machine."""
    if _device_type != "cpu":
        return 0
    wanted = _active.seed_processes
    return n_seeds if wanted == "auto" else min(wanted, n_seeds)


def progress_position() -> int | None:
    """The line for this process's progress bar: one per concurrent seed worker."""
    return _worker_slot


class WorkerDiedError(StageFailure, RuntimeError):
    """A seed's worker process ended without handing back an outcome (killed, out of memory)."""


def _run_seed(run_one: Callable[[int], T], seed: int) -> tuple[bool, T | Exception]:
    """(True, what `run_one(seed)` returned) or (False, the exception it raised), computed on
    one thread, as the contract has every seed compute."""
    torch.set_num_threads(1)
    try:
        return True, run_one(seed)
    except Exception as error:
        # Shown only when nothing expects the error (str(error) leaves notes out).
        error.add_note(f"raised in seed {seed}'s worker process:\n{traceback.format_exc()}")
        return False, error


def _run_seed_job(run_one: Callable[[int], T], slot: int, seed: int, outcome: Connection) -> None:
    """A forked seed worker: sends back its seed's outcome (`_run_seed`). One thread, too,
    because libgomp hangs in a forked child that starts threads after its parent did."""
    global _worker_slot
    _worker_slot = slot
    _send(outcome, _run_seed(run_one, seed))


def run_seed_job(
    work: Path, seed: int, cfg: ComputeConfig, device_type: str
) -> tuple[bool, object]:
    """A seed's outcome in a job of another machine (training/cluster.py): the stage's process
    pickled `run_one` to `work`; this process configures itself as the stage's did (this
    process shares none of its state, unlike a forked worker) and runs the seed."""
    configure(cfg, torch.device(device_type))
    run_one = pickle.loads(work.read_bytes())
    return _run_seed(run_one, seed)


def _send(outcome: Connection, value: object) -> None:
    # Plain pickle, not multiprocessing's: that one passes tensors as handles to shared memory
    # which the parent can only open while the worker lives, and the worker exits right after.
    outcome.send_bytes(pickle.dumps(value))


def _how_it_ended(exitcode: int) -> str:
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}: out of memory, or killed"
    return f"exit code {exitcode}"


def _one_after_another(run_one: Callable[[int], T], seeds: Sequence[int]) -> list[T]:
    if _device_type != "cpu":
        return [run_one(seed) for seed in seeds]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker: the contract's arithmetic for a seed
    try:
        return [run_one(seed) for seed in seeds]
    finally:
        torch.set_num_threads(threads)


def map_seeds(
    run_one: Callable[[int], T], seeds: Sequence[int], concurrent: bool = True
) -> list[T]:
    """`run_one(seed)` for every seed, in seed order: when `concurrent`, as one SLURM job each
    under `compute.executor: slurm` (training/cluster.py: `run_one` and what it holds are
    pickled for them), else in forked worker processes of one thread each on a CPU; otherwise
    one after another in this process. A worker inherits the caller's data and closures; what
    `run_one` returns comes back pickled. A seed that fails does not stop the others; once all
    ended, the first failure in seed order is raised (a worker or job that died raises
    WorkerDiedError naming its seed)."""
    if concurrent and _active.executor == "slurm":
        from dlrepro.training import cluster

        return _in_seed_order(cluster.map_seeds(run_one, seeds, _active, _device_type))
    processes = seed_processes(len(seeds)) if concurrent else 0
    if processes == 0:
        return _one_after_another(run_one, seeds)
    # A process's first optimizer imports torch._dynamo (about 4 s of a core), and each seed's
    # tracked run imports wandb (about 0.7 s): imported here, the workers inherit both instead
    # of each importing them again.
    import torch._dynamo  # noqa: F401

    if wandb_mode() != "disabled":
        import wandb  # noqa: F401

    fork = multiprocessing.get_context("fork")
    waiting = list(enumerate(seeds))
    running: dict[Connection, tuple[int, int, multiprocessing.Process]] = {}
    outcomes: dict[int, tuple[bool, object]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < processes:
                slot, seed = waiting.pop(0)
                receiver, sender = fork.Pipe(duplex=False)
                worker = fork.Process(target=_run_seed_job, args=(run_one, slot, seed, sender))
                worker.start()
                # Only the worker holds the sending end now: its death reads as end of file.
                sender.close()
                running[receiver] = (slot, seed, worker)
            for receiver in wait(list(running)):
                slot, seed, worker = running.pop(receiver)
                with contextlib.suppress(EOFError):  # EOF: it ended without sending anything
                    outcomes[slot] = pickle.loads(receiver.recv_bytes())
                receiver.close()
                worker.join()
                if slot not in outcomes:
                    died = f"seed {seed}'s worker process died ({_how_it_ended(worker.exitcode)})"
                    outcomes[slot] = (False, WorkerDiedError(died))
    finally:
        for _, _, worker in running.values():  # left running only when the caller is stopped
            worker.kill()
            worker.join()
    return _in_seed_order([outcomes[slot] for slot in range(len(seeds))])


def _in_seed_order(outcomes: list[tuple[bool, object]]) -> list:
    """What every seed returned, given every seed's outcome in seed order; or the first
    failure in seed order, raised."""
    for succeeded, value in outcomes:
        if not succeeded:
            raise value
    return [value for _, value in outcomes]
