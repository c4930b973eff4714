"""Sections 4 and 5: readers, models, losses, the KL switch, Inception Score, adversarial steps."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import pytorch_msssim
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dlrepro.config import ParamsError, validate
from dlrepro.data import colour_photos, mnist
from dlrepro.data.prepare import SPLITS, TensorSplit, load_prepared, prepare_images
from dlrepro.data.sources import DatasetSpec, ImageSplits, register
from dlrepro.experiments import s5_generative
from dlrepro.experiments.s4_autoencoders import add_noise, code_accuracy
from dlrepro.experiments.s5_generative import grey, inception_score
from dlrepro.models.autoencoders import VAE, ConvAutoencoder, MLPAutoencoder
from dlrepro.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANPair,
    PatchDiscriminator,
    UNet,
)
from dlrepro.models.summary import layer_table
from dlrepro.training.adversarial import Adversarial, fit_adversarial
from dlrepro.training.loop import clone_state, evaluate, fit
from dlrepro.training.losses import SimilarityLoss, image_loss
from dlrepro.training.seeds import DRY_RUN_BATCHES

from .conftest import smoke_params


def digits(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(0))


def test_every_model_maps_32px_images_to_the_right_shapes():
    x = digits(4)
    for model, code_dim in (
        (MLPAutoencoder(32, 10, [64, 32], dropout=0.2), 10),
        (ConvAutoencoder(32, 10, [4, 8, 8, 8]), 10),
        (VAE(32, 6, [4, 8, 8, 8], kl_weight=1.0), 6),
    ):
        out = model(x)
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
        assert model.encode(x).shape == (4, code_dim)
    generator = DCGANGenerator(noise_dim=16, width=4)
    fake = generator(torch.randn(4, 16))
    assert fake.shape == (4, 1, 32, 32)
    assert DCGANDiscriminator(4)(fake).shape == (4, 1)
    unet = UNet(1, 3, width=4, depth=3)
    colour = unet(x)
    assert colour.shape == (4, 3, 32, 32)
    assert PatchDiscriminator(4, width=4)(colour, x).shape[:2] == (4, 1)
    assert GANPair(unet, PatchDiscriminator(4, 4))(x).shape == (4, 3, 32, 32)


def test_the_kl_switch_changes_the_loss_and_only_the_loss():
    x = digits()
    with_kl, without = VAE(32, 6, [4, 8, 8, 8], 1.0), VAE(32, 6, [4, 8, 8, 8], 0.0)
    without.load_state_dict(with_kl.state_dict())
    split = TensorSplit(x, x)
    loss = nn.BCELoss()
    for model in (with_kl, without):
        model.eval()
    torch.testing.assert_close(with_kl(x), without(x))  # same weights, same reconstruction
    assert with_kl.auxiliary_loss > 0 and without.auxiliary_loss == 0
    assert evaluate(with_kl, split, loss)["loss"] > evaluate(without, split, loss)["loss"]


def test_vae_trains_on_the_shared_loop_and_samples_from_the_prior():
    x = digits(32)
    model = VAE(32, 4, [4, 8, 8, 8], kl_weight=1.0)
    result = fit(
        model, torch.optim.Adam(model.parameters(), 1e-3), TensorSplit(x, x), TensorSplit(x, x),
        epochs=2, batch_size=16, patience=5, seed=0, loss_fn=nn.BCELoss(), monitor="val_loss",
    )  # fmt: skip
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert "train_acc" not in result.history[0]  # a regressor: loss only
    assert model.generate(5, torch.Generator().manual_seed(0)).shape == (5, 1, 32, 32)


@pytest.mark.filterwarnings(r"ignore:std\(\)")  # one split has no spread
def test_inception_score_of_a_perfect_classifier_on_balanced_samples_is_the_class_count():
    class OneHot(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.anchor = nn.Parameter(torch.zeros(()))  # gives the module a device

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            labels = images.flatten(1)[:, 0].long()
            return 50.0 * nn.functional.one_hot(labels, 10).float() + self.anchor

    images = (torch.arange(1000) % 10).float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    mean, std = inception_score(OneHot(), images.contiguous(), splits=1)
    assert mean == pytest.approx(10.0, rel=1e-4)
    # Several splits of shuffled samples are each only nearly balanced: just under 10.
    mean, std = inception_score(OneHot(), images.contiguous(), splits=5)
    assert 9.5 < mean <= 10.0 and std < 0.2
    constant = torch.zeros(100, 1, 2, 2)  # every sample the same class: the floor, 1
    assert inception_score(OneHot(), constant, splits=2)[0] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_generative_dry_run_scores_and_evaluates_a_few_batches_only(project, monkeypatch, model):
    """At the paper profile's `s5.generated` (10,000) a dry run must still take seconds."""
    scored, evaluated = [], []

    def score(classifier, images, splits):
        scored.append(len(images))
        return 1.0, 0.0

    def mse(output, target):
        evaluated.append(len(target))
        return 0.0

    split = TensorSplit(digits(1000), torch.zeros(1000, dtype=torch.long))
    loaded = dict.fromkeys(SPLITS, split), {"dataset": "mnist", "source": "test", "counts": {}}
    monkeypatch.setattr(s5_generative, "load_digits", lambda: loaded)
    monkeypatch.setattr(
        s5_generative, "load_classifier", lambda params: (nn.Identity(), "sha256:0")
    )
    monkeypatch.setattr(s5_generative, "inception_score", score)
    monkeypatch.setattr(s5_generative, "mse", mse)
    raw = smoke_params()
    raw["compute"]["seed_processes"] = 0  # in this process, where the counters are
    raw["profiles"]["smoke"]["s5"]["generated"] = 10_000
    params = validate(raw)
    assert s5_generative.train_generative(params, model, dry_run=True) is None
    train = params.s5.vae_train if model == "vae" else params.s5.gan_train
    epochs_scored = 1 if model == "gan" else 0  # the GAN scores each epoch to find its peak
    assert scored == [DRY_RUN_BATCHES * train.batch_size] * (1 + epochs_scored)
    assert max(evaluated, default=0) <= DRY_RUN_BATCHES * train.batch_size


def test_similarity_losses_are_zero_for_identical_images_and_ms_ssim_accepts_32px():
    x = digits(2)
    for name in ("mse", "mae", "ssim", "ms_ssim"):
        loss = image_loss(name, ssim_win_size=11, ms_ssim_win_size=3, ms_ssim_size=64)
        assert loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
        assert loss(x, 1 - x).item() > 0.05
    with pytest.raises(AssertionError):  # the library's own limit, which resize_to avoids
        SimilarityLoss(multiscale=True, win_size=3)(x, x)


def test_similarity_losses_equal_the_library_over_the_batch():
    x = digits(6)
    y = (x + 0.2 * digits(6).roll(1, dims=0)).clamp(0, 1)
    # Within float rounding: the loss filters channels-last images (compute.layout), whose
    # convolutions sum in another order; SSIM's differences of close moments show it at 1e-6.
    ssim = SimilarityLoss(multiscale=False, win_size=11)(x, y)
    expected = 1 - pytorch_msssim.ssim(x, y, data_range=1.0).item()
    assert ssim.item() == pytest.approx(expected, rel=1e-5)
    big = [F.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False) for t in (x, y)]
    ms_ssim = SimilarityLoss(multiscale=True, win_size=3, resize_to=64)(x, y)
    expected = 1 - pytorch_msssim.ms_ssim(*big, data_range=1.0, win_size=3).item()
    assert ms_ssim.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("multiscale", [False, True], ids=["ssim", "ms_ssim"])
def test_similarity_loss_gradient_is_the_float32_one_under_bf16_autocast(multiscale):
    loss = image_loss(
        "ms_ssim" if multiscale else "ssim", ssim_win_size=11, ms_ssim_win_size=3, ms_ssim_size=64
    )
    x = digits(6)
    target = (x + 0.2 * digits(6).roll(1, dims=0)).clamp(0, 1)

    def gradient() -> torch.Tensor:
        output = x.clone().requires_grad_()
        loss(output, target).backward()
        return output.grad.flatten()

    reference = gradient()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = gradient()
    assert F.cosine_similarity(mixed, reference, dim=0) > 0.99


def test_an_ms_ssim_configuration_the_library_would_reject_fails_at_validation():
    raw = smoke_params()
    raw["s4"]["denoise"]["ms_ssim_size"] = 32
    with pytest.raises(ParamsError, match="ms_ssim_size = 32 is too small"):
        validate(raw)
    raw["s4"]["denoise"]["ms_ssim_size"] = 64
    raw["s4"]["denoise"]["ssim_win_size"] = 10
    with pytest.raises(ParamsError, match="must be odd"):
        validate(raw)


def test_noise_is_clipped_and_reproducible():
    x = digits()
    a = add_noise(x, 0.5, torch.Generator().manual_seed(1))
    b = add_noise(x, 0.5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)


def test_codes_that_separate_the_classes_classify_well():
    from dlrepro.config import CodeClassifierConfig

    rng = np.random.default_rng(0)
    labels = {split: np.arange(200) % 4 for split in ("train", "test")}
    codes = {split: np.eye(4)[y] * 5 + rng.normal(size=(200, 4)) for split, y in labels.items()}
    accuracy = code_accuracy(codes, labels, CodeClassifierConfig(hidden=[8], max_iter=300))
    assert accuracy["train_acc"] > 0.95 and accuracy["test_acc"] > 0.9


def test_gan_and_cgan_steps_update_both_networks():
    torch.manual_seed(0)
    x = digits(16)
    pair = GANPair(DCGANGenerator(8, 4), DCGANDiscriminator(4))
    before = {k: v.clone() for k, v in pair.state_dict().items()}
    spec = Adversarial(lr=1e-3, beta1=0.5, noise_dim=8)
    result = fit_adversarial(
        pair, spec, TensorSplit(x, x), None, epochs=1, batch_size=8, patience=1, seed=0
    )
    row = result.history[0]
    assert {"d_loss", "g_loss", "train_loss"} <= set(row) and "val_loss" not in row
    for prefix in ("generator.", "discriminator."):
        assert any(
            not torch.equal(before[k], v)
            for k, v in result.best_state.items()
            if k.startswith(prefix)
        )
    colour = torch.rand(16, 3, 32, 32)
    cgan = GANPair(UNet(1, 3, 4, 2), PatchDiscriminator(4, 4))
    split = TensorSplit(grey(colour), colour)
    spec = Adversarial(lr=1e-3, beta1=0.5, l1_weight=100.0)
    result = fit_adversarial(cgan, spec, split, split, epochs=1, batch_size=8, patience=1, seed=0)
    assert result.history[0]["val_loss"] > 0  # L1 to the colour targets


def test_an_adversarial_run_records_its_validation_measure_and_where_it_peaked():
    x = digits(16)
    pair = GANPair(DCGANGenerator(8, 4), DCGANDiscriminator(4))
    scores = iter([0.5, 2.0, 1.0, 1.5, 9.0])
    spec = Adversarial(lr=1e-3, beta1=0.5, noise_dim=8, quality=lambda generator: next(scores))
    snapshots = []
    result = fit_adversarial(
        pair, spec, TensorSplit(x, x), None, epochs=5, batch_size=8, patience=2, seed=0,
        on_epoch=lambda row: snapshots.append(clone_state(pair)),
    )  # fmt: skip
    # early stopping on the validation measure: epochs 3 and 4 fall short of epoch 2's peak
    assert [row["val_quality"] for row in result.history] == [0.5, 2.0, 1.0, 1.5]
    assert result.best_epoch == 2 and result.stopped_early
    assert all(torch.equal(result.best_state[k], snapshots[1][k]) for k in snapshots[1])
    # without a validation measure every epoch runs and the last weights are kept
    unmeasured = Adversarial(lr=1e-3, beta1=0.5, noise_dim=8)
    plain = fit_adversarial(
        pair, unmeasured, TensorSplit(x, x), None, epochs=3, batch_size=8, patience=1, seed=0
    )
    assert (plain.best_epoch, len(plain.history), plain.stopped_early) == (3, 3, False)


def test_grey_is_the_luminance_of_the_colour_image():
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[:, 1] = 1.0  # pure green
    assert torch.allclose(grey(rgb), torch.full((1, 1, 2, 2), 0.587))


def test_layer_table_lists_every_layer_with_its_shape_and_parameters():
    model = ConvAutoencoder(32, 10, [4, 8, 8, 8])
    rows = layer_table(model, digits(2))
    assert rows[0] == ("Conv2d 3x3, stride 2", "4x16x16", 36)
    assert rows[-1] == ("Sigmoid", "1x32x32", 0)
    assert sum(count for *_, count in rows) == sum(p.numel() for p in model.parameters())
    assert model.training  # the table is taken in eval mode and the mode restored


def test_offline_mnist_reader_splits_the_5000_digits_stratified(tmp_path):
    rows = np.zeros((50, 785), dtype=np.int64)
    rows[:, -1] = np.arange(50) % 10
    rows[:, 0] = np.arange(50)  # a pixel that identifies the row
    with gzip.open(tmp_path / mnist.OFFLINE_FILE, "wt") as handle:
        np.savetxt(handle, rows, fmt="%d", delimiter=",")
    splits = mnist.load(tmp_path)
    assert splits.train_x.shape == (40, 28, 28, 1) and splits.test_x.shape == (10, 28, 28, 1)
    assert sorted(splits.test_y.tolist()) == list(range(10))  # one test digit per class
    ids = set(splits.train_x[:, 0, 0, 0].tolist()) | set(splits.test_x[:, 0, 0, 0].tolist())
    assert len(ids) == 50  # every digit used once


def test_colour_patches_are_split_by_source_photo(tmp_path, monkeypatch):
    names = [f"photo_{i}.png" for i in range(10)]
    for i, name in enumerate(names):
        # Each photo a flat colour that identifies it, 256x160 px.
        Image.new("RGB", (256, 160), (i * 20, 255 - i * 20, 7)).save(tmp_path / name)
    monkeypatch.setattr(colour_photos, "CHECKSUMS", {n: "" for n in names})
    splits = colour_photos.load(tmp_path)
    assert splits.train_x.shape[1:] == (32, 32, 3)
    train_photos, test_photos = set(splits.train_y.tolist()), set(splits.test_y.tolist())
    assert not train_photos & test_photos and len(test_photos) == 2
    for x, y in ((splits.train_x, splits.train_y), (splits.test_x, splits.test_y)):
        assert (x[:, 0, 0, 0] == y * 20).all()  # every patch comes from the photo it names
    # a 128 x 204 photo after shrinking: 7 x 11 patches on a 16 px grid
    assert len(splits.test_y) == 2 * 7 * 11


def test_prepare_can_keep_unit_pixels_and_pad_to_32(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 28, 28, 1), dtype=np.uint8)
    y = np.arange(60) % 3
    register(
        DatasetSpec(
            name="tiny_digits", licence="test", homepage="", checksums={"offline": {}},
            fetchers={}, load=lambda raw: ImageSplits(x[:40], y[:40], x[40:], y[40:], list("abc")),
        )
    )  # fmt: skip
    raw = tmp_path / "raw" / "tiny_digits"
    raw.mkdir(parents=True)
    (raw / "SOURCE.json").write_text(
        '{"source": "offline", "licence": "test", "homepage": "", "files": {}}'
    )
    manifest = prepare_images(
        "tiny_digits", tmp_path / "raw", tmp_path / "out", n_train=None, n_test=None,
        val_fraction=0.25, standardise=False, pad_to=32,
    )  # fmt: skip
    test = load_prepared(tmp_path / "out")[0]["test"].decoded().x
    assert test.shape == (20, 1, 32, 32) and manifest["image_shape"] == [32, 32, 1]
    assert test[:, :, :2].abs().max() == 0 and test[:, :, 2:30, 2:30].max() <= 1
    assert math.isclose(float(test[0, 0, 2:30, 2:30].mul(255).round()[0, 0]), x[40, 0, 0, 0])
