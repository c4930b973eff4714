"""The Section 1 classifier: a small VGG-style CNN whose regularisers are switches.

conv blocks: 3x3 conv -> [BatchNorm] -> ReLU -> 2x2 max-pool, channels from `conv_channels`;
head: flatten -> (Linear -> ReLU -> [Dropout]) per `dense` entry -> Linear to the classes.
BN sits between conv and activation, as the report describes; dropout follows each dense layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        conv_channels: Sequence[int],
        dense: Sequence[int],
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels, size = in_channels, image_size
        for out in conv_channels:
            # BN makes the conv bias redundant (it is subtracted out by the batch mean).
            blocks.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                blocks.append(nn.BatchNorm2d(out))
            blocks += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels, size = out, size // 2
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Flatten()]
        width = channels * size * size
        for units in dense:
            head += [nn.Linear(width, units), nn.ReLU(inplace=True)]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            width = units
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def zero_init_(model: nn.Module) -> nn.Module:
    """Set every weight and bias of conv and linear layers to zero (the report's 'zero init')."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.zeros_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
