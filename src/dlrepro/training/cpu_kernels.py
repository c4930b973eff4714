"""Faster CPU kernels for the layers whose default kernel is slow under the numeric contract,
and a heap that stays mapped between training steps (bench/kernel_efficiency.py measures each).

A routed layer keeps its class's parameters (same state_dict keys and shapes, same
initialisation) and computes the same products, summed in another order: results differ from
the default kernels in float rounding only, and stay the same on every x86-64 CPU, since both
replacements run in oneDNN at the level `ONEDNN_MAX_CPU_ISA` pins (tests/test_numerics.py).

- Linear layers: torch runs them on MKL, which the contract holds on its COMPATIBLE branch
  (SSE2 kernels, numerics.py); oneDNN's inner product runs the same matrix products with AVX2
  FMAs, 2.3 times as fast at the ResNet-50 head's shapes (32 x 512 x 1025).
- Convolutions to one output channel (the autoencoders' last layer): oneDNN vectorises a
  convolution over its output channels, one of AVX2's eight lanes here; computed as a depthwise
  convolution (vectorised over the input channels) summed over the channels, 1.8 times as fast.
"""

from __future__ import annotations

import ctypes
import platform

import torch
import torch.nn.functional as F
from torch import nn

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""mallopt's parameter numbers (glibc's malloc.h)."""
HEAP_MMAP_THRESHOLD = 32 * 2**20
"""The largest block glibc serves from its heap instead of a fresh mapping (its maximum)."""
HEAP_TRIM_THRESHOLD = 2**30
"""Free memory glibc keeps at the heap's top instead of returning it to the kernel."""


def keep_heap() -> None:
    """Keep freed memory in the process between training steps. glibc hands a block above
    128 KiB out as a fresh memory mapping and returns it to the kernel when freed, so each step
    page-faults its activations in again, the kernel zeroing every page: a quarter of the
    Section 4 autoencoder's step on one core. Where the C library is not glibc this does
    nothing. Allocation never changes what is computed."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    mallopt = ctypes.CDLL("libc.so.6").mallopt
    mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD)


def inner_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """x @ weight.T (+ bias) by oneDNN's inner product: the op torch's compiler emits for linear
    layers on the CPU, which takes plain (and transposed) float32 tensors."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    """y = x W^T + b for a 2-D x, with both gradients as oneDNN inner products too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        ctx.save_for_backward(x, weight)
        return inner_product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        # A loss's gradient may arrive broadcast (stride 0), which the inner product does not
        # take: contiguous() copies only then.
        grad = grad.contiguous()
        return (
            inner_product(grad, weight.t()) if need_x else None,
            inner_product(grad.t(), x.t()) if need_weight else None,
            grad.sum(0) if need_bias else None,
        )


class OneDNNLinear(nn.Linear):
    """nn.Linear computed by oneDNN (what `route` turns an nn.Linear into)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = _OneDNNLinear.apply(x.reshape(-1, x.shape[-1]), self.weight, self.bias)
        return rows.view(*x.shape[:-1], self.out_features)


class ChannelSumConv2d(nn.Conv2d):
    """A convolution to one output channel computed as a depthwise convolution (each input
    channel with its slice of the filter) summed over the input channels (what `route` turns
    such an nn.Conv2d into)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = self.in_channels
        filters = self.weight.reshape(channels, 1, *self.kernel_size)
        per_channel = F.conv2d(
            x, filters, None, self.stride, self.padding, self.dilation, groups=channels
        )
        out = per_channel.sum(1, keepdim=True)
        return out if self.bias is None else out + self.bias.view(1, 1, 1, 1)


def _routed_class(layer: nn.Module) -> type[nn.Module] | None:
    if type(layer) is nn.Linear:
        return OneDNNLinear
    if (
        type(layer) is nn.Conv2d
        and layer.out_channels == 1
        and layer.groups == 1
        and layer.padding_mode == "zeros"
    ):
        return ChannelSumConv2d
    return None


def route(model: nn.Module) -> nn.Module:
    """Turn, in place, every layer this module has a faster CPU kernel for into its routed
    class (parameters, buffers and hooks stay as they are); returns the model."""
    for layer in model.modules():
        routed = _routed_class(layer)
        if routed is not None:
            layer.__class__ = routed
    return model
