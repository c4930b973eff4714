"""Section 3's prepared data: the airline series, the review sentiment set with its GloVe rows,
and Shakespeare's text for the word- and character-level language models.

Each task writes its own folder under data/prepared/s3/ (tensors and a manifest, see prepare.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlrepro.config import AirlineConfig, ParamsError, SentimentConfig, TextGenConfig
from dlrepro.data.airline import FIRST_MONTH
from dlrepro.data.prepare import (
    DATA_SEED,
    SPLITS,
    provenance,
    stratified_split,
    stratified_subset,
    write_prepared,
)
from dlrepro.data.sequences import (
    PAD,
    UNK,
    build_vocabulary,
    encode,
    lm_chunks,
    lm_tokens,
    normalise_text,
    pad_front,
    words,
)
from dlrepro.data.sources import get_dataset, verify_raw


def prepare_airline(cfg: AirlineConfig, raw: Path, out_dir: Path) -> None:
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
        out_dir,
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


def prepare_sentiment(cfg: SentimentConfig, raw: Path, out_dir: Path) -> None:
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
        out_dir,
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


def _cut(text: str, fraction: float) -> int:
    """Index of the first space at or after `fraction` of the text (splits never cut a word)."""
    cut = text.find(" ", int(len(text) * fraction))
    return len(text) if cut < 0 else cut


def prepare_text(cfg: TextGenConfig, raw: Path, out_dir: Path) -> None:
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
        out_dir,
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
