"""Seeds side by side: wall time of three seeds trained one after another on every core
against three forked processes of one thread each (`compute.seed_processes`).

Each seed runs dlrepro's loop (`fit`, as in bench/loop_overhead.py) on the same model and
data; the row is the wall time of all three seeds. Models: loop_overhead's (the Section 1 CNN,
Section 2's quarter-width VGG-16, which the stages still train one seed at a time because its
seconds per epoch are a result, Section 3's LSTMs, Section 4's CNN autoencoder) and the Section
4 denoiser trained on MS-SSIM, the pipeline's longest stage. Only where side by side wins is it
the default.

    python bench/seed_processes.py [--epochs 2] [--repeats 3]

Writes bench/results/seed_processes.json (with the machine it ran on) and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch
from common import alternating, write_result
from loop_overhead import MODELS, digits, our_epochs, section4_autoencoder

from dlrepro.config import ComputeConfig
from dlrepro.training import compute
from dlrepro.training.losses import image_loss

SEEDS = [0, 1, 2]
DENOISER = (
    section4_autoencoder,
    digits,
    lambda: image_loss("ms_ssim", ssim_win_size=11, ms_ssim_win_size=3, ms_ssim_size=64),
)


def three_seeds(name: str, processes: int, args: argparse.Namespace, _repeat: int) -> float:
    """Wall time of the three seeds; every repeat seeds alike (`_repeat` is `alternating`'s)."""
    build, make_data, loss = {**MODELS, "s4_denoise_ms_ssim": DENOISER}[name]
    train, val = make_data(args.n_train), make_data(args.n_train // 4)

    def one_seed(seed: int) -> float:
        torch.manual_seed(seed)
        return our_epochs(build(), train, val, args.epochs, loss())

    compute.configure(ComputeConfig(seed_processes=processes), torch.device("cpu"))
    started = time.perf_counter()
    compute.map_seeds(one_seed, SEEDS)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2000)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    rows = []
    for name in [*MODELS, "s4_denoise_ms_ssim"]:
        ways = {"one_after_another": 1, "side_by_side": len(SEEDS)}
        times = alternating(
            {way: partial(three_seeds, name, n, args) for way, n in ways.items()}, args.repeats
        )
        serial, parallel = (statistics.median(times[way]) for way in ways)
        rows.append(
            {
                "model": name,
                "one_after_another_s": round(serial, 2),
                "side_by_side_s": round(parallel, 2),
                "speedup": round(serial / parallel, 2),
                "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
            }
        )
    result = {
        "compared": f"3 seeds on {threads} threads in one process vs 3 processes of 1 thread",
        "settings": vars(args),
        "results": rows,
    }
    write_result("seed_processes", result)
    print(f"{'model':<20}{'one after another':>19}{'side by side':>14}{'speed-up':>10}")
    for row in rows:
        print(
            f"{row['model']:<20}{row['one_after_another_s']:>18}s{row['side_by_side_s']:>13}s"
            f"{row['speedup']:>9}x"
        )


if __name__ == "__main__":
    main()
