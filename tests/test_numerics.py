"""The numeric contract: the level params name is the level every library computes at, whatever
the environment asked for, and a process that cannot honour it fails instead of drifting."""

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from dlrepro import numerics

# A few Adam steps of a small CNN: convolutions (oneDNN), a matrix product (MKL) and
# element-wise kernels (ATen), each of which rounds differently per instruction set.
TRAINING_STEPS = """
import hashlib, sys
from dlrepro import numerics
numerics.apply(sys.argv[1])
import torch
numerics.verify(sys.argv[1])
torch.set_num_threads(1)
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3),
    torch.nn.Flatten(), torch.nn.Linear(32 * 12 * 12, 10),
)
optimizer = torch.optim.Adam(net.parameters(), 1e-3)
x, y = torch.randn(64, 3, 16, 16), torch.randint(0, 10, (64,))
for _ in range(int(sys.argv[2])):
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()
weights = b"".join(p.detach().numpy().tobytes() for p in net.parameters())
print(hashlib.sha256(weights).hexdigest())
"""

ASKED_FOR_AVX512 = {
    "ATEN_CPU_CAPABILITY": "avx512",
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX",
    "MKL_CBWR": "AUTO",
    "OPENBLAS_CORETYPE": "SkylakeX",
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in numerics.CONTRACTS["avx2"]}
    return {**env, **extra}


def _weights_digest(
    isa: str, env: dict[str, str], emulate: str | None = None, steps: int = 5
) -> str:
    """The trained weights' sha256, on this CPU or on `emulate`, a CPU model of qemu's."""
    python = [sys.executable]
    if emulate is not None:
        # qemu runs the interpreter itself, so the venv's paths are passed explicitly.
        python = ["qemu-x86_64", "-cpu", emulate, os.path.realpath(sys.executable)]
        env = {**env, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [*python, "-c", TRAINING_STEPS, isa, str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_contract_overrides_what_the_environment_asked_for():
    plain = _weights_digest("avx2", _clean_env())
    asked_otherwise = _weights_digest("avx2", _clean_env(**ASKED_FOR_AVX512))
    assert plain == asked_otherwise


@pytest.mark.skipif("avx512f" not in numerics.cpu_flags(), reason="needs an AVX-512 CPU")
def test_without_the_contract_an_avx512_cpu_computes_other_bytes():
    # The control: the variables matter, so the test above is not passing by accident.
    assert _weights_digest("native", _clean_env()) != _weights_digest("avx2", _clean_env())


def test_a_stage_gives_the_same_results_under_either_environment(project):
    def train(env: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        subprocess.run(
            [sys.executable, "-m", "dlrepro.cli", "s1", "train", "--variant", "baseline"],
            env={**env, "WANDB_MODE": "disabled"},
            cwd=project,
            capture_output=True,
            check=True,
        )
        out = project / "results" / "s1" / "baseline"
        return pd.read_csv(out / "runs.csv"), pd.read_csv(out / "history_seeds.csv")

    plain = train(_clean_env())
    asked_otherwise = train(_clean_env(**ASKED_FOR_AVX512))
    pd.testing.assert_frame_equal(plain[0], asked_otherwise[0])
    pd.testing.assert_frame_equal(plain[1], asked_otherwise[1])


def test_a_cpu_without_the_level_fails_naming_the_fix(monkeypatch):
    monkeypatch.setattr(numerics, "cpu_flags", lambda: {"sse2"})
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    with pytest.raises(numerics.ContractError, match=r"lacks.*compute.cpu_isa: native"):
        numerics.apply("avx2")


def test_the_contract_cannot_be_changed_once_torch_is_loaded(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    with pytest.raises(numerics.ContractError, match=r"torch.*imported before"):
        numerics.apply("avx2")


def test_verify_catches_torch_running_another_level(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    with pytest.raises(numerics.ContractError, match="runs its AVX512 kernels"):
        numerics.verify("avx2")
    numerics.verify("native")


def test_provenance_names_the_contract_and_the_cpu():
    described = numerics.describe("avx2")
    assert described["numeric contract (`compute.cpu_isa`)"] == "avx2"
    assert "ATEN_CPU_CAPABILITY=avx2" in described["library settings"]
    assert numerics.cpu_model() in described["CPU (the machine that wrote this table)"]


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("qemu-x86_64") is None, reason="needs qemu-user (make system-deps)"
)
def test_a_cpu_without_avx512_computes_the_same_bytes():
    """The contract across machines: qemu emulates a Haswell CPU (AVX2, no AVX-512), where every
    library finds another CPU than this one (which may have AVX-512); under the contract the
    weights are the same bytes.
    About a minute: qemu interprets every instruction."""
    here = _weights_digest("avx2", _clean_env(), steps=1)
    haswell = _weights_digest("avx2", _clean_env(), emulate="Haswell", steps=1)
    assert here == haswell
