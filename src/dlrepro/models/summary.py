"""A model's layers as a table (Figures 20-21 are drawn from this, not by hand)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def layer_table(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str, int]]:
    """(layer, output shape without the batch, parameters) for every leaf module in call order,
    from one forward pass of `example` in eval mode."""
    rows: list[tuple[str, str, int]] = []

    def record(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((_describe(module), "x".join(map(str, output.shape[1:])), params))

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(record) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return rows


def _describe(module: nn.Module) -> str:
    name = type(module).__name__
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        k = module.kernel_size[0]
        return f"{name} {k}x{k}" + (f", stride {module.stride[0]}" if module.stride[0] > 1 else "")
    if isinstance(module, nn.Dropout):
        return f"{name} {module.p:g}"
    return name
