"""Section 5, generative models: VAE with and without KL and a GAN scored by Inception Score;
colourisation by a UNet against a pix2pix cGAN.

5.1 Table 6: a convolutional VAE trained with its KL term and without it (`kl_weight` 0), and
    a DCGAN, all on Section 4's digits. MSE of the VAEs' test reconstructions; Inception Score
    of samples drawn from the prior (the GAN's noise) for all three, with torchmetrics'
    InceptionScore over a digit classifier trained in its own stage (ImageNet's Inception sees
    no digits). The classifier's accuracy and the score of real held-out digits (the ceiling,
    near 10 for ten balanced, confidently classified classes) are reported beside them.
5.2 Figure 24: greyscale -> colour with a UNet trained on L1 alone and with the same UNet as a
    pix2pix generator (PatchGAN discriminator, adversarial + lambda x L1); test MAE of both.
Each condition runs once per seed; results are mean ± std over seeds. Figures come from the
first seed's model.

Cost: per stage in bench/results/pipeline.json (2-core CPU, embedded profile, 3 seeds). The
paper profile (all of MNIST, CIFAR-10) wants a GPU.

    dlrepro s5 prepare                                colour images for 5.2
    dlrepro s5 classifier [--dry-run]                 the Inception Score's digit classifier
    dlrepro s5 generate --model NAME [--dry-run]      one row of Table 6
    dlrepro s5 colourise --model NAME [--dry-run]     UNet or cGAN
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from dlrepro.config import GenerativeModel, Params, TrainConfig, named
from dlrepro.data.prepare import DATA_SEED, TensorSplit, load_prepared, prepare_images
from dlrepro.experiments.imaging import SHOWN, apply, load_digits, mse, shown
from dlrepro.models.autoencoders import VAE
from dlrepro.models.cnn import SmallCNN
from dlrepro.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANPair,
    PatchDiscriminator,
    UNet,
)
from dlrepro.paths import MODELS, PAPER, PREPARED
from dlrepro.results import image_rows, save_figure
from dlrepro.tracking import log_figures
from dlrepro.training import weights as saved_weights
from dlrepro.training.adversarial import Adversarial
from dlrepro.training.loop import FitResult, clone_state, evaluate
from dlrepro.training.seeds import (
    DRY_RUN_BATCHES,
    Condition,
    Measured,
    dry_run_data,
    run_condition,
)

SECTION = "s5"
COLOUR_DIR = PREPARED / SECTION / "colour"
FIGURES_DIR = PAPER / "figures" / SECTION
CLASSIFIER = MODELS / SECTION / "digit_classifier.pt"
CLASSIFIER_METRICS = ["test_acc", "best_val_acc", "real_is", "best_epoch", "epochs"]
COLOURISERS = {"unet": "UNet (L1 only)", "cgan": "pix2pix cGAN (adversarial + L1)"}
LUMA = (0.299, 0.587, 0.114)
"""ITU-R BT.601 weights: the grey image a colouriser is given."""


def model_title(model: GenerativeModel) -> str:
    """A generative model as a figure names it, from its config: "VAE without KL"."""
    if model.kind == "gan":
        return "GAN (DCGAN)"
    if model.kl_weight == 0:
        return "VAE without KL"
    return "VAE" if model.kl_weight == 1 else f"VAE, KL weight {model.kl_weight:g}"


def datasets(params: Params) -> list[str]:
    """Raw datasets this section's stages read; its digits are Section 4's."""
    return [params.s4.dataset, params.s5.colourise.dataset]


def prepare(params: Params) -> None:
    cfg = params.s5.colourise
    prepare_images(
        cfg.dataset,
        Path(params.data.raw_dir),
        COLOUR_DIR,
        n_train=cfg.n_train,
        n_test=cfg.n_test,
        val_fraction=cfg.val_fraction,
        standardise=False,
    )


def inception_score(
    classifier: nn.Module, images: torch.Tensor, splits: int
) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) in `splits` groups: mean and std over the groups
    (torchmetrics' InceptionScore with `classifier` giving the class logits)."""
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = InceptionScore(feature=classifier.eval(), splits=splits)
    device = next(classifier.parameters()).device
    with torch.no_grad():
        for start in range(0, len(images), 1024):
            metric.update(images[start : start + 1024].to(device))
    # torchmetrics shuffles before splitting: a fixed seed keeps the groups fixed.
    torch.manual_seed(DATA_SEED)
    mean, std = metric.compute()
    return mean.item(), std.item()


def _classifier(params: Params) -> SmallCNN:
    cfg = params.s5.classifier
    return SmallCNN(1, params.s4.image_size, 10, cfg.conv_channels, cfg.dense, batch_norm=True)


def train_classifier(params: Params, *, dry_run: bool = False) -> dict | None:
    """The digit classifier once per seed; the first seed's weights go to
    models/s5/digit_classifier.pt for every Inception Score, results to results/s5/classifier/
    with the score of real test digits (the ceiling)."""
    cfg = params.s5
    digits, manifest = load_digits()
    if dry_run:
        digits = dry_run_data(digits, cfg.classifier_train.batch_size)
    real = digits["test"].x[: cfg.generated]

    def measure(model: nn.Module, result: FitResult) -> Measured:
        real_is, real_is_std = inception_score(model, real, cfg.is_splits)
        metrics = {
            "test_acc": evaluate(model, digits["test"], nn.CrossEntropyLoss())["acc"],
            "best_val_acc": result.history[result.best_epoch - 1]["val_acc"],
            "real_is": real_is,
            "real_is_std": real_is_std,
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
        }
        return Measured(metrics, kept=clone_state(model))

    condition = Condition(
        section=SECTION,
        name="classifier",
        profile=params.profile,
        config={
            "profile": params.profile,
            "classifier": cfg.classifier.model_dump(),
            "train": cfg.classifier_train.model_dump(),
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=lambda _: _classifier(params),
        train=cfg.classifier_train,
    )
    summary, weights = run_condition(
        condition,
        digits,
        params,
        measure=measure,
        metrics=CLASSIFIER_METRICS,
        dry_run=dry_run,
        n_real=len(real),
    )
    if summary is not None:
        saved_weights.save(weights[0], CLASSIFIER)
    return summary


def load_classifier(params: Params) -> tuple[SmallCNN, str]:
    """The digit classifier stage `s5_classifier` wrote, checked against its recorded digest,
    on the CPU; and that digest."""
    state, checksum = saved_weights.load(CLASSIFIER, stage="s5_classifier")
    model = _classifier(params)
    model.load_state_dict(state)
    return model.eval(), checksum


# 5.1 VAE with and without KL, GAN ----------------------------------------------------------------


def train_generative(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """Model `name` (a key of s5.models) once per seed: reconstruction MSE (VAEs) and Inception
    Score of `s5.generated` samples under results/s5/generate_<name>/, a sample grid under
    paper/figures/s5/generate_<name>/."""
    cfg = params.s5
    spec = named(cfg.models, name, "s5.models")
    batch_size = (cfg.vae_train if spec.kind == "vae" else cfg.gan_train).batch_size
    digits, manifest = load_digits()
    if dry_run:  # and an Inception Score of as many samples, in two groups
        digits = dry_run_data(digits, batch_size)
        generated = min(cfg.generated, DRY_RUN_BATCHES * batch_size)
        cfg = cfg.model_copy(update={"generated": generated, "is_splits": 2})
    targets = {split: TensorSplit(d.x, d.x) for split, d in digits.items()}
    side = params.s4.image_size
    # Checked before any training, though the scores need it only once a seed has trained.
    _, classifier_checksum = load_classifier(params)

    def latents(seed: int) -> torch.Tensor:
        return torch.randn(
            cfg.generated, cfg.latent_dim, generator=torch.Generator().manual_seed(seed)
        )

    def generate(model: nn.Module) -> torch.Tensor:
        # The same latent draws for every model and seed.
        decode = model.decoder if spec.kind == "vae" else model.generator
        return apply(decode, latents(DATA_SEED), next(model.parameters()).device)

    @functools.cache
    def classifier(device: torch.device) -> SmallCNN:
        # Read once per seed's process (checked again there: a SLURM job reads it on its node),
        # not at every epoch's score.
        return load_classifier(params)[0].to(device)

    @torch.no_grad()
    def validation_score(generator: nn.Module) -> float:
        """The epoch's Inception Score on latent draws the reported score never sees."""
        device = next(generator.parameters()).device
        samples = apply(generator.eval(), latents(DATA_SEED + 1), device)
        return inception_score(classifier(device), samples, cfg.is_splits)[0]

    def measure(model: nn.Module, result: FitResult) -> Measured:
        device = next(model.parameters()).device
        model.eval()
        samples = generate(model)
        score, score_std = inception_score(classifier(device), samples, cfg.is_splits)
        row = {"inception_score": score, "inception_score_std": score_std}
        if spec.kind == "vae":
            for split in ("train", "test"):
                row[f"{split}_mse"] = mse(apply(model, digits[split].x, device), digits[split].x)
        row |= {"best_epoch": result.best_epoch, "epochs": len(result.history)}
        return Measured(row, kept=samples[: 4 * SHOWN])

    if spec.kind == "vae":
        build = lambda _: VAE(side, cfg.latent_dim, cfg.vae_channels, spec.kl_weight)  # noqa: E731
        train, adversarial, loss_fn = cfg.vae_train, None, nn.BCELoss()
        metrics = ["test_mse", "train_mse", "inception_score", "best_epoch", "epochs"]
    else:
        build = lambda _: GANPair(  # noqa: E731
            DCGANGenerator(cfg.latent_dim, cfg.gan_width), DCGANDiscriminator(cfg.gan_width)
        )
        g = cfg.gan_train
        train = TrainConfig(
            epochs=g.epochs,
            batch_size=g.batch_size,
            lr=g.lr,
            optimizer="adam",
            patience=g.patience,
            min_delta=g.min_delta,
        )
        adversarial = Adversarial(g.lr, g.beta1, noise_dim=cfg.latent_dim, quality=validation_score)
        loss_fn, metrics = None, ["inception_score", "best_epoch", "epochs"]
    # this kind's network and recipe: a VAE's runs read none of the GAN's settings
    own = {"vae_channels", "vae_train"} if spec.kind == "vae" else {"gan_width", "gan_train"}
    condition = Condition(
        section=SECTION,
        name=f"generate_{name}",
        profile=params.profile,
        config={
            "profile": params.profile,
            "model": name,
            **spec.model_dump(),
            "s5": cfg.model_dump(include={"latent_dim", "generated", "is_splits", *own}),
            # The GAN's best epoch is picked by the classifier's score: its weights' digest.
            "classifier": classifier_checksum,
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=build,
        train=train,
        loss_fn=loss_fn,
        adversarial=adversarial,
    )
    summary, shown_samples = run_condition(
        condition, targets, params, measure=measure, metrics=metrics, dry_run=dry_run,
        model=name, kind=spec.kind, generated=cfg.generated,
    )  # fmt: skip
    if summary is not None:
        path = FIGURES_DIR / f"generate_{name}" / "samples.png"
        grid = shown_samples[0].view(4, SHOWN, 1, side, side).numpy()
        rows = {"": grid[0], " ": grid[1], "  ": grid[2], "   ": grid[3]}
        save_figure(image_rows(rows, f"{model_title(spec)}: samples from the prior"), path)
        log_figures(SECTION, params.profile, [path])
    return summary


# 5.2 Colourisation: UNet vs cGAN ---------------------------------------------------------------


def grey(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luminance."""
    weights = torch.tensor(LUMA, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Per image of (N, 3, H, W) in [0, 1]: Hasler and Süsstrunk's colourfulness (2003), the
    spread and mean strength of the red-green and yellow-blue opponent channels (0 for grey
    images)."""
    red, green, blue = rgb.unbind(dim=1)
    opponents = torch.stack([red - green, (red + green) / 2 - blue], dim=1).flatten(2)
    # Norms, not `.sqrt()`: torch's elementwise square root is MKL's, which rounds by CPU vendor
    # (numerics.py); a norm's and a standard deviation's roots are exact.
    spread = torch.linalg.vector_norm(opponents.std(dim=2, correction=0), dim=1)
    strength = torch.linalg.vector_norm(opponents.mean(dim=2), dim=1)
    return spread + 0.3 * strength


def colourise(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """Colouriser `name` (a key of s5.colourise.models) once per seed: test and train MAE, and
    how far the test outputs' mean colourfulness falls from the true images' (`colour_gap`,
    the report's "more realistic colors" made measurable), under results/s5/colourise_<name>/;
    grey / output / truth under paper/figures/s5/."""
    cfg = params.s5.colourise
    kind = named(cfg.models, name, "s5.colourise.models")
    colour, manifest = load_prepared(COLOUR_DIR)
    if dry_run:
        colour = dry_run_data(colour, cfg.train.batch_size)
    pixels = {split: data.decoded().x for split, data in colour.items()}
    splits = {split: TensorSplit(grey(x), x) for split, x in pixels.items()}
    test = splits["test"]
    index = shown(len(test))

    def measure(model: nn.Module, result: FitResult) -> Measured:
        device = next(model.parameters()).device
        model.eval()
        out = {s: apply(model, splits[s].x, device) for s in ("train", "test")}
        mae = {f"{s}_mae": (out[s] - splits[s].y).abs().mean().item() for s in out}
        gap = colourfulness(out["test"]).mean() - colourfulness(test.y).mean()
        metrics = {
            **mae,
            "colour_gap": gap.abs().item(),
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
        }
        return Measured(metrics, kept=out["test"][index])

    def unet() -> UNet:
        return UNet(1, 3, cfg.width, cfg.depth)

    adversarial = None
    build = lambda _: unet()  # noqa: E731
    if kind == "cgan":
        adversarial = Adversarial(cfg.train.lr, cfg.adam_beta1, l1_weight=cfg.l1_weight)
        build = lambda _: GANPair(unet(), PatchDiscriminator(4, cfg.width))  # noqa: E731
    condition = Condition(
        section=SECTION,
        name=f"colourise_{name}",
        profile=params.profile,
        config={
            "profile": params.profile,
            "model": name,
            "kind": kind,
            "colourise": cfg.model_dump(exclude={"models"}),
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=build,
        train=cfg.train,
        loss_fn=nn.L1Loss(),
        adversarial=adversarial,
    )
    summary, shown_colourised = run_condition(
        condition, splits, params, measure=measure,
        metrics=["test_mae", "train_mae", "colour_gap", "best_epoch", "epochs"], dry_run=dry_run,
        model=name, kind=kind,
    )  # fmt: skip
    if summary is not None:
        path = FIGURES_DIR / f"colourise_{name}" / "colourised.png"
        rows = {
            "grey input": test.x[index].numpy(),
            kind: shown_colourised[0].numpy(),
            "truth": test.y[index].numpy(),
        }
        save_figure(image_rows(rows, f"Colourisation by {COLOURISERS[kind]}"), path)
        log_figures(SECTION, params.profile, [path])
    return summary
