"""Section 5's adversarial models: DCGAN (Radford et al. 2016) for digits, and pix2pix (Isola
et al. 2017: a UNet generator, a PatchGAN discriminator) for colourisation, at 32x32.

A `GANPair` holds a generator and a discriminator; calling it runs the generator, so evaluation
code treats a trained pair like any image-to-image model. A discriminator takes the image and,
when conditional, the input it was generated from, and returns logits (one per patch for the
PatchGAN).
"""

from __future__ import annotations

import torch
from torch import nn


def _down(inp: int, out: int, batch_norm: bool = True, stride: int = 2) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(inp, out, 4, stride, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out))
    return [*layers, nn.LeakyReLU(0.2, inplace=True)]


class DCGANGenerator(nn.Module):
    """Noise (N, noise_dim) -> 4x4 x 4w -> 8x8 x 2w -> 16x16 x w -> 32x32 image in [0, 1]."""

    def __init__(self, noise_dim: int, width: int, channels: int = 1) -> None:
        super().__init__()
        self.noise_dim = noise_dim

        def up(inp: int, out: int, stride: int, padding: int) -> list[nn.Module]:
            return [
                nn.ConvTranspose2d(inp, out, 4, stride, padding, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]

        self.net = nn.Sequential(
            nn.Unflatten(1, (noise_dim, 1, 1)),
            *up(noise_dim, 4 * width, 1, 0),
            *up(4 * width, 2 * width, 2, 1),
            *up(2 * width, width, 2, 1),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Sigmoid(),
        )

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)


class DCGANDiscriminator(nn.Module):
    """32x32 image -> one real/fake logit (strided convolutions, LeakyReLU, no pooling)."""

    def __init__(self, width: int, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *_down(channels, width, batch_norm=False),
            *_down(width, 2 * width),
            *_down(2 * width, 4 * width),
            nn.Conv2d(4 * width, 1, 4),
            nn.Flatten(),
        )

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(image)


class UNet(nn.Module):
    """Encoder-decoder with skip connections: each level halves the side and doubles the
    filters; the decoder concatenates the encoder's map of the same size. Output in [0, 1]."""

    def __init__(self, in_channels: int, out_channels: int, width: int, depth: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.down = nn.ModuleList(
            nn.Sequential(*_down(width * 2**i, width * 2 ** (i + 1))) for i in range(depth)
        )
        self.up = nn.ModuleList()
        for level in reversed(range(depth)):
            inp = width * 2**depth if level == depth - 1 else 2 * width * 2 ** (level + 1)
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(inp, width * 2**level, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(width * 2**level),
                    nn.ReLU(inplace=True),
                )
            )
        self.head = nn.Sequential(nn.Conv2d(2 * width, out_channels, 3, padding=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        h = skips.pop()
        for block in self.up:
            h = torch.cat([block(h), skips.pop()], dim=1)
        return self.head(h)


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN: (condition, image) stacked on channels -> a grid of logits, each
    judging one overlapping patch."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *_down(in_channels, width, batch_norm=False),
            *_down(width, 2 * width),
            *_down(2 * width, 4 * width, stride=1),
            nn.Conv2d(4 * width, 1, 4, 1, 1),
        )

    def forward(self, image: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(torch.cat([condition, image], dim=1))


class GANPair(nn.Module):
    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)
