"""Peak memory of preparing Tiny-ImageNet (the paper profile's `s2_prepare` target) by size.

A synthetic set in Tiny-ImageNet's extracted layout (tests/standins.py: 64x64 JPEGs, 200
classes, one greyscale) is written once per size, then `prepare_images` runs on it as the stage
runs it (all training images, the official validation split as test, val_fraction 0.1) in a
fresh interpreter, whose peak resident memory (its own `getrusage(RUSAGE_SELF).ru_maxrss` at
the end) and wall time are recorded. The full size is 500 training and 50 validation images
per class.

    python bench/prepare_memory.py --per-class 55 110 500    # writes 121k JPEGs: ~10 min here

Writes bench/results/prepare_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the stand-in builders live with the tests
# Before torch (common imports it): importing tests applies the numeric contract.
from tests.standins import write_tiny_imagenet  # noqa: E402, I001
from common import write_result  # noqa: E402

CLASSES = 200
PREPARE = """
import json, resource, sys
from pathlib import Path
import dlrepro
from dlrepro.data import sources, tiny_imagenet
from dlrepro.data.prepare import prepare_images
raw = Path(sys.argv[1])
sources.register(sources.DatasetSpec("standin", "test", "", {"offline": {}}, {},
                                     tiny_imagenet.load))
(raw / "standin" / "SOURCE.json").write_text(json.dumps(
    {"source": "offline", "licence": "test", "homepage": "", "files": {}}))
manifest = prepare_images("standin", raw, Path(sys.argv[2]), n_train=None, n_test=None,
                          val_fraction=0.1)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"counts": manifest["counts"], "peak_kib": peak_kib}))
"""


def measure(train_per_class: int, work: Path) -> dict:
    raw = work / f"raw{train_per_class}"
    write_tiny_imagenet(raw / "standin", CLASSES, train_per_class, max(1, train_per_class // 10))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PREPARE, str(raw), str(work / f"out{train_per_class}")],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    child = json.loads(done.stdout.strip().splitlines()[-1])
    prepared = sum(path.stat().st_size for path in (work / f"out{train_per_class}").iterdir())
    row = {
        "train_images": train_per_class * CLASSES,
        "counts": child["counts"],
        "peak_rss_gb": round(child["peak_kib"] / 2**20, 3),
        "prepared_gb": round(prepared / 2**30, 3),
        "seconds": round(seconds, 1),
    }
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[55, 110, 500])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        rows = [measure(n, Path(work)) for n in args.per_class]
    write_result("prepare_memory", {"rows": rows})


if __name__ == "__main__":
    main()
