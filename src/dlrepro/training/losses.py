"""Image reconstruction losses for outputs and targets in [0, 1] (Section 4.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim
from torch import nn

from dlrepro.training import compute


class SimilarityLoss(nn.Module):
    """1 - SSIM, or 1 - MS-SSIM, from pytorch-msssim with data_range 1 (its default, 255,
    would make every [0, 1] image look near-identical).

    MS-SSIM's five scales need the smaller image side > (win_size - 1) * 16, whatever the
    image: `resize_to` upsamples output and target bilinearly first (64 with win_size 3 for
    32x32 digits).
    """

    def __init__(self, multiscale: bool, win_size: int, resize_to: int | None = None) -> None:
        super().__init__()
        self.metric = ms_ssim if multiscale else ssim
        self.win_size = win_size
        self.resize_to = resize_to

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Always float32: under bf16 autocast the Gaussian filters would run in bfloat16, whose
        # 8-bit mantissa cannot hold the variances SSIM takes as differences of close moments;
        # the MS-SSIM gradient then points elsewhere (cosine 0.04 with the float64 one). On
        # float32 inputs outside autocast this changes nothing: `.float()` returns the tensor.
        with torch.autocast(output.device.type, enabled=False):
            return self._dissimilarity(output.float(), target.float())

    def _dissimilarity(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.resize_to is not None:
            size = (self.resize_to, self.resize_to)
            output = F.interpolate(output, size=size, mode="bilinear", align_corners=False)
            target = F.interpolate(target, size=size, mode="bilinear", align_corners=False)
        # Every image as one channel of a single batch: the same per-image, per-channel values
        # and mean, but one grouped convolution per filter, which oneDNN runs 2x faster on a
        # CPU than a one-channel convolution over the batch; channels-last where configured
        # (the MS-SSIM loss's step 1.2x faster: oneDNN's depthwise kernels take NHWC as it is).
        n, c, h, w = output.shape
        similarity = self.metric(
            compute.layout(output.reshape(1, n * c, h, w)),
            compute.layout(target.reshape(1, n * c, h, w)),
            data_range=1.0,
            win_size=self.win_size,
        )
        return 1 - similarity


def image_loss(
    name: str, *, ssim_win_size: int, ms_ssim_win_size: int, ms_ssim_size: int
) -> nn.Module:
    """The training loss `name` (mse | mae | ssim | ms_ssim) for single-channel images."""
    if name == "mse":
        return nn.MSELoss()
    if name == "mae":
        return nn.L1Loss()
    if name == "ssim":
        return SimilarityLoss(multiscale=False, win_size=ssim_win_size)
    if name == "ms_ssim":
        return SimilarityLoss(multiscale=True, win_size=ms_ssim_win_size, resize_to=ms_ssim_size)
    raise ValueError(f"unknown image loss {name!r}; allowed: mse, mae, ssim, ms_ssim")
