"""A stage's seeds as SLURM jobs (`compute.executor: slurm`), one job per seed, through submitit.

The stage's process pickles what trains one seed (the closure `map_seeds` is given, data and
all, by cloudpickle) once into the stage's job folder, submits one job per seed and waits; each
job loads it, computes its seed on one thread under the numeric contract, as a local seed
worker does, and hands back its outcome, so the results are the bytes a local run gives. The
jobs see the stage's folder at the same path (a shared file system): their work, their seeds'
epoch checkpoints and their logs are there.

A job that SLURM pre-empts and requeues, or that submitit requeues before its time limit,
starts its seed again, which resumes from its last epoch's checkpoint (training/loop.py).

Nothing here imports torch or numpy at module level: a job imports this module when it
unpickles its work, before the contract is applied (numerics.py).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import cloudpickle
import submitit

from dlrepro import numerics
from dlrepro.config import ComputeConfig
from dlrepro.failures import StageFailure, first_line

T = TypeVar("T")
Outcome = tuple[bool, Any]
"""(True, what the seed returned) or (False, the exception it raised)."""

ENGINE = "slurm"
"""submitit's cluster kind the jobs go to (the quick tests put submitit's `local` here: the
same jobs, as processes of this machine)."""

RESULT_POLL_S = 1.0
"""How often the stage looks for its jobs' results (a file each)."""
QUEUE_POLL_S = 20.0
"""How often it asks SLURM whether a job without a result still exists (squeue)."""
RESULT_GRACE_S = 15.0
"""How long a result may take to show after its job left the queue (submitit's own wait)."""


class ClusterError(StageFailure):
    """The seeds' jobs cannot be submitted as configured (compute.slurm)."""


class SeedJob(submitit.helpers.Checkpointable):
    """One seed of a stage, run by a SLURM job. Checkpointable: submitit requeues the job as it
    is when its time runs out, and the seed resumes from its epoch checkpoint."""

    def __init__(self, work: Path, folder: Path, compute: ComputeConfig, device_type: str):
        self.work, self.folder, self.compute, self.device_type = work, folder, compute, device_type

    def __call__(self, seed: int) -> Outcome:
        # The job script exported the contract's variables before Python started (submitit
        # imports numpy before this runs); this fails if anything unset them, or the node's
        # CPU cannot compute at the contract's level.
        try:
            numerics.apply(self.compute.cpu_isa)
        except numerics.ContractError as error:
            return False, error
        os.chdir(self.folder)
        from dlrepro.training import compute  # torch loads here, under the contract

        return compute.run_seed_job(self.work, seed, self.compute, self.device_type)


def map_seeds(
    run_one: Callable[[int], T], seeds: Sequence[int], cfg: ComputeConfig, device_type: str
) -> list[Outcome]:
    """Every seed's outcome, in seed order, each computed by its own SLURM job."""
    slurm = cfg.slurm
    if device_type == "cuda" and slurm.gpus_per_job == 0:
        raise ClusterError(
            "this stage trains on a GPU but compute.slurm.gpus_per_job = 0 gives its seed jobs "
            "none; set compute.slurm.gpus_per_job: 1"
        )
    if ENGINE == "slurm" and shutil.which("sbatch") is None:
        raise ClusterError(
            "compute.executor = slurm but SLURM's sbatch is not on this machine's PATH: run the "
            "stage on the cluster's login node, or set compute.executor: local"
        )
    name = _stage_name()
    run_dir = Path(slurm.folder).resolve() / f"{name}-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    work = run_dir / "run_one.pkl"
    with work.open("wb") as file:
        _Pickler(file).dump(run_one)
    executor = submitit.AutoExecutor(folder=run_dir, cluster=ENGINE)
    executor.update_parameters(**_job_parameters(name, cfg))
    job = SeedJob(work, Path.cwd(), cfg, device_type)
    try:
        with executor.batch():
            jobs = [executor.submit(job, seed) for seed in seeds]
    except submitit.core.utils.FailedJobError as error:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise ClusterError(
            f"sbatch refused the seed jobs: {first_line(error)}; check compute.slurm "
            "(partition, sbatch options)"
        ) from None
    print(
        f"{name}: seeds {', '.join(map(str, seeds))} submitted as {ENGINE} jobs "
        f"{', '.join(j.job_id for j in jobs)} (work and logs: {run_dir})",
        flush=True,
    )
    try:
        _wait(jobs)
    finally:
        _cancel(jobs)
    outcomes = [_outcome(j, seed) for j, seed in zip(jobs, seeds, strict=True)]
    for ended in jobs:
        _relay_output(ended)
    if all(succeeded for succeeded, _ in outcomes):
        shutil.rmtree(run_dir, ignore_errors=True)
    return outcomes


class _Pickler(cloudpickle.Pickler):
    """cloudpickle that also takes a stage's locally defined `functools.cache` functions
    (cloudpickle pickles a cache by its name, which a local function's does not resolve): by
    value and empty, so each job fills its own (Section 5 caches its classifier so)."""

    def reducer_override(self, obj: object) -> Any:
        if isinstance(obj, functools._lru_cache_wrapper) and "<locals>" in obj.__qualname__:
            return functools.lru_cache(**obj.cache_parameters()), (obj.__wrapped__,)
        return super().reducer_override(obj)


def _job_parameters(name: str, cfg: ComputeConfig) -> dict[str, Any]:
    """submitit's parameters for each seed's job: one task on one core, the contract exported
    before Python starts."""
    slurm = cfg.slurm
    contract = [f"export {k}={shlex.quote(v)}" for k, v in numerics.CONTRACTS[cfg.cpu_isa].items()]
    parameters = {
        "name": name,
        "timeout_min": slurm.time_min,
        "mem_gb": slurm.mem_gb,
        "cpus_per_task": 1,
        "tasks_per_node": 1,
        "slurm_setup": [*slurm.setup, *contract],
        # requeue: SLURM starts a job again after a node failure or a pre-emption
        "slurm_additional_parameters": {"requeue": True, **slurm.sbatch},
    }
    if slurm.gpus_per_job:  # an explicit 0 is refused by clusters that define no GPUs
        parameters["gpus_per_node"] = slurm.gpus_per_job
    if slurm.partition is not None:
        parameters["slurm_partition"] = slurm.partition
    return parameters


def _stage_name() -> str:
    """The stage's command line as a job name: `s1-train-variant-baseline`."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", " ".join(sys.argv[1:])).strip("-") or "dlrepro"


def _wait(jobs: list[submitit.Job]) -> None:
    """Until every job has written its result or is gone from SLURM's queue. submitit alone
    would wait forever for a job killed without a result on a cluster without accounting
    (it reads job states from sacct)."""
    on_slurm = isinstance(jobs[0], submitit.SlurmJob)
    pending, next_queue_check = list(jobs), time.monotonic() + QUEUE_POLL_S
    while pending:
        time.sleep(RESULT_POLL_S)
        pending = [j for j in pending if not j.paths.result_pickle.exists()]
        if not on_slurm:
            pending = [j for j in pending if not j.done()]  # another engine knows its own
        elif pending and time.monotonic() >= next_queue_check:
            pending = [j for j in pending if _still_queued(j)]
            next_queue_check = time.monotonic() + QUEUE_POLL_S


def _cancel(jobs: list[submitit.Job]) -> None:
    """Cancel whatever of `jobs` SLURM still holds: left running when the stage itself was
    stopped, or requeued after its result was written (a pre-emption that came too late)."""
    if isinstance(jobs[0], submitit.SlurmJob):
        arrays = sorted({j.job_id.split("_")[0] for j in jobs})
        subprocess.run(["scancel", *arrays], capture_output=True, timeout=60)
    else:
        for job in jobs:
            job.cancel(check=False)


def _still_queued(job: submitit.Job) -> bool:
    """Whether SLURM still holds the job (pending, running, requeued); True when squeue does
    not answer (a busy controller: ask again later)."""
    array = job.job_id.split("_")[0]
    try:
        listed = subprocess.run(
            ["squeue", "--noheader", "--array", "--format=%i", f"--jobs={array}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return True
    if listed.returncode != 0:
        # Once a job has left the controller's memory squeue calls its id invalid.
        return "Invalid job id" not in listed.stderr
    return job.job_id in listed.stdout.split()


def _relay_output(job: submitit.Job) -> None:
    """What the job's seed printed (its summary line, a resume), for the stage's own log, as a
    local seed worker's lines are; submitit's own log lines stay in the job's log."""
    if job.paths.stdout.exists():
        for line in job.paths.stdout.read_text(errors="replace").splitlines():
            if not line.startswith("submitit "):
                print(line, flush=True)


def _outcome(job: submitit.Job, seed: int) -> Outcome:
    """What the job handed back, or a failure that names the seed, its job and its log."""
    from dlrepro.training.compute import WorkerDiedError

    # A result written on another node may take a moment to show here (a shared file system).
    deadline = time.monotonic() + RESULT_GRACE_S
    while not job.paths.result_pickle.exists() and time.monotonic() < deadline:
        time.sleep(RESULT_POLL_S)
    if not job.paths.result_pickle.exists():
        return False, WorkerDiedError(
            f"seed {seed}'s job {job.job_id} ended without handing back an outcome (cancelled, "
            f"out of memory, or killed); its log: {job.paths.stderr}"
        )
    try:
        return job.result()
    except submitit.core.utils.FailedJobError:  # raised before the seed's own code ran
        return False, WorkerDiedError(
            f"seed {seed}'s job {job.job_id} failed before its seed started; its log: "
            f"{job.paths.stderr}"
        )
