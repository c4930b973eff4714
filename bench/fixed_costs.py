"""Fixed costs of the pipeline, before and after a change (issue 33): what every stage pays to
start, what a no-op `dvc status` costs and where it goes, how big `dvc.lock` is, and how many
bytes of weights each regeneration adds to git's history.

    python bench/fixed_costs.py --before 2432469   # writes bench/results/fixed_costs.json

Start-up and status are timed on this checkout (median of `--repeats` fresh processes, while
nothing else runs); the lock and the weights are read from git at both revisions. The no-op
status is also timed with DVC's two hot spots removed in-process (params.yaml parsed once per
command instead of once per stage; a plain dict lookup instead of `dpath.get`'s walk of the whole
file per key): what an upstream change to `dvc/dependency/param.py` would give.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import write_result

ROOT = Path(__file__).resolve().parents[1]

# Each step of a training stage's start, timed alone in a fresh interpreter.
START_UP = {
    "python": "pass",
    "import torch": "import torch",
    "import the stage (dlrepro, torch, pandas, kornia)": (
        "import dlrepro.cli, dlrepro.experiments.s1_network_training"
    ),
    "+ torch._dynamo (the optimizer's first step imports it)": (
        "import dlrepro.cli, dlrepro.experiments.s1_network_training, torch._dynamo"
    ),
}

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


def seconds(command: list[str], repeats: int) -> float:
    """Median wall time of `command`; one that fails (an import error, a `dvc status` that is
    no no-op) stops the benchmark rather than time the failure."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 2)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    python = [sys.executable, "-c"]
    start_up = {name: seconds([*python, code], args.repeats) for name, code in START_UP.items()}
    dvc = str(Path(sys.executable).parent / "dvc")
    status = {
        "dvc status": seconds([dvc, "status", "-q"], args.repeats),
        "dvc status, params parsed once and looked up plainly": seconds(
            [*python, FAST_PARAMS], args.repeats
        ),
    }
    weights = ["data/prepared/s2/pretrained", "models"]
    result = {
        "start_up_s": start_up,
        "noop_status_s": status,
        "dvc_lock": {rev: lock_size(rev) for rev in (args.before, "HEAD")},
        "weights_in_git_bytes": {rev: git_bytes(rev, weights) for rev in (args.before, "HEAD")},
        "before": args.before,
    }
    for name, value in result.items():
        print(f"{name}: {value}")
    write_result("fixed_costs", result)


if __name__ == "__main__":
    main()
