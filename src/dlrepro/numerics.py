"""The numeric contract: on the CPU, the same params give the same bytes on any x86-64 machine.

PyTorch's ATen kernels, oneDNN (convolutions), MKL (matrix products) and numpy's OpenBLAS each
pick their code path from the CPU they find, and an AVX-512 path rounds differently from an AVX2
one: the same run on two machines then drifts apart epoch by epoch. `compute.cpu_isa` pins every
one of them to one instruction-set level, through the environment variables each library reads
once, when it is loaded, so `apply` must run before numpy or torch is imported (`dlrepro`'s
entry point and the test suite's conftest call it first). Thread counts are part of the
contract too (training/compute.py): a parallel reduction splits its sum by thread.

What was measured (Section 1 baseline, 3 seeds, on an AVX-512 machine): each of these variables
changes the trained weights when left to the CPU (ATen's and oneDNN's together; MKL's alone);
numpy's OpenBLAS serves scikit-learn (Section 4's PCA and code classifiers).

GPU runs are not covered: cuDNN and cuBLAS choose kernels per card and driver; where asked,
`torch.use_deterministic_algorithms` makes a run repeat on the same card, not across cards.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Literal

CpuIsa = Literal["avx2", "avx512", "native"]

CONTRACTS: dict[str, dict[str, str]] = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
    },
    "avx512": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "MKL_CBWR": "AVX512",
        "OPENBLAS_CORETYPE": "SkylakeX",
    },
    "native": {},
}
"""Per level, what each library is told: ATen, oneDNN, MKL (conditional numerical
reproducibility), OpenBLAS. `native` leaves every library to the CPU (fastest, machine-bound)."""

REQUIRED_FLAGS = {"avx2": ("avx2", "fma"), "avx512": ("avx512f", "avx512bw", "avx512vl")}
"""/proc/cpuinfo flags a level needs: without them the libraries would quietly fall back."""

TORCH_CAPABILITY = {"avx2": "AVX2", "avx512": "AVX512"}
"""What `torch.backends.cpu.get_cpu_capability()` reports once a level is in force."""


class ContractError(RuntimeError):
    """The numeric contract cannot hold in this process or on this CPU."""


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def apply(isa: CpuIsa) -> None:
    """Put the contract's variables in the environment (this process and every process it
    starts), overriding any the user set: the level is a param, recorded by DVC."""
    missing = [flag for flag in REQUIRED_FLAGS.get(isa, ()) if flag not in cpu_flags()]
    if missing and platform.machine() in ("x86_64", "AMD64"):
        raise ContractError(
            f"compute.cpu_isa = {isa} needs the CPU flags {', '.join(missing)}, which this CPU "
            "lacks; set compute.cpu_isa: native to run anyway (results then differ in the last "
            "bits from those made under the contract)"
        )
    loaded = [name for name in ("torch", "numpy") if name in sys.modules]
    changed = [k for k, v in CONTRACTS[isa].items() if os.environ.get(k) != v]
    if loaded and changed:
        raise ContractError(
            f"{' and '.join(loaded)} was imported before the numeric contract was applied, so "
            f"{', '.join(changed)} cannot take effect; call dlrepro.numerics.apply first"
        )
    os.environ.update(CONTRACTS[isa])


def verify(isa: CpuIsa) -> None:
    """After torch is loaded: fail if ATen did not take the contract's level."""
    import torch

    expected = TORCH_CAPABILITY.get(isa)
    found = torch.backends.cpu.get_cpu_capability()
    if expected is not None and found != expected:
        raise ContractError(
            f"compute.cpu_isa = {isa} but torch runs its {found} kernels: ATEN_CPU_CAPABILITY "
            "was set after torch was loaded; start the stage through the `dlrepro` command"
        )


def describe(isa: CpuIsa) -> dict[str, str]:
    """The contract in force and the CPU it ran on (for the provenance table)."""
    pinned = CONTRACTS[isa]
    wide = "AVX-512" if "avx512f" in cpu_flags() else "no AVX-512"
    return {
        "numeric contract (`compute.cpu_isa`)": isa,
        "library settings": ", ".join(f"{k}={v}" for k, v in pinned.items()) or "none (native)",
        "CPU (the machine that wrote this table)": f"{cpu_model()} ({wide})",
    }
