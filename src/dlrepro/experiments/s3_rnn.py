"""Section 3, RNNs: window size, sentiment models, word- vs character-level text generation.

3.1 s3_airline.py: Figure 3, forecasting the airline series from windows of 1-12 months.
3.2 s3_sentiment.py: Table 3, Figures 17-19, embedding-only vs LSTM vs LSTM+GloVe reviews.
3.3 s3_text_generation.py: Figures 4-5, word- vs character-level Shakespeare, BLEU per
    sampling temperature.
This module holds what the three share: the section's folders, the prepare stage (the data
code is data/sequence_tasks.py) and the section's figures.
Each condition runs once per seed; results are mean ± std over seeds (BLEU: of each seed's mean
over its samples).

Cost: per stage in bench/results/pipeline.json (2-core CPU, embedded profile, 3 seeds). The
paper profile (IMDB, GloVe 300d, all 42 works) wants a GPU.

    dlrepro s3 prepare                              the three tasks' data
    dlrepro s3 airline [--dry-run]                  every window of Figure 3
    dlrepro s3 sentiment --model NAME [--dry-run]   one row of Table 3 (a DVC foreach stage)
    dlrepro s3 textgen --level word|char [--dry-run]
    dlrepro s3 figures
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlrepro.config import Params, SentimentModel
from dlrepro.data.sequence_tasks import prepare_airline, prepare_sentiment, prepare_text
from dlrepro.paths import PAPER, PREPARED, RESULTS
from dlrepro.results import learning_curves, load_metrics, save_figure, spread_label, subplots
from dlrepro.tracking import log_figures

SECTION = "s3"
DATA_DIR = PREPARED / SECTION
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION


def datasets(params: Params) -> list[str]:
    """Raw datasets this section's stages read (what `dlrepro fetch` gets)."""
    sentiment = params.s3.sentiment
    return ["airline", sentiment.dataset, sentiment.glove, "shakespeare"]


def prepare(params: Params) -> None:
    raw = Path(params.data.raw_dir)
    prepare_airline(params.s3.airline, raw, DATA_DIR / "airline")
    prepare_sentiment(params.s3.sentiment, raw, DATA_DIR / "sentiment")
    prepare_text(params.s3.textgen, raw, DATA_DIR / "text")


def sentiment_title(model: SentimentModel) -> str:
    """A sentiment model as a figure names it, from its config."""
    if model.kind == "embedding_pool":
        return "embedding only (average pooling)"
    return "LSTM, GloVe-initialised embedding" if model.glove else "LSTM, trainable embedding"


def make_figures(params: Params) -> list[Path]:
    """Figure 3 (forecasts per window), Figures 17-19 (sentiment curves), Figures 4-5 (BLEU
    against temperature for both levels, on words and on characters)."""
    cfg = params.s3
    paths = []

    forecasts = pd.read_csv(RESULTS_DIR / "airline" / "forecasts.csv")
    windows = cfg.airline.windows
    fig, axes = subplots(len(windows), width=3.6 * len(windows), height=3.2)
    x = np.arange(len(forecasts))
    for ax, window in zip(axes, windows, strict=True):
        mean, std = forecasts[f"window_{window}_mean"], forecasts[f"window_{window}_std"]
        ax.plot(x, forecasts["actual"], color="black", lw=1, label="actual")
        ax.plot(x, mean, label="RNN forecast")
        ax.fill_between(x, mean - std, mean + std, alpha=0.25, linewidth=0)
        test = np.flatnonzero(forecasts["split"] == "test")
        ax.axvspan(test[0], test[-1], color="grey", alpha=0.12, linewidth=0)
        ticks = x[forecasts["month"].str.endswith("-01")][::2]
        ax.set_xticks(ticks, forecasts["month"].iloc[ticks].str[:4])
        ax.set(title=f"window {window} month{'s' if window > 1 else ''}", xlabel="year")
    axes[0].set_ylabel("passengers (thousands)")
    axes[0].legend(fontsize=8)
    paths.append(FIGURES_DIR / "airline_windows.png")
    save_figure(fig, paths[-1])

    for name, model in cfg.sentiment.models.items():
        history = pd.read_csv(RESULTS_DIR / f"sentiment_{name}" / "history_seeds.csv")
        title = f"{sentiment_title(model)} ({spread_label(history['seed'].nunique())})"
        fig = learning_curves(history, title)
        paths.append(FIGURES_DIR / f"curves_sentiment_{name}.png")
        save_figure(fig, paths[-1])

    # The spread of the BLEU table: each seed's mean over its samples, mean ± std over seeds
    # (the values the claims test), read from the same metrics.json.
    from dlrepro.experiments.s3_text_generation import bleu_key

    temperatures = cfg.textgen.temperatures
    fig, axes = subplots(2, width=10, height=3.6)
    for level, metrics in load_metrics(SECTION, cfg.textgen.levels, prefix="textgen_").items():
        for ax, basis in zip(axes, ("words", "chars"), strict=True):
            points = [metrics[bleu_key(basis, t)] for t in temperatures]
            ax.errorbar(
                temperatures,
                [point["mean"] for point in points],
                yerr=[point["std"] for point in points],
                marker="o",
                capsize=3,
                label=f"{level}-level model",
            )
    for ax, basis in zip(axes, ("word", "character"), strict=True):
        ax.set(
            xlabel="sampling temperature",
            ylabel=f"BLEU-4 on {basis}s",
            title=f"scored on {basis} n-grams",
        )
    axes[0].legend()
    paths.append(FIGURES_DIR / "bleu_temperature.png")
    save_figure(fig, paths[-1])
    log_figures(SECTION, params.profile, paths)
    return paths
