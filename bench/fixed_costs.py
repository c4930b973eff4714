"""Fixed costs of the pipeline, before and after a change (issue 33), in one run: what a stage
pays to start, a smoke `dvc repro --force`, a no-op `dvc status`, the size of `dvc.lock`, the
bytes of weights git tracks, and the two kernel fractions.

    python bench/fixed_costs.py --before 2ac8a8e   # about 30 min; bench/results/fixed_costs.json

Each revision runs from its own scratch copy (`git archive` of the revision; beside it this
checkout's data/, models/ and paper/_render and, for status, its DVC cache: a change that keeps
the results keeps those), with this venv and PYTHONPATH on the copy's src, so the revision is
all that differs. The two copies take turns, measurement by measurement, so drift in the shared
machine's speed hits both alike:
- stage start-up: a training stage's dry run (`dlrepro s1 train --variant baseline --dry-run`:
  start Python, read params, import, load the data, one two-batch epoch), median of `--repeats`;
  and the imports alone, and whether the run imported torch._dynamo;
- no-op `dvc status` on the embedded profile (median of `--repeats`, after one untimed run that
  fills the copy's hash cache); at the newer revision also with DVC's two hot spots removed
  in-process (params.yaml parsed once per command, not once per stage; a plain lookup instead of
  `dpath.get`'s walk of the whole file per key), what an upstream change to
  `dvc/dependency/param.py` would give;
- smoke `dvc repro --force`: every stage on the smoke profile, wall time, once per revision;
- `dvc.lock` and weights in git: read from git at both revisions;
- kernel fractions: bench/kernel_efficiency.py's `fractions` on each copy's code.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml
from common import alternating, write_result
from kernel_efficiency import fractions

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

STAGE_DRY_RUN = ["s1", "train", "--variant", "baseline", "--dry-run"]
IMPORTS = "import dlrepro.cli, dlrepro.experiments.s1_network_training"
DYNAMO_AFTER_DRY_RUN = f"""
import sys
from dlrepro.cli import main
main({STAGE_DRY_RUN!r})
print("torch._dynamo" in sys.modules)
"""

FAST_PARAMS = """
import copy, sys
import dvc.dependency.param as param
from dvc.cli import main
load, parsed = param.load_path, {}
def load_path(path, fs, **kwargs):
    if kwargs:
        return load(path, fs, **kwargs)
    if path not in parsed:
        parsed[path] = load(path, fs)
    return copy.deepcopy(parsed[path])
def get(config, key_path, separator="."):
    for part in key_path.split(separator):
        config = config[int(part) if isinstance(config, list) else part]
    return config
param.load_path, param.dpath.get = load_path, get
sys.exit(main(["status", "-q"]))
"""


def scratch_copy(revision: str, into: Path) -> Path:
    """`revision`'s files, this checkout's data/ and models/, and a git repository of its own."""
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for folder in ("data", "models", "paper/_render"):
        shutil.copytree(ROOT / folder, into / folder, dirs_exist_ok=True)
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=into, check=True, capture_output=True, env=_env(into))
    # status reads this checkout's cache (a stage's outputs must be in one to be up to date)
    run([str(BIN / "dvc"), "config", "--local", "cache.dir", str(ROOT / ".dvc" / "cache")], into)
    return into


def _env(copy: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(copy / "src"),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "WANDB_MODE": "disabled",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }


def run(command: list[str], copy: Path) -> str:
    """`command` in `copy`; one that fails (an import error, a status that is no no-op) stops
    the benchmark rather than time the failure."""
    done = subprocess.run(command, cwd=copy, env=_env(copy), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{command} failed in {copy}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def seconds(command: list[str], copy: Path) -> float:
    start = time.perf_counter()
    run(command, copy)
    return time.perf_counter() - start


def taking_turns(commands: dict[str, list[str]], copies: dict[str, Path], repeats: int) -> dict:
    """Median seconds of each command in each copy; the copies alternate within a repeat
    (`common.alternating`)."""
    medians = {}
    for name, command in commands.items():
        runs = {
            rev: lambda _, copy=copy, command=command: seconds(command, copy)
            for rev, copy in copies.items()
        }
        times = alternating(runs, repeats)
        medians[name] = {rev: round(statistics.median(t), 2) for rev, t in times.items()}
    return medians


def noop_status(copy: Path) -> None:
    out = run([str(BIN / "dvc"), "status"], copy)
    if "up to date" not in out:
        raise RuntimeError(f"`dvc status` in {copy} is no no-op:\n{out[:2000]}")


def smoke_repro(copy: Path) -> float:
    run([str(BIN / "dvc"), "config", "--local", "--unset", "cache.dir"], copy)  # its own cache
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["profile"] = "smoke"
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return round(seconds([str(BIN / "dvc"), "repro", "--force"], copy), 1)


def git_bytes(revision: str, paths: list[str]) -> int:
    """Bytes of the weights (`.pt` files) git tracks under `paths` at `revision`."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-l", revision, "--", *paths],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(int(line.split()[3]) for line in listing.splitlines() if line.endswith(".pt"))


def lock_size(revision: str) -> dict[str, int]:
    text = subprocess.run(
        ["git", "show", f"{revision}:dvc.lock"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return {"bytes": len(text), "lines": text.count(b"\n")}


def ratios(before_after: dict[str, float], before: str, after: str) -> dict:
    return {**before_after, "after / before": round(before_after[after] / before_after[before], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--after", default="HEAD", help="git revision (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    before, after = args.before, args.after
    python, dvc = sys.executable, str(BIN / "dvc")

    with tempfile.TemporaryDirectory() as scratch:
        copies = {rev: scratch_copy(rev, Path(scratch) / rev) for rev in (before, after)}
        for copy in copies.values():
            noop_status(copy)  # fills the copy's hash cache, and checks it is a no-op
        start_up = taking_turns(
            {
                "stage dry run (dlrepro s1 train --variant baseline --dry-run)": [
                    python, "-m", "dlrepro.cli", *STAGE_DRY_RUN,
                ],
                "imports (dlrepro, the stage, torch, pandas)": [python, "-c", IMPORTS],
            },
            copies,
            args.repeats,
        )  # fmt: skip
        dynamo = {
            rev: run([python, "-c", DYNAMO_AFTER_DRY_RUN], copy).split()[-1] == "True"
            for rev, copy in copies.items()
        }
        status = taking_turns({"dvc status": [dvc, "status", "-q"]}, copies, args.repeats)
        fast_status = taking_turns(
            {"patched": [python, "-c", FAST_PARAMS]}, {after: copies[after]}, args.repeats
        )["patched"][after]
        kernels = {rev: fractions(source=copy) for rev, copy in copies.items()}
        smoke = {rev: smoke_repro(copy) for rev, copy in copies.items()}

    weights = ["data/prepared/s2/pretrained", "models"]
    result = {
        "before": before,
        "after": after,
        "start_up_s": {name: ratios(t, before, after) for name, t in start_up.items()},
        "imports_torch_dynamo": dynamo,
        "noop_status_s": {
            "dvc status": ratios(status["dvc status"], before, after),
            "dvc status, params parsed once and looked up plainly (after)": fast_status,
        },
        "smoke_repro_force_s": ratios(smoke, before, after),
        "dvc_lock": {rev: lock_size(rev) for rev in (before, after)},
        "weights_in_git_bytes": {rev: git_bytes(rev, weights) for rev in (before, after)},
        "kernel_fraction_of_fma_peak": {
            network: ratios({rev: kernels[rev][network] for rev in kernels}, before, after)
            for network in kernels[after]
        },
        "load_average_at_end": os.getloadavg(),
    }
    for name, value in result.items():
        print(f"{name}: {value}")
    write_result("fixed_costs", result)


if __name__ == "__main__":
    main()
