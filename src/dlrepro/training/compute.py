"""The fast path: process-wide switches for how tensors are laid out and computed
(`compute` in params.yaml), set once per stage by `configure` and read by the loops.

They are process-wide because what they wrap is (thread count, cuDNN autotuning), and so that a
stage's loops, evaluation and measurements all run the same way without threading flags through
every call. None changes what is computed beyond float rounding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from dlrepro.config import ComputeConfig

_active = ComputeConfig()
_device_type = "cpu"


def configure(cfg: ComputeConfig, device: torch.device) -> None:
    global _active, _device_type
    _active, _device_type = cfg, device.type
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    if cfg.autocast != "none" and device.type != "cuda":
        print(f"compute.autocast = {cfg.autocast} applies on a GPU only; running in float32")


def prepare_model(model: nn.Module) -> nn.Module:
    """The model in the configured layout, compiled when asked (in place: state_dict keys keep
    their names, so checkpoints and weights files are the same either way)."""
    if _active.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if _active.compile:
        model.compile()
    return model


def layout(x: torch.Tensor) -> torch.Tensor:
    """An input batch in the configured layout (only image batches, N x C x H x W, change)."""
    if _active.channels_last and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


@contextlib.contextmanager
def autocast() -> Iterator[None]:
    """Mixed precision for forward passes and losses where configured and on a GPU."""
    enabled = _active.autocast == "bf16" and _device_type == "cuda"
    with torch.autocast(_device_type, dtype=torch.bfloat16, enabled=enabled):
        yield
