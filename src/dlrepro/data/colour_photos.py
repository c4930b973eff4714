"""Colour photographs for Section 5.2's colourisation when CIFAR-10 cannot be downloaded.

No colour image set of useful size ships in a registry package, but real photos do: the 20
ImageNet validation photos in `foolbox==3.3.4` (`foolbox/data/imagenet_*.jpg`, 512 px) and five
photos in `scikit-image==0.26.0` (`skimage/data/`: astronaut, chelsea, coffee, motorcycle_left,
rocket). Both wheels come from PyPI and nothing is installed.

`load` shrinks each photo so its short side is SHORT_SIDE pixels (a 32x32 patch then shows an
object part, not texture) and cuts PATCH x PATCH patches every STRIDE pixels. The split is by
source photo: every fifth photo (sorted by name) is a test photo, so no test patch shares a
pixel with a training patch. Labels are the index of the patch's source photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data.archives import pypi_package_files
from dlrepro.data.sources import DatasetSpec, ImageSplits

FOOLBOX = "foolbox==3.3.4"
SKIMAGE = "scikit-image==0.26.0"
SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg"]
IMAGENET_SHA256 = [
    "28b7b933c8028c6e20bf74a86a709eda42ce99f14c8742cb657cb386f08a4c9d",
    "5f03b0c74dff01b5b4195d0beabcae2a625a406e6917957ab9c455b5b7dea6d6",
    "ccef0734c1a65549c6cb5adb0f5d9b1c0b2e2104aba50a9e5f9202dc6d4532ed",
    "c7f0b2f1e9ee39d8f900759e8983afa2e4a2d7de090060e8bb947f6e90cace5f",
    "a7f62f3c1d214de4718c7253871ab38209283249e131faf65b8f2b7fdc970669",
    "8a449436c61da867528b1f4efaf8ae832ab9c9201705eae0d3af1353fbdac131",
    "fb061102a4e58b3ed942bb2a4f9542e1e1acdc8f225ef95498e93889290e192f",
    "2c297ad1e5c4804a647e9b34bc02ee2fc348b05a4d49050d170fb61c948efa5c",
    "c6a3411a3987799f0de45adc142f00ca412c3e14073c635e2adfae1f3913180c",
    "ace3716b60ac5843269b270e17020e4f8138440cd30ef3487f7d6e54da9745a4",
    "f325c71d9f4290ee45e99bd7ad42f4bffe513b1450ad21e7bd61c7cb137395d9",
    "892dff58fc528fe63d2df0c783aa3eca2342637798578ce01763fbc0553eda01",
    "6c256e17545b25bbf2e06cf6513ff48d049583569515ac4d4c3a52aea804a529",
    "52ed0e738b90d27afcabc3e92c81ae637f160c2d9f75b93a65211005ab5dcd81",
    "ad9371d813bf24b0365ee2f78f28c08718ee7c5975f060caa16c3f264e828139",
    "4b588649cd835d4c65521727ebee03d9621baff1f54d3e8a53a26b53d983ec2e",
    "ce3440a3b7beb6ca3009817504c44d39fa789e7c2f70a2eef7e2f9cc9a87b129",
    "b432341845620e9cfd67d848c4783c32dd6eaddad45513866b17180d2b09fcf5",
    "b9412f92f0b1c3faede45b55a44940977daa744f2040118d0538cf597fca785d",
    "e1f58f00e2e47ce930d7ecab0e46a78316054f68c10d0742e87c1cc092324556",
]
IMAGENET_MEMBERS = [
    "imagenet_00_243.jpg", "imagenet_01_559.jpg", "imagenet_02_438.jpg", "imagenet_03_990.jpg",
    "imagenet_04_949.jpg", "imagenet_05_853.jpg", "imagenet_06_609.jpg", "imagenet_07_609.jpg",
    "imagenet_08_915.jpg", "imagenet_09_455.jpg", "imagenet_10_541.jpg", "imagenet_11_630.jpg",
    "imagenet_12_741.jpg", "imagenet_13_471.jpg", "imagenet_14_129.jpg", "imagenet_15_99.jpg",
    "imagenet_16_251.jpg", "imagenet_17_22.jpg", "imagenet_18_317.jpg", "imagenet_19_305.jpg",
]  # fmt: skip
SKIMAGE_SHA256 = [
    "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
]
CHECKSUMS = {
    name: f"sha256:{sha}"
    for name, sha in zip(
        IMAGENET_MEMBERS + SKIMAGE_PHOTOS, IMAGENET_SHA256 + SKIMAGE_SHA256, strict=True
    )
}
SHORT_SIDE = 128
PATCH = 32
STRIDE = 16
TEST_EVERY = 5


def patches(photo: np.ndarray, size: int = PATCH, stride: int = STRIDE) -> np.ndarray:
    """Every size x size patch whose corner lies on the stride grid, (N, size, size, C)."""
    rows = range(0, photo.shape[0] - size + 1, stride)
    cols = range(0, photo.shape[1] - size + 1, stride)
    return np.stack([photo[r : r + size, c : c + size] for r in rows for c in cols])


def split_by_photo(names: list[str]) -> tuple[list[int], list[int]]:
    """Indices of the training and the test photos (every TEST_EVERY-th in sorted order)."""
    order = sorted(range(len(names)), key=names.__getitem__)
    test = sorted(order[TEST_EVERY - 1 :: TEST_EVERY])
    return [i for i in range(len(names)) if i not in test], test


def load(raw: Path) -> ImageSplits:
    from PIL import Image

    names = sorted(CHECKSUMS)
    cut = []
    for name in names:
        with Image.open(raw / name) as image:
            photo = image.convert("RGB")
        scale = SHORT_SIDE / min(photo.size)
        size = (round(photo.width * scale), round(photo.height * scale))
        cut.append(patches(np.asarray(photo.resize(size, Image.Resampling.LANCZOS))))
    train, test = split_by_photo(names)

    def stack(indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([cut[i] for i in indices])
        y = np.concatenate([np.full(len(cut[i]), i, dtype=np.int64) for i in indices])
        return x, y

    (train_x, train_y), (test_x, test_y) = stack(train), stack(test)
    return ImageSplits(train_x, train_y, test_x, test_y, [Path(n).stem for n in names])


def fetch_offline(dest: Path) -> None:
    pypi_package_files(FOOLBOX, {f"foolbox/data/{n}": n for n in IMAGENET_MEMBERS}, dest)
    pypi_package_files(SKIMAGE, {f"skimage/data/{n}": n for n in SKIMAGE_PHOTOS}, dest)


SPEC = DatasetSpec(
    name="colour_photos",
    licence="ImageNet validation photos (foolbox, MIT; research use) and scikit-image sample "
    "photos (public domain, CC0 or research use, per photo: see skimage.data)",
    homepage="https://scikit-image.org/docs/stable/api/skimage.data.html",
    checksums={"offline": CHECKSUMS},
    fetchers={"offline": fetch_offline},
    load=load,
)
