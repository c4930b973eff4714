"""A stage's seeds as jobs of a cluster engine (`compute.executor: slurm`, training/cluster.py).

The quick tests send the jobs to submitit's `local` engine, the same jobs as processes of this
machine: what is pickled, how each job applies the contract and hands back its outcome, how
failures come back. The slow test runs a smoke stage's seeds on a real one-node SLURM cluster
it starts on 127.0.0.1 (Debian's slurmctld, slurmd and munge; `make system-deps`)."""

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from dlrepro.config import ComputeConfig, ParamsError, SlurmConfig, validate
from dlrepro.experiments import s1_network_training as s1
from dlrepro.training import cluster, compute
from dlrepro.training.loop import NonFiniteLossError

from .conftest import REPO, copy_repo, needs_raw_data, repo_commands, smoke_params

ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.usefixtures("restore_compute")


@pytest.fixture
def local_engine(monkeypatch):
    """Seed jobs go to submitit's local engine: one process of this machine per job."""
    monkeypatch.setattr(cluster, "ENGINE", "local")
    monkeypatch.setattr(cluster, "RESULT_POLL_S", 0.2)


def _on_engine(tmp_path: Path) -> None:
    slurm = SlurmConfig(folder=str(tmp_path / "jobs"))
    compute.configure(ComputeConfig(executor="slurm", slurm=slurm), torch.device("cpu"))


def test_the_executor_and_its_jobs_settings_are_validated():
    raw = smoke_params()
    raw["compute"]["executor"] = "ray"
    with pytest.raises(ParamsError, match=r"compute.executor.*'local' or 'slurm'"):
        validate(raw)
    raw = smoke_params()
    raw["compute"]["slurm"]["gpus"] = 1
    with pytest.raises(ParamsError, match=r"compute.slurm.gpus: unknown key"):
        validate(raw)


def _runs(executor: str) -> tuple[bytes, bytes]:
    raw = smoke_params()
    raw["compute"]["executor"] = executor
    s1.train_variant(validate(raw), "dropout")
    out = Path("results/s1/dropout")
    return (out / "runs.csv").read_bytes(), (out / "history_seeds.csv").read_bytes()


@pytest.mark.usefixtures("local_engine")
def test_seeds_as_jobs_give_the_bytes_of_the_local_pool(project):
    local = _runs("local")
    as_jobs = _runs("slurm")
    assert as_jobs == local
    assert list(pd.read_csv(project / "results/s1/dropout/runs.csv")["seed"]) == [0, 1, 2]
    assert not list((project / ".dlrepro/slurm").iterdir()), "a stage that succeeded keeps no jobs"


@pytest.mark.usefixtures("local_engine")
def test_each_job_computes_its_seed_on_one_thread_under_the_contract(tmp_path):
    _on_engine(tmp_path)

    capability = torch.backends.cpu.get_cpu_capability  # torch.backends does not pickle

    @functools.cache  # a local cache, as Section 5 keeps its classifier in: it travels too
    def isa() -> str:
        return capability()

    def where(seed):
        return os.getpid(), torch.get_num_threads(), isa()

    seen = compute.map_seeds(where, [0, 1])
    assert len({pid for pid, _, _ in seen} | {os.getpid()}) == 3, "one process per seed"
    assert {(threads, isa) for _, threads, isa in seen} == {(1, "AVX2")}


@pytest.mark.usefixtures("local_engine")
def test_a_seed_that_fails_in_its_job_fails_the_stage_with_its_message(project):
    raw = smoke_params(train={**smoke_params()["s1"]["train"], "lr": 1e12})
    raw["compute"]["executor"] = "slurm"
    with pytest.raises(NonFiniteLossError, match="No metrics were written"):
        s1.train_variant(validate(raw), "baseline")


@pytest.mark.usefixtures("local_engine")
def test_a_job_that_dies_names_its_seed_and_keeps_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "RESULT_GRACE_S", 0)
    _on_engine(tmp_path)

    def dies_on_seed_1(seed):
        if seed == 1:
            os._exit(3)
        return seed

    with pytest.raises(compute.WorkerDiedError, match=r"seed 1's job \S+ ended without") as died:
        compute.map_seeds(dies_on_seed_1, [0, 1])
    log = Path(str(died.value).rsplit("its log: ", 1)[1])
    assert log.parent.parent == tmp_path / "jobs" and log.exists()


def test_jobs_need_sbatch_and_a_gpu_stage_needs_gpu_jobs(tmp_path, monkeypatch):
    _on_engine(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(cluster.ClusterError, match="sbatch is not on this machine's PATH"):
        compute.map_seeds(abs, [0])
    with pytest.raises(cluster.ClusterError, match=r"set compute\.slurm\.gpus_per_job: 1"):
        cluster.map_seeds(abs, [0], ComputeConfig(executor="slurm"), "cuda")


SLURM_CONF = """\
ClusterName=dlrepro
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={home}/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={home}/state
SlurmdSpoolDir={home}/spool
SlurmctldPidFile={home}/slurmctld.pid
SlurmdPidFile={home}/slurmd.pid
SlurmctldLogFile={home}/slurmctld.log
SlurmdLogFile={home}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
KillWait=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
"""One node on 127.0.0.1 whose daemons run as root from a private folder, without accounting
(no slurmdbd: the engine must not need sacct); KillWait 2 s so a requeued job ends quickly."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def slurm_cluster():
    """Environment variables that point SLURM's commands at a one-node cluster started here
    (munged, slurmctld, slurmd) and stopped after the test."""
    search = f"/usr/sbin:/usr/bin:{os.environ['PATH']}"
    daemons = {name: shutil.which(name, path=search) for name in ("munged", "slurmctld", "slurmd")}
    if None in daemons.values() or shutil.which("sbatch") is None:
        pytest.skip("no SLURM (apt-get install slurmctld slurmd slurm-client munge); CI has it")
    if os.geteuid() != 0:
        pytest.skip("a private SLURM node needs root (slurmd starts jobs as their owner)")
    home = Path(tempfile.mkdtemp(prefix="dlrepro-slurm-"))
    for folder in ("state", "spool"):
        (home / folder).mkdir()
    (home / "munge.key").write_bytes(os.urandom(1024))
    (home / "munge.key").chmod(0o600)
    memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20 // 2
    conf = home / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            home=home,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            cpus=os.cpu_count(),
            memory_mb=memory_mb,
        )
    )
    env = {"SLURM_CONF": str(conf)}
    started = {**os.environ, **env}
    munge = [f"--socket={home}/munge.socket", f"--key-file={home}/munge.key"]
    subprocess.run(
        [daemons["munged"], "--force", *munge, f"--pid-file={home}/munged.pid",
         f"--log-file={home}/munged.log", f"--seed-file={home}/munged.seed"],
        check=True, timeout=30,
    )  # fmt: skip
    try:
        subprocess.run([daemons["slurmctld"]], env=started, check=True, timeout=30)
        subprocess.run([daemons["slurmd"], "-N", "localhost"], env=started, check=True, timeout=30)
        for _ in range(60):
            state = subprocess.run(
                ["sinfo", "--noheader", "--format=%t"], env=started, capture_output=True, text=True
            ).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the SLURM node never became idle ({state!r}): see {home}/*.log")
        yield env
    finally:
        subprocess.run(["scancel", "--user=root"], env=started, timeout=30)
        for daemon in ("slurmd", "slurmctld"):
            pid_file = home / f"{daemon}.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        subprocess.run([daemons["munged"], "--stop", *munge[:1]], timeout=30)
        time.sleep(1)  # the daemons remove their pid files as they go
        shutil.rmtree(home, ignore_errors=True)


def _set_params(repo: Path, executor: str, epochs: int) -> None:
    """The smoke profile with the seeds on `executor` and Section 1 trained `epochs` epochs."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["profile"] = "smoke"
    params["compute"]["executor"] = executor
    params["compute"]["slurm"]["mem_gb"] = 1
    params["profiles"]["smoke"]["s1"]["train"] |= {"epochs": epochs, "patience": epochs}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


STAGE = ["dlrepro", "s1", "train", "--variant", "baseline"]


def _results(repo: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((repo / "results/s1/baseline").iterdir())}


def _squeue(env: dict[str, str], *options: str) -> str:
    command = ["squeue", "--noheader", "--array", *options]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def _requeue_seed_0(repo: Path, env: dict[str, str]) -> str:
    """Run the stage on SLURM and, once seed 0 has checkpointed an epoch, requeue its job as a
    pre-emption does (killed, then started again); the stage's output."""
    stage = subprocess.Popen(
        STAGE, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    checkpoint = repo / ".dlrepro/checkpoints/s1/baseline/seed0.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and stage.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    jobs = _squeue(env, "--format=%i").split()
    seed_0 = next(job for job in jobs if job.endswith("_0"))
    subprocess.run(["scontrol", "requeue", seed_0], env=env, check=True, timeout=30)
    # SLURM holds a requeued job back for two minutes; release it now.
    while "PENDING" not in _squeue(env, f"--jobs={seed_0}", "--format=%T"):
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={seed_0}", "StartTime=now"], env=env, check=True)
    output, _ = stage.communicate(timeout=300)
    assert stage.returncode == 0, output
    return output


@pytest.mark.slow
@needs_raw_data
def test_a_smoke_stage_on_slurm_gives_the_local_bytes_even_when_pre_empted(tmp_path, slurm_cluster):
    repo = copy_repo(tmp_path / "repo")
    run = repo_commands(repo, **slurm_cluster)
    _set_params(repo, "local", epochs=2)  # the smoke stage as it is
    run("dlrepro", "s1", "prepare")
    seconds = {}
    results = {}
    for executor in ("local", "slurm"):
        _set_params(repo, executor, epochs=2)
        started = time.perf_counter()
        log = run(*STAGE)
        seconds[executor] = round(time.perf_counter() - started, 1)
        results[executor] = _results(repo)
    assert results["slurm"] == results["local"]
    assert "submitted as slurm jobs" in log and "s1/baseline seed 2: best_val_acc" in log
    assert not list((repo / ".dlrepro/slurm").iterdir()), "a stage that succeeded keeps no jobs"

    # Long enough to be still training when the requeue's kill lands (SLURM kills a step some
    # 7 s after its SIGTERM, which submitit's jobs ignore) on a fast, idle machine too: an
    # epoch takes 0.05 s idle (60 epochs ended in 3 s, before the kill) to 0.15 s under load.
    _set_params(repo, "local", epochs=400)
    run(*STAGE)
    uninterrupted = _results(repo)
    _set_params(repo, "slurm", epochs=400)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    log = _requeue_seed_0(repo, {**os.environ, **slurm_cluster, "PATH": path})
    assert "resuming from .dlrepro/checkpoints/s1/baseline/seed0.pt after epoch" in log, log
    assert _results(repo) == uninterrupted

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cluster-seeds.json").write_text(
        json.dumps({"stage": " ".join(STAGE), "profile": "smoke", "wall_s": seconds}) + "\n"
    )
