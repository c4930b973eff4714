"""Section 3, RNNs: window size, sentiment models, word- vs character-level text generation.

3.1 Figure 3: a SimpleRNN forecasts the monthly airline series one month ahead from the last
    1, 3, 6 or 12 months; test RMSE and MAE over the last 36 months, beside persistence and
    seasonal-naive forecasts (scaling fitted on the training months only).
3.2 Table 3, Figures 17-19: embedding-only, LSTM and LSTM+GloVe review classifiers; test and
    train accuracy and the positive-class scores of the report's two probe sentences.
3.3 Figures 4-5: word- and character-level LSTM language models on Shakespeare; BLEU of
    generations from held-out prompts against held-out passages, per sampling temperature,
    scored on words (the same basis for both models) and on characters (the report's basis
    for the character model).
Each condition runs once per seed; results are mean ± std over seeds (BLEU over samples too).

Cost (2-core CPU, embedded profile, 3 seeds; per stage in bench/results/pipeline.json): about
8 minutes for the section. The paper profile (IMDB, GloVe 300d, all 42 works) wants a GPU.

    dlrepro s3 prepare                              the three tasks' data
    dlrepro s3 airline [--dry-run]                  every window of Figure 3
    dlrepro s3 sentiment --model NAME [--dry-run]   one row of Table 3 (a DVC foreach stage)
    dlrepro s3 textgen --level word|char [--dry-run]
    dlrepro s3 figures
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from dlrepro.config import (
    AirlineConfig,
    Params,
    ParamsError,
    SentimentConfig,
    TextGenConfig,
    named,
)
from dlrepro.data import get_dataset, verify_raw
from dlrepro.data.airline import FIRST_MONTH
from dlrepro.data.prepare import (
    DATA_SEED,
    SPLITS,
    TensorSplit,
    provenance,
    read_prepared,
    stratified_split,
    stratified_subset,
    write_prepared,
)
from dlrepro.data.sequences import (
    PAD,
    UNK,
    build_vocabulary,
    detokenise,
    encode,
    lm_chunks,
    lm_tokens,
    normalise_text,
    pad_front,
    sliding_windows,
    words,
)
from dlrepro.models.rnn import EmbeddingPool, LSTMClassifier, TokenLSTM, WindowRNN, sample
from dlrepro.paths import PAPER, PREPARED, RESULTS
from dlrepro.results import learning_curves, save_figure, spread_label, subplots, write_json
from dlrepro.tracking import log_figures
from dlrepro.training.loop import FitResult, evaluate, resolve_device
from dlrepro.training.seeds import Condition, Measured, run_condition

SECTION = "s3"
DATA_DIR = PREPARED / SECTION
RESULTS_DIR = RESULTS / SECTION
FIGURES_DIR = PAPER / "figures" / SECTION
POSITIVE = 1
AIRLINE_METRICS = ["test_rmse", "test_mae", "best_epoch", "epochs"]
SENTIMENT_METRICS = ["test_acc", "train_acc", "best_val_acc", "best_epoch", "epochs"]
LM_METRICS = ["test_loss", "test_perplexity", "test_acc", "best_epoch", "epochs"]


def prepare(params: Params) -> None:
    raw = Path(params.data.raw_dir)
    _prepare_airline(params.s3.airline, raw)
    _prepare_sentiment(params.s3.sentiment, raw)
    _prepare_text(params.s3.textgen, raw)


# 3.1 Airline passengers: window size -----------------------------------------------------------


def _prepare_airline(cfg: AirlineConfig, raw: Path) -> None:
    record = verify_raw(raw, "airline")
    series = get_dataset("airline").load(raw / "airline")
    months = len(series)
    test_start = months - cfg.test_months
    val_start = test_start - cfg.val_months
    # Every window forecasts the same target months, so their errors compare like for like.
    first = max(cfg.windows)
    if val_start - first < 12:
        raise ParamsError(
            f"s3.airline: windows up to {first} months with {cfg.val_months} validation and "
            f"{cfg.test_months} test months leave {val_start - first} training targets of "
            f"{months} months; use smaller windows or shorter val/test spans"
        )
    low, high = series[:val_start].min(), series[:val_start].max()
    write_prepared(
        DATA_DIR / "airline",
        {
            "series": {
                "raw": torch.from_numpy(series),
                "scaled": torch.from_numpy(((series - low) / (high - low)).astype(np.float32)),
            }
        },
        {
            "dataset": "airline",
            **provenance(record),
            "first_month": FIRST_MONTH,
            "months": months,
            "scale": {"min": float(low), "max": float(high), "fitted_on": "training months"},
            "targets": {
                "train": [first, val_start],
                "val": [val_start, test_start],
                "test": [test_start, months],
            },
        },
    )


def _window_split(scaled: np.ndarray, window: int, bounds: list[int]) -> TensorSplit:
    x, y = sliding_windows(scaled, window, range(*bounds))
    return TensorSplit(torch.from_numpy(x), torch.from_numpy(y))


def train_airline(params: Params, *, dry_run: bool = False) -> None:
    """Every window once per seed; results/s3/airline/ holds each window's runs and histories
    and forecasts.csv (Figure 3); results/s3/airline.json the test errors per window."""
    cfg = params.s3.airline
    contents, manifest = read_prepared(DATA_DIR / "airline")
    scaled, actual = contents["series"]["scaled"].numpy(), contents["series"]["raw"].numpy()
    targets = manifest["targets"]
    first, test_start, months = targets["train"][0], targets["test"][0], manifest["months"]
    low, high = manifest["scale"]["min"], manifest["scale"]["max"]
    device = resolve_device(params)
    summary, forecasts = {}, {}
    for window in cfg.windows:
        splits = {split: _window_split(scaled, window, targets[split]) for split in SPLITS}
        every_month = _window_split(scaled, window, [first, months])

        def measure(model: nn.Module, result: FitResult, every_month=every_month) -> Measured:
            model.eval()
            with torch.no_grad():
                forecast = model(every_month.x.to(device)).cpu().double().numpy()
            forecast = forecast * (high - low) + low
            error = forecast[test_start - first :] - actual[test_start:]
            metrics = {
                "test_rmse": float(np.sqrt(np.mean(error**2))),
                "test_mae": float(np.mean(np.abs(error))),
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
            }
            return Measured(metrics, kept=forecast)

        condition = Condition(
            section=SECTION,
            name=f"airline/window_{window}",
            profile=params.profile,
            config={
                "profile": params.profile,
                "window": window,
                **cfg.model_dump(exclude={"windows"}),
            },
            build=lambda: WindowRNN(cfg.hidden),
            train=cfg.train,
            loss_fn=nn.MSELoss(),
        )
        result, predictions = run_condition(
            condition,
            splits,
            params,
            measure=measure,
            metrics=AIRLINE_METRICS,
            dry_run=dry_run,
            window=window,
        )
        if result is not None:
            summary[f"window_{window}"] = {k: result[k] for k in ("test_rmse", "test_mae")}
            forecasts[f"window_{window}_mean"] = np.mean(predictions, axis=0)
            forecasts[f"window_{window}_std"] = (
                np.std(predictions, axis=0, ddof=1)
                if len(predictions) > 1
                else np.zeros(len(predictions[0]))
            )
    if dry_run:
        return
    baselines = {
        "persistence": actual[test_start - 1 : -1],
        "seasonal_naive": actual[test_start - 12 : months - 12],
    }
    for name, forecast in baselines.items():
        error = forecast - actual[test_start:]
        summary[name] = {
            "test_rmse": round(float(np.sqrt(np.mean(error**2))), 6),
            "test_mae": round(float(np.mean(np.abs(error))), 6),
        }
    month_index = pd.period_range(manifest["first_month"], periods=months, freq="M")
    split = np.where(
        np.arange(months) >= test_start,
        "test",
        np.where(np.arange(months) >= targets["val"][0], "val", "train"),
    )
    table = pd.DataFrame({"month": month_index.astype(str), "split": split, "actual": actual})
    for column, values in forecasts.items():
        table[column] = np.concatenate([np.full(first, np.nan), values])
    table.iloc[first:].round(4).to_csv(RESULTS_DIR / "airline" / "forecasts.csv", index=False)
    write_json(RESULTS_DIR / "airline.json", {"test_months": months - test_start, **summary})


# 3.2 Sentiment: embedding vs LSTM vs LSTM + GloVe ----------------------------------------------


def _prepare_sentiment(cfg: SentimentConfig, raw: Path) -> None:
    record = verify_raw(raw, cfg.dataset)
    data = get_dataset(cfg.dataset).load(raw / cfg.dataset)
    train_text, train_y = stratified_subset(
        np.array(data.train_text, dtype=object), data.train_y, cfg.n_train
    )
    test_text, test_y = stratified_subset(
        np.array(data.test_text, dtype=object), data.test_y, cfg.n_test
    )
    fit_idx, val_idx = stratified_split(train_y, cfg.val_fraction)
    texts = {
        "train": (train_text[fit_idx], train_y[fit_idx]),
        "val": (train_text[val_idx], train_y[val_idx]),
        "test": (test_text, test_y),
    }
    tokens = {split: [words(t) for t in x] for split, (x, _) in texts.items()}
    vocabulary = build_vocabulary(tokens["train"], cfg.vocab_size)
    index = {word: i for i, word in enumerate(vocabulary)}
    tensors = {
        split: {
            "x": pad_front([encode(t, index) for t in tokens[split]], cfg.max_len),
            "y": torch.from_numpy(y.astype(np.int64)),
        }
        for split, (_, y) in texts.items()
    }
    tensors["probes"] = {"x": pad_front([encode(words(p), index) for p in cfg.probes], cfg.max_len)}
    glove_record = verify_raw(raw, cfg.glove)
    glove_words, glove_vectors = get_dataset(cfg.glove).load(raw / cfg.glove)
    glove_index = {word: i for i, word in enumerate(glove_words)}
    rows = [glove_index.get(word, -1) for word in vocabulary]
    found = torch.tensor(
        [row >= 0 and word not in (PAD, UNK) for row, word in zip(rows, vocabulary, strict=True)]
    )
    vectors = torch.zeros(len(vocabulary), glove_vectors.shape[1])
    vectors[found] = torch.from_numpy(glove_vectors[np.array(rows)[found.numpy()]])
    tensors["glove"] = {"vectors": vectors, "found": found}
    train_tokens = [w for t in tokens["train"] for w in t]
    write_prepared(
        DATA_DIR / "sentiment",
        tensors,
        {
            "dataset": cfg.dataset,
            **provenance(record),
            "glove": {
                "dataset": cfg.glove,
                "dim": int(glove_vectors.shape[1]),
                **provenance(glove_record),
                "vocabulary_coverage": round(float(found.float().mean()), 4),
                "token_coverage": round(
                    float(np.mean([w in glove_index for w in train_tokens])), 4
                ),
            },
            "classes": data.classes,
            "counts": {split: len(y) for split, (_, y) in texts.items()},
            "vocabulary_size": len(vocabulary),
            "mean_words": round(float(np.mean([len(t) for t in tokens["train"]])), 2),
            "truncated_fraction": round(
                float(np.mean([len(t) > cfg.max_len for t in tokens["train"]])), 4
            ),
            "probes": cfg.probes,
            "data_seed": DATA_SEED,
        },
    )


def _sentiment_model(name: str, cfg: SentimentConfig, contents: dict) -> nn.Module:
    spec = cfg.models[name]
    glove = contents["glove"]
    vocab_size, dim = glove["vectors"].shape
    if spec.kind == "embedding_pool":
        return EmbeddingPool(vocab_size)
    model = LSTMClassifier(vocab_size, dim, cfg.lstm_hidden)
    if spec.glove:
        model.load_word_vectors(glove["vectors"], glove["found"])
    return model


def train_sentiment(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """Model `name` once per seed: accuracy and probe scores under results/s3/sentiment_<name>."""
    cfg = params.s3.sentiment
    spec = named(cfg.models, name, "s3.sentiment.models")
    contents, manifest = read_prepared(DATA_DIR / "sentiment")
    splits = {split: TensorSplit(contents[split]["x"], contents[split]["y"]) for split in SPLITS}
    probes = contents["probes"]["x"]
    loss_fn = nn.CrossEntropyLoss()

    def measure(model: nn.Module, result: FitResult) -> Measured:
        device = next(model.parameters()).device
        with torch.no_grad():
            scores = torch.softmax(model(probes.to(device)), dim=1)[:, POSITIVE].tolist()
        return Measured(
            {
                "test_acc": evaluate(model, splits["test"], loss_fn)["acc"],
                "train_acc": evaluate(model, splits["train"], loss_fn)["acc"],
                "best_val_acc": result.history[result.best_epoch - 1]["val_acc"],
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
                **{f"probe_{i + 1}": score for i, score in enumerate(scores)},
            }
        )

    condition = Condition(
        section=SECTION,
        name=f"sentiment_{name}",
        profile=params.profile,
        config={
            "profile": params.profile,
            "model": name,
            **cfg.models[name].model_dump(),
            "sentiment": cfg.model_dump(exclude={"models"}),
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=lambda: _sentiment_model(name, cfg, contents),
        train=cfg.train.model_copy(update={"lr": spec.lr or cfg.train.lr}),
    )
    probe_metrics = [f"probe_{i + 1}" for i in range(len(cfg.probes))]
    summary, _ = run_condition(
        condition,
        splits,
        params,
        measure=measure,
        metrics=SENTIMENT_METRICS + probe_metrics,
        dry_run=dry_run,
        model=name,
        probes=cfg.probes,
    )
    return summary


# 3.3 Text generation: word vs character level, BLEU across temperature -------------------------


def _cut(text: str, fraction: float) -> int:
    """Index of the first space at or after `fraction` of the text (splits never cut a word)."""
    cut = text.find(" ", int(len(text) * fraction))
    return len(text) if cut < 0 else cut


def _prepare_text(cfg: TextGenConfig, raw: Path) -> None:
    record = verify_raw(raw, "shakespeare")
    works = get_dataset("shakespeare").load(raw / "shakespeare")
    names = cfg.works or list(works)
    unknown = sorted(set(names) - set(works))
    if unknown:
        raise ParamsError(
            f"s3.textgen.works: {', '.join(unknown)} not in the corpus; available: "
            f"{', '.join(works)}"
        )
    parts: dict[str, list[str]] = {split: [] for split in SPLITS}
    for name in names:
        text = normalise_text(works[name])
        test_cut = _cut(text, 1 - cfg.test_fraction)
        val_cut = _cut(text[:test_cut], 1 - cfg.val_fraction)
        parts["train"].append(text[:val_cut])
        parts["val"].append(text[val_cut:test_cut].strip())
        parts["test"].append(text[test_cut:].strip())
    texts = {split: " ".join(chunks) for split, chunks in parts.items()}
    tensors, levels = {}, {}
    for level, spec in cfg.levels.items():
        tokens = {split: lm_tokens(text, level) for split, text in texts.items()}
        vocabulary = build_vocabulary([tokens["train"]], spec.vocab_size)
        index = {token: i for i, token in enumerate(vocabulary)}
        group = {}
        for split in SPLITS:
            group[f"{split}_x"], group[f"{split}_y"] = lm_chunks(
                encode(tokens[split], index), spec.seq_len
            )
        tensors[level] = group
        unknown_rate = np.mean([t not in index for t in tokens["test"]])
        levels[level] = {
            "vocabulary": vocabulary,
            "tokens": {split: len(t) for split, t in tokens.items()},
            "test_unknown_rate": round(float(unknown_rate), 4),
        }
    word_count = len(lm_tokens(texts["train"], "word"))
    write_prepared(
        DATA_DIR / "text",
        tensors,
        {
            "dataset": "shakespeare",
            **provenance(record),
            "works": names,
            "chars": {split: len(text) for split, text in texts.items()},
            "chars_per_word": round(len(texts["train"]) / word_count, 4),
            "levels": levels,
        },
        texts={"heldout": texts["test"]},
    )


def _bleu(hypothesis: str, references: list[str], basis: str) -> float:
    """sacreBLEU sentence BLEU (0-100, exponential smoothing) of one text against many
    references, on its word tokens or on characters (sacreBLEU's `char` tokenizer)."""
    from sacrebleu.metrics import BLEU

    tokenize = "none" if basis == "words" else "char"
    return (
        BLEU(tokenize=tokenize, effective_order=True).sentence_score(hypothesis, references).score
    )


def generate_and_score(
    model: TokenLSTM, level: str, cfg: TextGenConfig, manifest: dict, heldout: str, seed: int
) -> list[dict]:
    """BLEU of `cfg.samples` generations per temperature. Prompts and references are the same
    held-out passages for every level and seed (drawn with the data seed), so levels and seeds
    differ only in their model and sampling."""
    vocabulary = manifest["levels"][level]["vocabulary"]
    index = {token: i for i, token in enumerate(vocabulary)}
    heldout_words = lm_tokens(heldout, "word")
    span = cfg.prompt_words + cfg.sample_words
    starts = np.random.default_rng(DATA_SEED).choice(
        len(heldout_words) - span, size=cfg.samples + cfg.references, replace=False
    )
    references = [" ".join(heldout_words[s : s + cfg.sample_words]) for s in starts[cfg.samples :]]
    length = (
        cfg.sample_words
        if level == "word"
        else round(cfg.sample_words * manifest["chars_per_word"])
    )
    rows = []
    for t_index, temperature in enumerate(cfg.temperatures):
        for i, start in enumerate(starts[: cfg.samples]):
            prompt = detokenise(heldout_words[start : start + cfg.prompt_words], "word")
            generator = torch.Generator().manual_seed(seed * 1_000_003 + t_index * 10_007 + i)
            ids = sample(
                model,
                encode(lm_tokens(prompt, level), index),
                length,
                temperature,
                generator,
                banned=(index[PAD], index[UNK]),
            )
            text = detokenise([vocabulary[j] for j in ids], level)
            # Scored on the word tokens of the generation, whatever level produced it.
            hypothesis = " ".join(lm_tokens(text, "word"))
            rows.append(
                {
                    "seed": seed,
                    "temperature": temperature,
                    "sample": i,
                    "prompt": prompt,
                    "text": text,
                    "bleu_words": _bleu(hypothesis, references, "words"),
                    "bleu_chars": _bleu(hypothesis, references, "chars"),
                }
            )
    return rows


def bleu_key(basis: str, temperature: float) -> str:
    """Metric name of the mean BLEU at one temperature (`bleu_words_t0_5`)."""
    return f"bleu_{basis}_t{temperature:g}".replace(".", "_")


def train_language_model(params: Params, level: str, *, dry_run: bool = False) -> dict | None:
    """The `level` model once per seed; perplexity and BLEU per temperature under
    results/s3/textgen_<level>, with every generation in samples.csv."""
    cfg = params.s3.textgen
    spec = named(cfg.levels, level, "s3.textgen.levels")
    contents, manifest = read_prepared(DATA_DIR / "text")
    group = contents[level]
    splits = {split: TensorSplit(group[f"{split}_x"], group[f"{split}_y"]) for split in SPLITS}
    vocab_size = len(manifest["levels"][level]["vocabulary"])

    def measure(model: nn.Module, result: FitResult) -> Measured:
        test = evaluate(model, splits["test"], nn.CrossEntropyLoss())
        rows = generate_and_score(model, level, cfg, manifest, contents["heldout"], result.seed)
        table = pd.DataFrame(rows).groupby("temperature")[["bleu_words", "bleu_chars"]].mean()
        metrics = {
            "test_loss": test["loss"],
            "test_perplexity": math.exp(test["loss"]),
            "test_acc": test["acc"],
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
            **{
                bleu_key(basis, t): table.loc[t, f"bleu_{basis}"]
                for basis in ("words", "chars")
                for t in cfg.temperatures
            },
        }
        return Measured(metrics, kept=rows)

    condition = Condition(
        section=SECTION,
        name=f"textgen_{level}",
        profile=params.profile,
        config={
            "profile": params.profile,
            "level": level,
            **spec.model_dump(),
            "train": cfg.train.model_dump(),
            "works": manifest["works"],
        },
        build=lambda: TokenLSTM(vocab_size, spec.embedding_dim, spec.hidden, spec.layers),
        train=cfg.train,
    )
    bleu_metrics = [bleu_key(b, t) for b in ("words", "chars") for t in cfg.temperatures]
    summary, generations = run_condition(
        condition,
        splits,
        params,
        measure=measure,
        metrics=LM_METRICS + bleu_metrics,
        dry_run=dry_run,
        level=level,
        vocabulary_size=vocab_size,
    )
    if summary is not None:
        pd.DataFrame([row for rows in generations for row in rows]).round(6).to_csv(
            RESULTS_DIR / f"textgen_{level}" / "samples.csv", index=False
        )
    return summary


# Figures -------------------------------------------------------------------------------------


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

    for name in cfg.sentiment.models:
        history = pd.read_csv(RESULTS_DIR / f"sentiment_{name}" / "history_seeds.csv")
        fig = learning_curves(history, f"{name} ({spread_label(len(params.seeds))})")
        paths.append(FIGURES_DIR / f"curves_sentiment_{name}.png")
        save_figure(fig, paths[-1])

    fig, axes = subplots(2, width=10, height=3.6)
    for level in cfg.textgen.levels:
        samples = pd.read_csv(RESULTS_DIR / f"textgen_{level}" / "samples.csv")
        for ax, basis in zip(axes, ("words", "chars"), strict=True):
            stats = samples.groupby("temperature")[f"bleu_{basis}"].agg(["mean", "std"])
            ax.errorbar(
                stats.index,
                stats["mean"],
                yerr=stats["std"],
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
