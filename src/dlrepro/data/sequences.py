"""Series and text as model inputs: sliding windows, tokens, vocabularies, padding, LM chunks.

Conventions follow Keras, which the report used: index 0 pads, 1 stands for out-of-vocabulary
words, sequences are padded and truncated at the front (so a model reading left to right ends
on the text's last words).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import torch

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LM_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
_PUNCTUATION_SPACE = re.compile(r" ([.,;:!?])")


def sliding_windows(
    series: np.ndarray, window: int, targets: range
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs series[t - window : t] and target series[t] for each t in `targets`.

    Inputs may reach back before the first target (values known when forecasting t); they never
    reach t or later, so a split by target index never lets a target leak into its inputs.
    """
    if targets.start < window:
        raise ValueError(f"target {targets.start} has fewer than {window} earlier values")
    x = np.stack([series[t - window : t] for t in targets])
    return x, series[np.asarray(targets)]


def words(text: str) -> list[str]:
    """Lowercase words (with their apostrophe suffix: `isn't`), punctuation dropped."""
    return _WORD.findall(text.lower())


def normalise_text(text: str) -> str:
    """Lowercase with every run of whitespace as one space: the text both language models see."""
    return " ".join(text.lower().split())


def lm_tokens(text: str, level: str) -> list[str]:
    """Tokens of normalised text: words and punctuation marks, or characters."""
    text = normalise_text(text)
    return _LM_WORD.findall(text) if level == "word" else list(text)


def detokenise(tokens: Iterable[str], level: str) -> str:
    if level == "char":
        return "".join(tokens)
    return _PUNCTUATION_SPACE.sub(r"\1", " ".join(tokens))


def build_vocabulary(token_lists: Iterable[list[str]], max_size: int | None) -> list[str]:
    """PAD, UNK, then tokens by training frequency (ties alphabetical, so it is deterministic),
    at most `max_size` entries in all."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted(counts, key=lambda token: (-counts[token], token))
    keep = None if max_size is None else max_size - 2
    return [PAD, UNK, *ranked[:keep]]


def encode(tokens: list[str], index: dict[str, int]) -> list[int]:
    unknown = index[UNK]
    return [index.get(token, unknown) for token in tokens]


def pad_front(sequences: list[list[int]], max_len: int) -> torch.Tensor:
    """(N, max_len) int64: the last `max_len` ids of each sequence, zero-padded in front."""
    out = torch.zeros(len(sequences), max_len, dtype=torch.int64)
    for row, ids in enumerate(sequences):
        ids = ids[-max_len:]
        if ids:
            out[row, max_len - len(ids) :] = torch.tensor(ids)
    return out


def lm_chunks(ids: list[int], seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping chunks of `seq_len` ids and the same chunks shifted by one (next token)."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"{len(ids)} tokens cannot fill one chunk of {seq_len} + 1")
    data = torch.tensor(ids[: n * seq_len + 1], dtype=torch.int64)
    return data[:-1].view(n, seq_len), data[1:].view(n, seq_len)
