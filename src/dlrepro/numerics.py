"""The numeric contract: on the CPU, the same params give the same bytes on any x86-64 machine.

PyTorch's ATen kernels, oneDNN (convolutions), MKL (matrix products), numpy's own SIMD loops
and its OpenBLAS each pick their code path from the CPU they find, and an AVX-512 path rounds
differently from an AVX2 one: the same run on two machines then drifts apart epoch by epoch.
`compute.cpu_isa` pins every one of them to one instruction-set level, through the environment
variables each library reads once, when it is loaded, so `apply` must run before numpy or
torch is imported (`dlrepro`'s entry point and the test suite's conftest call it first). Thread
counts are part of the contract too (training/compute.py): a parallel reduction splits its sum
by thread.

What was measured (Section 1 baseline, 3 seeds, on an AVX-512 machine): each of these variables
changes the trained weights when left to the CPU (ATen's and oneDNN's together; MKL's alone);
numpy's OpenBLAS serves scikit-learn (Section 4's PCA and code classifiers).

MKL is pinned to its COMPATIBLE branch, not to an instruction set: MKL honours an ISA branch
(`MKL_CBWR=AVX2`) on Intel CPUs only and turns it into AUTO on any other vendor's, so an AMD
EPYC computed matrix products on its own path (measured on a Zen 4 EPYC: `mkl_serv_cbwr_get`
read AUTO under `MKL_CBWR=AVX2`, and a 64x300 by 300x70 product differed from the one an
emulated Intel Haswell computed; under COMPATIBLE the two agree on every shape tried). The
price is MKL's SSE2 kernels for matrix products: on that EPYC a dense network's training step
took 2.0x as long, a small CNN's 1.17x.

One of torch's CPU paths no variable pins, so the code avoids it: MKL's vector maths (torch's
elementwise sqrt, atan, log2, ... call it, and it rounds by CPU vendor whatever MKL_CBWR says),
which Adam's square root took until Adam was built fused (training/loop.py `adam_kernel`).
numpy's float64 exp, log, pow, arctan, ... have AVX-512 loops that round differently from its
AVX2 ones: NPY_DISABLE_CPU_FEATURES turns them off. tests/test_numerics.py trains each of the
project's networks on this CPU and on an emulated Intel Haswell (qemu 8 or newer: 7.2
mis-emulates the AVX2 gathers of oneDNN's LSTM and crashes) and compares the bytes.

GPU runs are not covered: cuDNN and cuBLAS choose kernels per card and driver; where asked,
`torch.use_deterministic_algorithms` makes a run repeat on the same card, not across cards.
"""

from __future__ import annotations

import ctypes
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
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    },
    "avx512": {
        "ATEN_CPU_CAPABILITY": "avx512",
        "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "SkylakeX",
        "NPY_DISABLE_CPU_FEATURES": "AVX512_ICL AVX512_SPR",
    },
    "native": {},
}
"""Per level, what each library is told: ATen, oneDNN, MKL (conditional numerical
reproducibility: the one branch every vendor's CPU honours, see above), OpenBLAS, numpy's
dispatched loops. `native` leaves every library to the CPU (fastest, machine-bound)."""

REQUIRED_FLAGS = {"avx2": ("avx2", "fma"), "avx512": ("avx512f", "avx512bw", "avx512vl")}
"""/proc/cpuinfo flags a level needs: without them the libraries would quietly fall back."""

TORCH_CAPABILITY = {"avx2": "AVX2", "avx512": "AVX512"}
"""What `torch.backends.cpu.get_cpu_capability()` reports once a level is in force."""

MKL_CBWR_BRANCH, MKL_CBWR_COMPATIBLE = 1, 3
"""mkl_service.h's constants: `mkl_cbwr_get(MKL_CBWR_BRANCH)` returns the branch in force."""


class ContractError(RuntimeError):
    """The numeric contract cannot hold in this process or on this CPU."""


def _cpuinfo_field(name: str) -> str | None:
    """The first CPU's `name` line of /proc/cpuinfo (None off Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    return None


def cpu_flags() -> set[str]:
    return set((_cpuinfo_field("flags") or "").split())


def cpu_vendor() -> str:
    """`GenuineIntel`, `AuthenticAMD`, ...: MKL takes its ISA branches on Intel's only."""
    return _cpuinfo_field("vendor_id") or ""


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


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


def mkl_branch() -> int | None:
    """The code branch torch's MKL computes on (MKL_CBWR_* of mkl_service.h), or None where
    torch carries no MKL (aarch64 builds)."""
    import torch

    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        get = library.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    return get(MKL_CBWR_BRANCH)


def verify(isa: CpuIsa) -> None:
    """After torch is loaded: fail if ATen did not take the contract's level, MKL its branch or
    numpy its loops."""
    import torch

    expected = TORCH_CAPABILITY.get(isa)
    found = torch.backends.cpu.get_cpu_capability()
    if expected is not None and found != expected:
        raise ContractError(
            f"compute.cpu_isa = {isa} but torch runs its {found} kernels: ATEN_CPU_CAPABILITY "
            "was set after torch was loaded; start the stage through the `dlrepro` command"
        )
    import numpy

    dispatched = numpy._core._multiarray_umath.__cpu_features__
    disabled = CONTRACTS[isa].get("NPY_DISABLE_CPU_FEATURES", "").split()
    if enabled := [feature for feature in disabled if dispatched.get(feature)]:
        raise ContractError(
            f"compute.cpu_isa = {isa} but numpy runs its {', '.join(enabled)} loops: "
            "NPY_DISABLE_CPU_FEATURES was set after numpy was loaded; start the stage through "
            "the `dlrepro` command"
        )
    branch = mkl_branch()
    if CONTRACTS[isa].get("MKL_CBWR") == "COMPATIBLE" and branch not in (None, MKL_CBWR_COMPATIBLE):
        raise ContractError(
            f"compute.cpu_isa = {isa} but MKL computes on branch {branch}, not COMPATIBLE "
            f"({MKL_CBWR_COMPATIBLE}): MKL_CBWR was set after torch was loaded; start the stage "
            "through the `dlrepro` command"
        )


def describe(isa: CpuIsa) -> dict[str, str]:
    """The contract in force and the CPU it ran on (for the provenance table)."""
    pinned = CONTRACTS[isa]
    wide = ", ".join([cpu_vendor(), "AVX-512" if "avx512f" in cpu_flags() else "no AVX-512"])
    return {
        "numeric contract (`compute.cpu_isa`)": isa,
        "library settings": ", ".join(f"{k}={v}" for k, v in pinned.items()) or "none (native)",
        "CPU (the machine that wrote this table)": f"{cpu_model()} ({wide})",
    }
