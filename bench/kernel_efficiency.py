"""Kernel efficiency: the fraction of one core's fp32 peak that a training step of Section 2's
ResNet-50 (quarter width) and Section 4's CNN autoencoder reaches (issue 33; target 0.4 of the
AVX2 FMA peak), with Section 2's quarter-width VGG-16 and the MS-SSIM denoiser for comparison.

What a step is: each network as its stage builds it (the stage's model code, params.yaml's
embedded sizes), at its stage's batch size, through `compute.prepare_model` (channels-last, the
oneDNN layers) with the stage's optimizer (`make_optimizer`: fused Adam) and loss, on one
thread under the numeric contract, as a seed worker trains it: forward, loss, backward, Adam.
Each network is measured in a fresh process (the contract is applied before torch loads).

FLOPs: torch.utils.flop_counter.FlopCounterMode over one forward and backward pass of the
network on torch's own layers (the counter knows no oneDNN inner product, and multiplies a
depthwise convolution's weight gradient by its groups; the routed layers compute the same
products): 2 per multiply-add of every convolution, transposed convolution and matrix product,
forward and the gradients autograd computes (none for the first layer's input). Nominal:
kernel taps that fall on zero padding count too (oneDNN's direct kernels skip them), and
element-wise work (batch norm, ReLU, pooling, the loss's own arithmetic, Adam) counts nothing.

Peaks, one core:
- `fma`, the target's: 2 FMA units x 8 fp32 lanes x 2 flops = 32 flops a cycle at the clock the
  core runs, measured by bench/fma_peak.c (12 chains of AVX2 FMAs, built with the system's cc;
  without a compiler, 32 x the clock /proc/cpuinfo states, the base clock, and it says so);
- `onednn`, practical: the best rate oneDNN reaches here under the contract, on one large
  convolution and one large matrix product.

Time per step, min and median over the timed steps of every round: the thread's CPU seconds
(the core's time the step took, whatever else the shared machine ran meanwhile) and wall
seconds (equal on an idle machine; on a busy one, longer by the time other processes held the
core). Fractions use the CPU time, as the FMA peak does; min is the closest to an unshared
core (caches too), the median says how steady it was. `where_time_goes` splits
one profiled step (torch.profiler, self time by operator) into convolutions and matrix
products, batch norm and the rest, scaled to the unprofiled step; `kernel_rate` is the
step's FLOPs over the convolution and matrix-product share alone: what the network's kernels
reach at these shapes, the bound were everything else free.

    python bench/kernel_efficiency.py [--steps 30] [--rounds 3] [--before REV]

`--before REV` measures git revision REV too (a temporary worktree), interleaved with this
checkout round by round, and reports both. Writes bench/results/kernel_efficiency.json.
Other benchmarks import `fractions` (or `measure`, `peaks` and `summarise`): it starts its own
processes, so the importer's torch and environment do not matter.

Measured (2026-12-06, AMD EPYC Zen 4 at 3.66 GHz, `--before 18f151f --rounds 3`): ResNet-50
0.241 -> 0.257 of the FMA peak, CNN autoencoder 0.274 -> 0.338, VGG-16 0.613 -> 0.643; the 0.4
target is not met. What bounds it: ResNet-50's convolutions and matrix products alone (their
operators' time, per-call costs included) run at 0.368 of the peak at its shapes (batch 32,
1 x 1 to 16 x 16 pixels, 16 to 512 channels), so no saving elsewhere reaches 0.4; the
autoencoder's run at 0.485, and its batch norms, ReLUs, loss and Adam (5.6 of 18.4 ms) hold it
at 0.34.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NETWORKS = ("resnet50", "cnn_autoencoder", "vgg16", "cnn_denoiser_ms_ssim")
TARGETS = ("resnet50", "cnn_autoencoder")
TARGET_FRACTION = 0.4
FLOPS_PER_CYCLE = 32
"""AVX2: 2 FMA units x 8 fp32 lanes x 2 flops."""
FASHION_MNIST_SIDE = 28
"""Section 2's prepared images (Fashion-MNIST, 1 x 28 x 28); its input adapter resizes them."""


# The measurement, in a worker process ---------------------------------------------------------


def _step_parts(network: str):
    """(model, batch, target, loss) of `network` as its stage trains it."""
    import torch
    from torch import nn

    import dlrepro
    from dlrepro.config import load_params
    from dlrepro.models.autoencoders import ConvAutoencoder
    from dlrepro.training.losses import image_loss

    # The params of the checkout the code comes from (`--before` imports another one's).
    params = load_params(Path(dlrepro.__file__).parents[2] / "params.yaml")
    generator = torch.Generator().manual_seed(0)
    if network in ("resnet50", "vgg16"):
        from dlrepro.experiments.s2_cnn_regimes import build_model

        cfg = params.s2
        classes = cfg.target.classes
        manifest = {"normalisation": {"mean": [0.29], "std": [0.35]}, "classes": classes}
        model = build_model(cfg, network, manifest, None, freeze_base=False)
        batch = cfg.train.batch_size
        x = torch.randn(batch, 1, FASHION_MNIST_SIDE, FASHION_MNIST_SIDE, generator=generator)
        y = torch.randint(0, len(classes), (batch,), generator=generator)
        return model, x, y, nn.CrossEntropyLoss()
    cfg = params.s4
    side = cfg.image_size
    x = torch.rand(cfg.train.batch_size, 1, side, side, generator=generator)
    if network == "cnn_autoencoder":
        return ConvAutoencoder(side, cfg.code_dim, cfg.cnn.channels), x, x, nn.MSELoss()
    if network == "cnn_denoiser_ms_ssim":
        dn = cfg.denoise
        loss = image_loss(
            "ms_ssim",
            ssim_win_size=dn.ssim_win_size,
            ms_ssim_win_size=dn.ms_ssim_win_size,
            ms_ssim_size=dn.ms_ssim_size,
        )
        return ConvAutoencoder(side, dn.code_dim, cfg.cnn.channels), x, x, loss
    raise ValueError(f"unknown network {network!r}; known: {', '.join(NETWORKS)}")


def _worker(network: str, steps: int) -> dict:
    """Measure one network in this process (the contract applied before torch loads)."""
    from dlrepro import numerics

    numerics.apply("avx2")
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from dlrepro.config import ComputeConfig, TrainConfig
    from dlrepro.training import compute
    from dlrepro.training.loop import make_optimizer

    compute.configure(ComputeConfig(threads=1), torch.device("cpu"))
    torch.manual_seed(0)
    model, x, y, loss_fn = _step_parts(network)
    with FlopCounterMode(display=False) as counter:
        # On torch's own layers: the counter knows no oneDNN inner product, and multiplies a
        # depthwise convolution's weight gradient by its groups (the routed layers compute
        # the same products).
        loss_fn(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    model = compute.prepare_model(model)
    optimizer = make_optimizer(
        model, TrainConfig(epochs=1, batch_size=len(x), lr=1e-3, optimizer="adam", patience=1)
    )
    x = compute.layout(x)  # as the loop lays out batches (targets as they are)

    def step() -> None:  # the training loop's step (training/loop.py `fit`)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # first calls create oneDNN's primitives
        step()
    wall, cpu = [], []
    for _ in range(steps):
        started, started_cpu = time.perf_counter(), time.thread_time()
        step()
        wall.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
    return {
        "network": network,
        "batch": len(x),
        "params": sum(p.numel() for p in model.parameters()),
        "flops": counter.get_total_flops(),
        "wall_s": wall,
        "cpu_s": cpu,
        "where_time_goes": _where_time_goes(step, min(cpu)),
    }


MATMULS = {"mm", "addmm", "bmm", "_linear_pointwise"}


def _category(operator: str) -> str:
    if "convolution" in operator or operator in MATMULS:
        return "conv_matmul"
    return "batch_norm" if "batch_norm" in operator else "other"


def _where_time_goes(step, step_seconds: float) -> dict:
    """Seconds of an unprofiled step per category, and the operator calls per step, from
    self times of profiled steps (the profiler's own cost spread in proportion)."""
    from torch.profiler import ProfilerActivity, profile

    repeats = 5
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        for _ in range(repeats):
            step()
    spent = {"conv_matmul": 0.0, "batch_norm": 0.0, "other": 0.0}
    calls = 0
    for event in profiled.key_averages():
        library, _, operator = event.key.partition("::")
        if library not in ("aten", "mkldnn"):
            continue  # autograd's and the optimizer's wrappers: their operators count instead
        calls += event.count
        spent[_category(operator)] += event.self_cpu_time_total
    total = sum(spent.values())
    return {
        "seconds": {name: step_seconds * value / total for name, value in spent.items()},
        "aten_calls_per_step": calls // repeats,
    }


# Peaks -----------------------------------------------------------------------------------------


def fma_peak() -> dict:
    """One core's AVX2 FMA peak in FLOP/s: measured, or from the stated clock without cc."""
    compiler = shutil.which("cc")
    if compiler is not None:
        with tempfile.TemporaryDirectory() as scratch:
            binary = Path(scratch) / "fma_peak"
            source = Path(__file__).with_name("fma_peak.c")
            subprocess.run(
                [compiler, "-O2", "-mavx2", "-mfma", str(source), "-o", str(binary)], check=True
            )
            rate = float(subprocess.run([binary], capture_output=True, text=True).stdout.split()[0])
        return {"flops": rate * 1e9, "clock_ghz": rate / FLOPS_PER_CYCLE, "how": "measured"}
    from dlrepro import numerics

    megahertz = float(numerics._cpuinfo_field("cpu MHz") or "nan")
    return {
        "flops": FLOPS_PER_CYCLE * megahertz * 1e6,
        "clock_ghz": megahertz / 1e3,
        "how": "stated clock of /proc/cpuinfo (no cc to measure with): the base clock",
    }


def _onednn_peak_worker() -> dict:
    """Best FLOP/s of oneDNN under the contract on one thread: a large convolution (no
    padding, so every tap is real work) and a large matrix product."""
    from dlrepro import numerics

    numerics.apply("avx2")
    import torch
    import torch.nn.functional as F

    from dlrepro.training.cpu_kernels import inner_product

    torch.set_num_threads(1)
    channels_last = torch.channels_last
    # 34 x 34 without padding: 32 x 32 outputs of 9 taps each (9,216 per channel pair)
    image = torch.randn(32, 64, 34, 34).contiguous(memory_format=channels_last)
    filters = torch.randn(64, 64, 3, 3).contiguous(memory_format=channels_last)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    cases = {
        "conv3x3_64ch_32x32_batch32": (lambda: F.conv2d(image, filters), 2 * 32 * 64 * 64 * 9216),
        "matmul_1024": (lambda: inner_product(a, b), 2 * 1024**3),
    }
    rates = {}
    for name, (run, flops) in cases.items():
        run()
        best = min(_timed(run, time.thread_time) for _ in range(10))
        rates[name] = flops / best
    return rates


def _timed(run, clock) -> float:
    started = clock()
    run()
    return clock() - started


# Orchestration ---------------------------------------------------------------------------------


def _in_subprocess(args: list[str], source: Path) -> dict:
    """What this script prints as JSON when run with `args`, importing dlrepro from `source`."""
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def measure(network: str, steps: int = 30, source: Path = REPO) -> dict:
    """One network's step, FLOPs and time breakdown, measured in a fresh process on the code
    under `source` (a checkout of this repository)."""
    return _in_subprocess(["--worker", network, "--steps", str(steps)], source)


def peaks() -> dict:
    onednn = _in_subprocess(["--onednn-peak"], REPO)
    return {"fma": fma_peak(), "onednn": {"flops": max(onednn.values()), "cases": onednn}}


def fractions(
    networks: tuple[str, ...] = TARGETS, steps: int = 30, rounds: int = 3, source: Path = REPO
) -> dict[str, float]:
    """Fraction of the AVX2 FMA peak each network's step reaches on the code under `source`,
    from `rounds` fresh processes (what bench/fixed_costs.py reports for issue 33)."""
    peak = peaks()
    return {
        network: summarise([measure(network, steps, source) for _ in range(rounds)], peak)[
            "fraction_of_fma_peak"
        ]
        for network in networks
    }


def summarise(runs: list[dict], peak: dict) -> dict:
    """One network's rounds combined: FLOPs, step times, fractions of each peak."""
    wall = [t for run in runs for t in run["wall_s"]]
    cpu = [t for run in runs for t in run["cpu_s"]]
    flops = runs[0]["flops"]
    fastest = min(runs, key=lambda run: min(run["cpu_s"]))["where_time_goes"]
    conv_matmul = fastest["seconds"]["conv_matmul"]
    return {
        "batch": runs[0]["batch"],
        "params": runs[0]["params"],
        "gflop_per_step": round(flops / 1e9, 4),
        "step_ms": {
            "cpu_min": round(min(cpu) * 1e3, 2),
            "cpu_median": round(statistics.median(cpu) * 1e3, 2),
            "wall_min": round(min(wall) * 1e3, 2),
            "wall_median": round(statistics.median(wall) * 1e3, 2),
        },
        "gflops": round(flops / min(cpu) / 1e9, 2),
        "fraction_of_fma_peak": round(flops / min(cpu) / peak["fma"]["flops"], 3),
        "fraction_of_onednn_peak": round(flops / min(cpu) / peak["onednn"]["flops"], 3),
        "fraction_of_fma_peak_at_median": round(
            flops / statistics.median(cpu) / peak["fma"]["flops"], 3
        ),
        "where_time_goes_ms": {k: round(v * 1e3, 2) for k, v in fastest["seconds"].items()},
        "aten_calls_per_step": fastest["aten_calls_per_step"],
        "kernel_rate_fraction_of_fma_peak": round(flops / conv_matmul / peak["fma"]["flops"], 3),
    }


@contextmanager
def _worktree(revision: str):
    """A temporary checkout of `revision` (git worktree), removed afterwards."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "checkout"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), revision],
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=True
            )


def _table(label: str, rows: dict) -> None:
    print(f"\n{label}")
    print(
        f"{'network':22} {'GFLOP':>7} {'cpu min':>8} {'cpu med':>8} {'GFLOP/s':>8} "
        f"{'of FMA':>7} {'of oneDNN':>9} {'kernels':>8}"
    )
    for network, row in rows.items():
        print(
            f"{network:22} {row['gflop_per_step']:7.3f} {row['step_ms']['cpu_min']:8.1f} "
            f"{row['step_ms']['cpu_median']:8.1f} {row['gflops']:8.1f} "
            f"{row['fraction_of_fma_peak']:7.3f} {row['fraction_of_onednn_peak']:9.3f} "
            f"{row['kernel_rate_fraction_of_fma_peak']:8.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per network")
    parser.add_argument("--before", help="git revision to measure too, interleaved")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--onednn-peak", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.steps)))
        return
    if args.onednn_peak:
        print(json.dumps(_onednn_peak_worker()))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from common import write_result

    peak = peaks()
    print(
        f"peaks: AVX2 FMA {peak['fma']['flops'] / 1e9:.1f} GFLOP/s "
        f"({peak['fma']['clock_ghz']:.2f} GHz, {peak['fma']['how']}); "
        f"oneDNN best {peak['onednn']['flops'] / 1e9:.1f} GFLOP/s"
    )
    with _worktree(args.before) if args.before else _no_worktree() as before_source:
        sources = {"after": REPO, **({"before": before_source} if args.before else {})}
        runs: dict[str, dict[str, list]] = {label: {n: [] for n in NETWORKS} for label in sources}
        for round_ in range(args.rounds):
            for network in NETWORKS:
                labels = list(sources) if round_ % 2 == 0 else list(reversed(sources))
                for label in labels:
                    runs[label][network].append(measure(network, args.steps, sources[label]))
    results = {
        label: {network: summarise(r, peak) for network, r in by_network.items()}
        for label, by_network in runs.items()
    }
    for label, rows in results.items():
        _table(f"{label} ({args.before if label == 'before' else 'this checkout'})", rows)
    after = results["after"]
    met = {n: after[n]["fraction_of_fma_peak"] >= TARGET_FRACTION for n in TARGETS}
    print(f"\ntarget: >= {TARGET_FRACTION} of the AVX2 FMA peak: {met}")
    write_result(
        "kernel_efficiency",
        {
            "settings": {
                "steps": args.steps,
                "rounds": args.rounds,
                "before": args.before,
                "threads": 1,
                "cpu_isa": "avx2",
                "load_average": os.getloadavg(),
            },
            "counted": "FlopCounterMode: convolutions (incl. transposed) and matrix products, "
            "forward and backward, nominal (padding taps included); element-wise work not counted",
            "peaks": peak,
            "target": {"fraction_of": "fma", "at_least": TARGET_FRACTION, "met": met},
            "results": results,
        },
    )


@contextmanager
def _no_worktree():
    yield None


if __name__ == "__main__":
    main()
