"""The numeric contract: the level params name is the level every library computes at, whatever
the environment asked for, and a process that cannot honour it fails instead of drifting."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from dlrepro import numerics

# A few Adam steps of a small CNN and an LSTM: convolutions and the LSTM (oneDNN), matrix
# products of several shapes, a matrix-vector product among them (MKL), and element-wise
# kernels (ATen), each of which rounds differently per instruction set or CPU vendor.
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
    torch.nn.Flatten(), torch.nn.Linear(32 * 12 * 12, 33), torch.nn.ReLU(),
    torch.nn.Linear(33, 10),
)
lstm, readout = torch.nn.LSTM(8, 16, batch_first=True), torch.nn.Linear(16, 1)
parameters = [*net.parameters(), *lstm.parameters(), *readout.parameters()]
optimizer = torch.optim.Adam(parameters, 1e-3)
x, y = torch.randn(64, 3, 16, 16), torch.randint(0, 10, (64,))
sequences, one = torch.randn(4, 12, 8), torch.randn(1, 33)
for _ in range(int(sys.argv[2])):
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss = loss + readout(lstm(sequences)[0][:, -1]).square().mean() + net[-1](one).sum()
    loss.backward()
    optimizer.step()
weights = b"".join(p.detach().numpy().tobytes() for p in parameters)
print(hashlib.sha256(weights).hexdigest())
"""

ASKED_FOR_AVX512 = {
    "ATEN_CPU_CAPABILITY": "avx512",
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX",
    "MKL_CBWR": "AVX512",
    "OPENBLAS_CORETYPE": "SkylakeX",
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in numerics.CONTRACTS["avx2"]}
    return {**env, **extra}


def _run(script: str, args: list[str], env: dict[str, str], emulate: str | None = None) -> str:
    """What `script` prints, run on this CPU or on `emulate`, a CPU model of qemu's."""
    python = [sys.executable]
    if emulate is not None:
        # qemu runs the interpreter itself, so the venv's paths are passed explicitly.
        python = ["qemu-x86_64", "-cpu", emulate, os.path.realpath(sys.executable)]
        env = {**env, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [*python, "-c", script, *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _weights_digest(isa: str, env: dict[str, str], steps: int = 5) -> str:
    """The sha256 of the weights TRAINING_STEPS trains on this CPU."""
    return _run(TRAINING_STEPS, [isa, str(steps)], env)


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


def test_verify_catches_mkl_on_another_branch(monkeypatch):
    monkeypatch.setattr(numerics, "mkl_branch", lambda: 2)  # MKL_CBWR_AUTO
    with pytest.raises(numerics.ContractError, match="MKL computes on branch 2"):
        numerics.verify("avx2")
    numerics.verify("native")


def test_mkl_computes_on_the_contracts_branch():
    assert numerics.mkl_branch() in (None, numerics.MKL_CBWR_COMPATIBLE)


def test_provenance_names_the_contract_and_the_cpu():
    described = numerics.describe("avx2")
    assert described["numeric contract (`compute.cpu_isa`)"] == "avx2"
    assert "ATEN_CPU_CAPABILITY=avx2" in described["library settings"]
    assert numerics.cpu_model() in described["CPU (the machine that wrote this table)"]


def _qemu_major() -> int:
    if shutil.which("qemu-x86_64") is None:
        return 0
    printed = subprocess.run(["qemu-x86_64", "--version"], capture_output=True, text=True)
    return int(printed.stdout.split("version ")[1].split(".")[0])


needs_qemu = pytest.mark.skipif(
    _qemu_major() < 8,
    reason="needs qemu-user 8 or newer (make system-deps): 7.2 crashes in oneDNN's LSTM",
)


# One or two training steps of every network the stages train, built by the project's own code
# with its optimizer options, layout and losses, plus the numpy and scikit-learn arithmetic of
# Sections 4 and 6: a digest per network.
PROJECT_NETWORKS = """
import hashlib, json, sys
from dlrepro import numerics
numerics.apply(sys.argv[1])
import numpy as np, torch
from torch import nn
numerics.verify(sys.argv[1])
from sklearn.decomposition import PCA
from dlrepro.models.autoencoders import VAE, ConvAutoencoder, MLPAutoencoder
from dlrepro.models.cnn import SmallCNN
from dlrepro.models.gan import DCGANDiscriminator, DCGANGenerator, UNet
from dlrepro.models.rnn import LSTMClassifier, TokenLSTM, WindowRNN
from dlrepro.models.transfer import build_base, dense_head
from dlrepro.rl.dqn import q_network
from dlrepro.config import ComputeConfig
from dlrepro.training import compute
from dlrepro.training.loop import adam_kernel
from dlrepro.training.losses import image_loss
compute.configure(ComputeConfig(cpu_isa=sys.argv[1], threads=1), torch.device("cpu"))

def digest(arrays):
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()

def trained(build, inputs, loss, steps=int(sys.argv[2])):
    torch.manual_seed(0)
    model = compute.prepare_model(build())  # the stages' layout and oneDNN layers
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, **adam_kernel("cpu"))
    x = compute.layout(inputs())
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model(x), x).backward()
        optimizer.step()
    return digest(p.detach().numpy() for p in model.parameters())

image, digits = (lambda: torch.randn(16, 3, 32, 32)), (lambda: torch.rand(16, 1, 32, 32))
words = lambda: torch.randint(1, 50, (8, 12))
square, mse = (lambda y, x: y.float().square().mean()), nn.MSELoss()
ssim = image_loss("ms_ssim", ssim_win_size=7, ms_ssim_win_size=3, ms_ssim_size=64)
rng = np.random.default_rng(0)
table = rng.standard_normal((200, 64))
found = {
    "s1 cnn": trained(lambda: SmallCNN(3, 32, 10, [16, 32], [64], True, 0.3), image, square),
    "s2 vgg16": trained(lambda: build_base("vgg16", 0.25, 32)[0], image, square),
    "s2 resnet50": trained(lambda: build_base("resnet50", 0.25, 32)[0], image, square),
    "s2 head": trained(lambda: dense_head(64, [1025, 512], 5), lambda: torch.randn(32, 64), square),
    "s3 window rnn": trained(lambda: WindowRNN(16), lambda: torch.randn(8, 12), square),
    "s3 lstm classifier": trained(lambda: LSTMClassifier(50, 16, 16), words, square),
    "s3 language model": trained(lambda: TokenLSTM(50, 8, 16, 2), words, square),
    "s4 mlp autoencoder": trained(lambda: MLPAutoencoder(32, 10, [64, 32], 0.1), digits, mse),
    "s4 cnn autoencoder": trained(lambda: ConvAutoencoder(32, 10, [8, 16, 32, 64]), digits, ssim),
    "s5 vae": trained(lambda: VAE(32, 8, [8, 16, 32, 64], 1.0), digits, nn.L1Loss()),
    "s5 dcgan": trained(lambda: DCGANGenerator(16, 8), lambda: torch.randn(16, 16), square),
    "s5 dcgan critic": trained(lambda: DCGANDiscriminator(8), digits, square),
    "s5 unet": trained(lambda: UNet(1, 2, 8, 3), digits, square),
    "s6 dqn": trained(lambda: q_network(4, 2, [64, 64]), lambda: torch.randn(32, 4), square),
    "s4 pca": digest([PCA(10, random_state=0).fit_transform(table)]),
    "numpy": digest([np.exp(table), np.log1p(np.abs(table)), np.arctan(table), table**1.5]),
}
print(json.dumps(found))
"""


def _network_digests(isa: str, emulate: str | None = None) -> dict[str, str]:
    """PROJECT_NETWORKS's digest per network, on this CPU or on `emulate`."""
    printed = _run(PROJECT_NETWORKS, [isa, "2"], _clean_env(), emulate)
    return json.loads(printed.splitlines()[-1])


@pytest.mark.slow
@needs_qemu
def test_a_cpu_without_avx512_computes_the_same_bytes():
    """The contract across machines: qemu emulates an Intel Haswell CPU (AVX2, no AVX-512),
    where every library finds another CPU than this one (which may have AVX-512, or be an
    AMD); under the contract every network the stages train ends on the same bytes.
    About two minutes: qemu interprets every instruction."""
    here = _network_digests("avx2")
    haswell = _network_digests("avx2", emulate="Haswell")
    differ = [name for name in here if here[name] != haswell[name]]
    assert not differ, f"other bytes on an emulated Haswell: {differ}"


@pytest.mark.slow
@needs_qemu
@pytest.mark.skipif(
    numerics.cpu_vendor() == "GenuineIntel" and "avx512f" not in numerics.cpu_flags(),
    reason="an Intel CPU without AVX-512 is what the emulated Haswell is: nothing to differ",
)
def test_without_the_contract_the_emulated_cpu_computes_other_bytes():
    """The control of the test above: left to the CPU (`native`), this CPU and the emulated one
    take other paths (AVX-512 kernels here, or MKL's path for another vendor), so the test
    above can fail; it does not pass because the two machines were alike."""
    here = _network_digests("native")
    haswell = _network_digests("native", emulate="Haswell")
    assert [name for name in here if here[name] != haswell[name]]
