"""Section 4, autoencoders: PCA vs MLP vs CNN codes, and denoising under four losses.

4.1 Table 4, Figures 20-21: a 10-d code from PCA (scikit-learn), an MLP autoencoder and a CNN
    autoencoder on digits zero-padded to 32x32; reconstruction MSE on train and test, and the
    accuracy of a classifier (scikit-learn's MLPClassifier) trained on each code.
4.2 Table 5, Figures 6-7 and 22-23: the CNN autoencoder trained to remove Gaussian noise with
    MSE, MAE, SSIM or MS-SSIM loss (pytorch-msssim); MSE to the clean digits on validation,
    training and test images (all with the same fixed noise).
Each condition runs once per seed (PCA and its classifier are deterministic: every seed repeats
the same numbers); results are mean ± std over seeds. Figures come from the first seed's model.

Cost: per stage in bench/results/pipeline.json (2-core CPU, embedded profile, 3 seeds). The
paper profile (all 70,000 digits) wants a GPU.

    dlrepro s4 prepare                               digits padded to 32x32, in [0, 1]
    dlrepro s4 autoencoder --encoder NAME [--dry-run]  one row of Table 4
    dlrepro s4 denoise --loss NAME [--dry-run]       one row of Table 5
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from dlrepro.config import Params, named
from dlrepro.data.prepare import DATA_SEED, TensorSplit, prepare_images
from dlrepro.experiments.imaging import DIGITS_DIR, apply, load_digits, mse, shown
from dlrepro.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from dlrepro.models.summary import layer_table
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import (
    architecture_figure,
    image_rows,
    save_figure,
)
from dlrepro.tracking import log_figures
from dlrepro.training.loop import FitResult
from dlrepro.training.losses import SimilarityLoss, image_loss
from dlrepro.training.seeds import (
    Condition,
    Measured,
    dry_run_data,
    run_condition,
    write_results,
)

SECTION = "s4"
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION
CODE_METRICS = ["train_mse", "test_mse", "train_acc", "test_acc", "best_epoch", "epochs"]
DENOISE_METRICS = ["val_mse", "train_mse", "test_mse", "test_ssim", "best_epoch", "epochs"]
# How figures name an encoder kind and a training loss.
ENCODER_NAMES = {"pca": "PCA", "mlp": "MLP autoencoder", "cnn": "CNN autoencoder"}
LOSS_NAMES = {"mse": "MSE", "mae": "MAE", "ssim": "SSIM", "ms_ssim": "MS-SSIM"}


def datasets(params: Params) -> list[str]:
    """Raw datasets this section's stages read (what `dlrepro fetch` gets)."""
    return [params.s4.dataset]


def prepare(params: Params) -> None:
    cfg = params.s4
    prepare_images(
        cfg.dataset,
        Path(params.data.raw_dir),
        DIGITS_DIR,
        n_train=cfg.n_train,
        n_test=cfg.n_test,
        val_fraction=cfg.val_fraction,
        standardise=False,
        pad_to=cfg.image_size,
    )


def code_accuracy(
    codes: dict[str, np.ndarray], labels: dict[str, np.ndarray], cfg
) -> dict[str, float]:
    """Train and test accuracy of a classifier fitted on the training codes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(
        StandardScaler(),
        MLPClassifier(cfg.hidden, max_iter=cfg.max_iter, random_state=DATA_SEED),
    )
    with warnings.catch_warnings():
        # max_iter is a param: stopping there is intended, not a failure to report per seed.
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(codes["train"], labels["train"])
    return {
        f"{split}_acc": float(classifier.score(codes[split], labels[split]))
        for split in ("train", "test")
    }


def _flat(x: torch.Tensor) -> np.ndarray:
    return x.flatten(1).numpy()


# 4.1 PCA vs MLP vs CNN autoencoder -------------------------------------------------------------


def _pca_runs(
    params: Params, digits: dict[str, TensorSplit]
) -> tuple[list[dict], pd.DataFrame, torch.Tensor]:
    """PCA fitted on the training digits; one identical row per seed (it is deterministic)."""
    from sklearn.decomposition import PCA

    cfg = params.s4
    pca = PCA(cfg.code_dim, svd_solver="full").fit(_flat(digits["train"].x))
    codes = {split: pca.transform(_flat(d.x)) for split, d in digits.items()}
    recon = {
        split: torch.from_numpy(pca.inverse_transform(codes[split])).float().view_as(d.x)
        for split, d in digits.items()
    }
    row = {
        "train_mse": mse(recon["train"], digits["train"].x),
        "test_mse": mse(recon["test"], digits["test"].x),
        **code_accuracy(codes, {s: d.y.numpy() for s, d in digits.items()}, cfg.classifier),
        "best_epoch": 1,
        "epochs": 1,
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
    }
    history = pd.DataFrame(
        {
            "seed": params.seeds.of(SECTION),
            "epoch": 1,
            "train_loss": row["train_mse"],
            "val_loss": mse(recon["val"], digits["val"].x),
        }
    )
    shown_test = recon["test"][shown(len(recon["test"]))]
    return [{"seed": seed, **row} for seed in params.seeds.of(SECTION)], history, shown_test


def _autoencoder(kind: str, params: Params) -> nn.Module:
    cfg = params.s4
    if kind == "mlp":
        return MLPAutoencoder(cfg.image_size, cfg.code_dim, cfg.mlp.hidden, cfg.mlp.dropout)
    return ConvAutoencoder(cfg.image_size, cfg.code_dim, cfg.cnn.channels)


def train_autoencoder(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """Encoder `name` (a key of s4.encoders) once per seed: results/s4/autoencoder_<name>/ and
    its figures under paper/figures/s4/autoencoder_<name>/."""
    cfg = params.s4
    kind = named(cfg.encoders, name, "s4.encoders")
    digits, manifest = load_digits()
    if dry_run:
        digits = dry_run_data(digits, cfg.train.batch_size)
    index = shown(len(digits["test"]))
    condition_name = f"autoencoder_{name}"
    info = {"encoder": name, "kind": kind, "code_dim": cfg.code_dim}
    if kind == "pca":
        runs, history, shown_recon = _pca_runs(params, digits)
        if dry_run:
            print(f"dry run of {SECTION}/{condition_name} passed: PCA fitted, nothing written")
            return None
        metrics = [*CODE_METRICS, "explained_variance"]
        summary = write_results(RESULTS_DIR / condition_name, history, runs, metrics, **info)
        _write_code_figures(params, kind, name, digits["test"].x[index], shown_recon, None)
        return summary

    targets = {split: TensorSplit(d.x, d.x) for split, d in digits.items()}
    labels = {split: d.y.numpy() for split, d in digits.items()}

    def measure(model: nn.Module, result: FitResult) -> Measured:
        device = next(model.parameters()).device
        model.eval()
        recon = {s: apply(model, digits[s].x, device) for s in ("train", "test")}
        codes = {s: apply(model.encode, d.x, device).numpy() for s, d in digits.items()}
        metrics = {
            "train_mse": mse(recon["train"], digits["train"].x),
            "test_mse": mse(recon["test"], digits["test"].x),
            **code_accuracy(codes, labels, cfg.classifier),
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
        }
        return Measured(metrics, kept=recon["test"][index])

    condition = Condition(
        section=SECTION,
        name=condition_name,
        profile=params.profile,
        config={
            "profile": params.profile,
            **info,
            # the other network's settings are no part of this one's runs
            "s4": cfg.model_dump(exclude={"denoise", "encoders", *({"mlp", "cnn"} - {kind})}),
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=lambda _: _autoencoder(kind, params),
        train=cfg.train,
        loss_fn=nn.MSELoss(),
    )
    summary, shown_recons = run_condition(
        condition, targets, params, measure=measure, metrics=CODE_METRICS, dry_run=dry_run, **info
    )
    if summary is not None:
        _write_code_figures(
            params, kind, name, digits["test"].x[index], shown_recons[0], _autoencoder(kind, params)
        )
    return summary


def _write_code_figures(
    params: Params,
    kind: str,
    name: str,
    clean: torch.Tensor,
    recon: torch.Tensor,
    model: nn.Module | None,
) -> None:
    out = FIGURES_DIR / f"autoencoder_{name}"
    paths = [out / "reconstructions.png"]
    title = ENCODER_NAMES[kind]
    fig = image_rows(
        {"input": clean.numpy(), "reconstruction": recon.numpy()},
        f"{title}: test digits and their reconstructions from a {params.s4.code_dim}-d code",
    )
    save_figure(fig, paths[-1])
    if model is not None:
        layers = layer_table(model, clean[:2])
        paths.append(out / "architecture.png")
        save_figure(architecture_figure(layers, title), paths[-1])
    log_figures(SECTION, params.profile, paths)


# 4.2 Denoising under four losses -----------------------------------------------------------------


def add_noise(
    x: torch.Tensor, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gaussian noise on [0, 1] pixels, clipped back to [0, 1]."""
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    return (x + std * noise).clamp(0, 1)


def train_denoiser(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """The CNN autoencoder trained with loss `name` (a key of s4.denoise.losses) once per seed:
    results/s4/denoise_<name>/ and paper/figures/s4/denoise_<name>/denoising.png."""
    cfg, dn = params.s4, params.s4.denoise
    loss = named(dn.losses, name, "s4.denoise.losses")
    digits, manifest = load_digits()
    if dry_run:
        digits = dry_run_data(digits, cfg.train.batch_size)
    # One fixed noise draw per split for measuring; training draws fresh noise every batch.
    fixed = torch.Generator().manual_seed(DATA_SEED)
    noisy = {split: add_noise(d.x, dn.noise_std, fixed) for split, d in digits.items()}
    splits = {
        "train": TensorSplit(digits["train"].x, digits["train"].x),
        "val": TensorSplit(noisy["val"], digits["val"].x),
    }
    ssim = SimilarityLoss(multiscale=False, win_size=dn.ssim_win_size)
    index = shown(len(digits["test"]))

    def measure(model: nn.Module, result: FitResult) -> Measured:
        device = next(model.parameters()).device
        model.eval()
        denoised = {s: apply(model, noisy[s], device) for s in ("train", "val", "test")}
        metrics = {
            **{f"{s}_mse": mse(denoised[s], digits[s].x) for s in ("val", "train", "test")},
            "test_ssim": 1 - ssim(denoised["test"], digits["test"].x).item(),
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
        }
        return Measured(metrics, kept=denoised["test"][index])

    loss_fn = image_loss(
        loss,
        ssim_win_size=dn.ssim_win_size,
        ms_ssim_win_size=dn.ms_ssim_win_size,
        ms_ssim_size=dn.ms_ssim_size,
    )
    condition = Condition(
        section=SECTION,
        name=f"denoise_{name}",
        profile=params.profile,
        config={
            "profile": params.profile,
            "loss": loss,
            "denoise": dn.model_dump(exclude={"losses"}),
            "cnn": cfg.cnn.model_dump(),
            "train": cfg.train.model_dump(),
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=lambda _: ConvAutoencoder(cfg.image_size, dn.code_dim, cfg.cnn.channels),
        train=cfg.train.model_copy(update={"epochs": dn.epochs}),
        loss_fn=loss_fn,
        augment=lambda x: add_noise(x, dn.noise_std),
    )
    summary, shown_denoised = run_condition(
        condition,
        splits,
        params,
        measure=measure,
        metrics=DENOISE_METRICS,
        dry_run=dry_run,
        loss=loss,
        noisy_test_mse=round(mse(noisy["test"], digits["test"].x), 6),
    )
    if summary is not None:
        path = FIGURES_DIR / f"denoise_{name}" / "denoising.png"
        rows = {
            "noisy input": noisy["test"][index].numpy(),
            "denoised": shown_denoised[0].numpy(),
            "clean": digits["test"].x[index].numpy(),
        }
        title = f"Denoising trained with the {LOSS_NAMES[loss]} loss"
        save_figure(image_rows(rows, title), path)
        log_figures(SECTION, params.profile, [path])
    return summary
