"""Section 3.3, Figures 4-5: word- and character-level LSTM language models on Shakespeare;
BLEU of generations from held-out prompts against held-out passages, per sampling temperature,
scored on words (the same basis for both models) and on characters (the report's basis for the
character model).

    dlrepro s3 textgen --level word|char [--dry-run]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from dlrepro.config import Params, TextGenConfig, named
from dlrepro.data.prepare import DATA_SEED, SPLITS, TensorSplit, read_prepared
from dlrepro.data.sequences import PAD, UNK, detokenise, encode, lm_tokens
from dlrepro.experiments.s3_rnn import DATA_DIR, RESULTS_DIR, SECTION
from dlrepro.models.rnn import TokenLSTM, sample
from dlrepro.training.loop import FitResult, evaluate
from dlrepro.training.seeds import Condition, Measured, dry_run_data, run_condition

LM_METRICS = ["test_loss", "test_perplexity", "test_acc", "best_epoch", "epochs"]


def bleu_scorer(references: list[str], basis: str) -> Callable[[str], float]:
    """sacreBLEU sentence BLEU (0-100, exponential smoothing) of one text against all of
    `references`, on its word tokens or on characters (sacreBLEU's `char` tokenizer). The
    references' n-grams are counted once, when the scorer is made: a sentence_score per text
    counted them again for every text (most of the measuring time of a text-generation seed)."""
    from sacrebleu.metrics import BLEU

    tokenize = "none" if basis == "words" else "char"
    bleu = BLEU(tokenize=tokenize, effective_order=True, references=[[text] for text in references])
    # corpus_score of one text on cached references is sentence_score's own computation.
    return lambda hypothesis: bleu.corpus_score([hypothesis], None).score


def references_and_prompts(cfg: TextGenConfig, heldout: str) -> tuple[list[str], list[int]]:
    """The BLEU references (`cfg.references` held-out passages of `cfg.sample_words` words)
    and the word index where each of the `cfg.samples` prompts starts, drawn with the data
    seed: the same for every level and seed, and for the calibration stage."""
    heldout_words = lm_tokens(heldout, "word")
    span = cfg.prompt_words + cfg.sample_words
    starts = np.random.default_rng(DATA_SEED).choice(
        len(heldout_words) - span, size=cfg.samples + cfg.references, replace=False
    )
    references = [" ".join(heldout_words[s : s + cfg.sample_words]) for s in starts[cfg.samples :]]
    return references, [int(s) for s in starts[: cfg.samples]]


def generate_and_score(
    model: TokenLSTM, level: str, cfg: TextGenConfig, manifest: dict, heldout: str, seed: int
) -> list[dict]:
    """BLEU of `cfg.samples` generations per temperature. Prompts and references are the same
    held-out passages for every level and seed (drawn with the data seed), so levels and seeds
    differ only in their model and sampling."""
    vocabulary = manifest["levels"][level]["vocabulary"]
    index = {token: i for i, token in enumerate(vocabulary)}
    heldout_words = lm_tokens(heldout, "word")
    references, prompt_starts = references_and_prompts(cfg, heldout)
    length = (
        cfg.sample_words
        if level == "word"
        else round(cfg.sample_words * manifest["chars_per_word"])
    )
    bleu = {basis: bleu_scorer(references, basis) for basis in ("words", "chars")}
    rows = []
    for t_index, temperature in enumerate(cfg.temperatures):
        for i, start in enumerate(prompt_starts):
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
                    "bleu_words": bleu["words"](hypothesis),
                    "bleu_chars": bleu["chars"](hypothesis),
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
    if dry_run:  # and one generation per temperature, scored against one reference
        splits = dry_run_data(splits, cfg.train.batch_size)
        cfg = cfg.model_copy(update={"samples": 1, "references": 1})
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
        build=lambda _: TokenLSTM(vocab_size, spec.embedding_dim, spec.hidden, spec.layers),
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
