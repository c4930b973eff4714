"""torchvision's ImageNet weights of VGG-16 and ResNet-50 (Section 2, `weights: imagenet`).

They are fetched like a dataset, by `dlrepro fetch` (`make data`), into
data/raw/<arch>_imagenet/<torchvision's file name>, so the pretraining stage only reads a
verified local file and never downloads inside `dvc repro`. Download source only (no registry
package ships them). torchvision publishes no full checksum: its file names carry the first 8 hex
digits of the file's sha256, which torch.hub checks, and so do we.

ResNet-50 takes IMAGENET1K_V1, the original model (76.1 % top-1) that the report's Keras
ResNet50 matches, not IMAGENET1K_V2 (80.9 %, torchvision's newer training recipe).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torchvision.models import ResNet50_Weights, VGG16_Weights, WeightsEnum

from dlrepro.data.archives import download
from dlrepro.data.sources import DatasetSpec

WEIGHTS: dict[str, WeightsEnum] = {
    "vgg16": VGG16_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
}
HOMEPAGE = "https://pytorch.org/vision/stable/models.html"
LICENCE = "torchvision BSD-3-Clause; trained on ImageNet, whose terms allow non-commercial research"


def dataset_name(arch: str) -> str:
    """The raw "dataset" (folder under data/raw) holding `arch`'s ImageNet weights."""
    return f"{arch}_imagenet"


def file_name(weights: WeightsEnum) -> str:
    """torchvision's name of the weights file, e.g. `vgg16-397923af.pth`."""
    return weights.url.rsplit("/", 1)[-1]


def top1(weights: WeightsEnum) -> float:
    """ImageNet-1K top-1 accuracy (%) torchvision publishes for `weights` (no download)."""
    return weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]


def _spec(arch: str, weights: WeightsEnum) -> DatasetSpec:
    name = file_name(weights)
    # torch.hub's own pattern for the hash in a weights file's name.
    sha256_prefix = re.search(r"-([a-f0-9]+)\.", name).group(1)
    checksums = {name: f"sha256:{sha256_prefix}"}

    def fetch_download(dest: Path) -> None:
        download(weights.url, dest / name, checksums[name])

    return DatasetSpec(
        name=dataset_name(arch),
        licence=LICENCE,
        homepage=HOMEPAGE,
        checksums={"download": checksums},
        fetchers={"download": fetch_download},
        load=lambda raw: torch.load(raw / name, weights_only=True),
    )


SPECS = {dataset_name(arch): _spec(arch, weights) for arch, weights in WEIGHTS.items()}
"""`load` returns torchvision's state dict of the whole network, classifier included."""
