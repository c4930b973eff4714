"""Section 4's autoencoders and Section 5's VAE, on 32x32 single-channel images in [0, 1].

MLP:  flatten -> (Linear -> BN -> ReLU) per hidden width, one dropout after the first -> code;
      the decoder mirrors the widths and ends in a sigmoid. No BN on the input, which is already
      in [0, 1] (the report's reasoning).
CNN:  four (3x3 stride-2 conv -> BN -> ReLU) blocks -> Linear to the code; the decoder
      maps the code to 4x4xC, then stride-2 transposed convolutions double the side to 32x32.
VAE:  the CNN's encoder and decoder around a Gaussian code; the KL divergence to N(0, I) is
      added to the loss by the model itself (`auxiliary_loss`, Keras's `add_loss`), weighted by
      `kl_weight` (0 trains "without KL").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn


class MLPAutoencoder(nn.Module):
    def __init__(
        self, image_size: int, code_dim: int, hidden: Sequence[int], dropout: float
    ) -> None:
        super().__init__()
        pixels = image_size * image_size
        encoder: list[nn.Module] = [nn.Flatten()]
        width = pixels
        for i, units in enumerate(hidden):
            encoder += [nn.Linear(width, units), nn.BatchNorm1d(units), nn.ReLU(inplace=True)]
            if i == 0 and dropout > 0:
                encoder.append(nn.Dropout(dropout))
            width = units
        encoder.append(nn.Linear(width, code_dim))
        decoder: list[nn.Module] = []
        width = code_dim
        for units in reversed(hidden):
            decoder += [nn.Linear(width, units), nn.BatchNorm1d(units), nn.ReLU(inplace=True)]
            width = units
        decoder += [
            nn.Linear(width, pixels),
            nn.Sigmoid(),
            nn.Unflatten(1, (1, image_size, image_size)),
        ]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def conv_encoder(channels: Sequence[int], image_size: int) -> tuple[nn.Sequential, int]:
    """Conv blocks that each halve the side, flattened; returns the body and its output width."""
    layers: list[nn.Module] = []
    width, side = 1, image_size
    for out in channels:
        layers += [
            nn.Conv2d(width, out, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
        width, side = out, side // 2
    if side < 1:
        raise ValueError(f"{len(channels)} conv blocks halve a {image_size}px image below 1px")
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), width * side * side


def conv_decoder(code_dim: int, channels: Sequence[int], image_size: int) -> nn.Sequential:
    """Code -> 4x4 x channels[-1] -> stride-2 transposed convolutions up to image_size ->
    sigmoid."""
    steps = int(math.log2(image_size // 4))
    widths = list(reversed(channels))[: steps + 1]
    if 4 * 2**steps != image_size or len(widths) < steps + 1:
        raise ValueError(f"the decoder needs image_size = 4 * 2**k with k + 1 <= {len(channels)}")
    layers: list[nn.Module] = [
        nn.Linear(code_dim, widths[0] * 16),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (widths[0], 4, 4)),
    ]
    for width, out in itertools.pairwise(widths):
        layers += [
            nn.ConvTranspose2d(width, out, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
    layers += [nn.Conv2d(widths[-1], 1, 3, padding=1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class ConvAutoencoder(nn.Module):
    def __init__(self, image_size: int, code_dim: int, channels: Sequence[int]) -> None:
        super().__init__()
        body, width = conv_encoder(channels, image_size)
        self.encoder = nn.Sequential(body, nn.Linear(width, code_dim))
        self.decoder = conv_decoder(code_dim, channels, image_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    auxiliary_loss: torch.Tensor
    """The weighted KL term of the last forward pass, per pixel (the loop adds it to the
    per-pixel reconstruction loss, so the sum is the per-image ELBO over the pixel count)."""

    def __init__(
        self, image_size: int, latent_dim: int, channels: Sequence[int], kl_weight: float
    ) -> None:
        super().__init__()
        self.encoder, width = conv_encoder(channels, image_size)
        self.mean = nn.Linear(width, latent_dim)
        self.log_var = nn.Linear(width, latent_dim)
        self.decoder = conv_decoder(latent_dim, channels, image_size)
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(x)
        mean, log_var = self.mean(hidden), self.log_var(hidden)
        # Sampling only while training: evaluation reconstructs from the mean code.
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if self.training else mean
        kl = -0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(dim=1).mean()
        self.auxiliary_loss = self.kl_weight * kl / x[0].numel()
        return self.decoder(z)

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode codes drawn from the prior N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decoder(z)
