"""The `compute` fast path changes how tensors are laid out and run, never the results."""

import pytest
import torch
from torch import nn

from dlrepro.config import ComputeConfig, TrainConfig
from dlrepro.models.cnn import SmallCNN
from dlrepro.training import compute
from dlrepro.training.loop import fit, make_optimizer

from .conftest import separable_split

TRAIN = TrainConfig(epochs=2, batch_size=16, lr=0.01, optimizer="sgd", momentum=0.9, patience=5)


@pytest.fixture(autouse=True)
def _restore_defaults():
    yield
    compute.configure(ComputeConfig(), torch.device("cpu"))


def _train(cfg: ComputeConfig) -> tuple[nn.Module, list[dict]]:
    compute.configure(cfg, torch.device("cpu"))
    torch.manual_seed(0)
    model = compute.prepare_model(SmallCNN(1, 8, 4, [4, 8], [16]))
    result = fit(
        model,
        make_optimizer(model, TRAIN),
        separable_split(96, 0),
        separable_split(48, 1),
        epochs=2,
        batch_size=16,
        patience=5,
        seed=0,
    )
    return model, result.history


def test_channels_last_matches_the_default_layout_within_float_tolerance():
    plain_model, plain = _train(ComputeConfig(channels_last=False))
    fast_model, fast = _train(ComputeConfig(channels_last=True))
    conv = fast_model.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert set(fast_model.state_dict()) == set(plain_model.state_dict())
    for a, b in zip(plain, fast, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)


def test_only_image_batches_change_layout():
    compute.configure(ComputeConfig(channels_last=True), torch.device("cpu"))
    assert compute.layout(torch.zeros(2, 3, 4, 4)).is_contiguous(memory_format=torch.channels_last)
    tokens = torch.zeros(2, 7, dtype=torch.long)
    assert compute.layout(tokens) is tokens


def test_bf16_autocast_is_not_applied_on_a_cpu(capsys):
    compute.configure(ComputeConfig(autocast="bf16"), torch.device("cpu"))
    assert "GPU only" in capsys.readouterr().out
    with compute.autocast():
        assert nn.Linear(3, 3)(torch.zeros(1, 3)).dtype == torch.float32


def test_threads_setting_is_applied():
    before = torch.get_num_threads()
    try:
        compute.configure(ComputeConfig(threads=1), torch.device("cpu"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_compiled_model_trains_like_the_eager_one():
    _, eager = _train(ComputeConfig())
    _, compiled = _train(ComputeConfig(compile=True))
    assert compiled[-1]["val_loss"] == pytest.approx(eager[-1]["val_loss"], rel=1e-3)


def test_cuda_graphs_and_compile_cannot_both_be_on():
    with pytest.raises(ValueError, match="set one to false"):
        ComputeConfig(compile=True, cuda_graphs=True)


def test_cuda_graphs_leave_a_cpu_run_eager_and_unchanged(capsys):
    eager_model, eager = _train(ComputeConfig())
    graphed_model, graphed = _train(ComputeConfig(cuda_graphs=True))
    assert "GPU only" in capsys.readouterr().out
    untimed = [
        [{k: v for k, v in row.items() if k != "train_seconds"} for row in run]
        for run in (eager, graphed)
    ]
    assert untimed[0] == untimed[1]
    for a, b in zip(eager_model.parameters(), graphed_model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_a_graphed_run_computes_what_the_eager_one_does_on_a_gpu():
    """Bit for bit, over two epochs whose last batch is short (it runs eagerly between
    replays), with batch norm and Adam (bench/gpu_s2_paper.py checks VGG-16 and ResNet-50)."""
    adam = TRAIN.model_copy(update={"optimizer": "adam", "lr": 1e-3})
    runs = []
    for graphs in (False, True):
        compute.configure(ComputeConfig(cuda_graphs=graphs), torch.device("cuda"))
        torch.manual_seed(0)
        model = compute.prepare_model(SmallCNN(1, 8, 4, [4, 8], [16], batch_norm=True).cuda())
        train, val = separable_split(104, 0), separable_split(48, 1)
        on_gpu = [type(s)(s.x.cuda(), s.y.cuda()) for s in (train, val)]
        fit(
            model, make_optimizer(model, adam), *on_gpu, epochs=2, batch_size=16, patience=5, seed=0
        )
        runs.append(model.state_dict())
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key


def _routed_and_plain(build, x: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor]]:
    """(model, output) of `build()` prepared with and without the oneDNN layers, both from the
    same initial weights, after one backward pass of the output's mean square."""
    prepared = []
    for onednn in (False, True):
        compute.configure(ComputeConfig(onednn_layers=onednn), torch.device("cpu"))
        torch.manual_seed(0)
        model = compute.prepare_model(build())
        out = model(compute.layout(x))
        out.square().mean().backward()
        prepared.append((model, out))
    return prepared


def test_onednn_layers_compute_what_torchs_layers_do_within_float_tolerance():
    from dlrepro.models.autoencoders import ConvAutoencoder
    from dlrepro.training.cpu_kernels import ChannelSumConv2d, OneDNNLinear

    def build() -> nn.Module:  # dense layers on a 3-D input, and a 1-output-channel conv
        return nn.Sequential(ConvAutoencoder(16, 5, [4, 8, 8]), nn.Flatten(2), nn.Linear(256, 3))

    (plain, plain_out), (routed, routed_out) = _routed_and_plain(build, torch.rand(6, 1, 16, 16))
    kinds = {type(layer) for layer in routed.modules()}
    assert {OneDNNLinear, ChannelSumConv2d} <= kinds and nn.Linear not in kinds
    assert {k: v.shape for k, v in routed.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    assert torch.allclose(routed_out, plain_out, rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(plain.named_parameters(), routed.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-7), name


def test_onednn_layers_are_left_out_when_switched_off():
    compute.configure(ComputeConfig(onednn_layers=False), torch.device("cpu"))
    model = compute.prepare_model(nn.Sequential(nn.Linear(3, 1), nn.Conv2d(2, 1, 3)))
    assert [type(layer) for layer in model] == [nn.Linear, nn.Conv2d]
