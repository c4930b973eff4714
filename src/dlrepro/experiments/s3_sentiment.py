"""Section 3.2, Table 3 and Figures 17-19: embedding-only, LSTM and LSTM+GloVe review
classifiers; test and train accuracy and the positive-class scores of the report's two probe
sentences.

    dlrepro s3 sentiment --model NAME [--dry-run]   one row of Table 3 (a DVC foreach stage)
"""

from __future__ import annotations

import torch
from torch import nn

from dlrepro.config import Params, SentimentConfig, named
from dlrepro.data.prepare import SPLITS, TensorSplit, read_prepared
from dlrepro.experiments.s3_rnn import DATA_DIR, SECTION
from dlrepro.models.rnn import EmbeddingPool, LSTMClassifier
from dlrepro.training.loop import FitResult, evaluate
from dlrepro.training.seeds import Condition, Measured, dry_run_data, run_condition

POSITIVE = 1
SENTIMENT_METRICS = ["test_acc", "train_acc", "best_val_acc", "best_epoch", "epochs"]


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
    if dry_run:
        splits = dry_run_data(splits, cfg.train.batch_size)
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
            # A model without `train:` keys records what it did before they existed.
            **spec.model_dump(exclude={"train"} if spec.train is None else None),
            "sentiment": cfg.model_dump(exclude={"models"}),
            "data": {k: manifest[k] for k in ("dataset", "source", "counts")},
        },
        build=lambda _: _sentiment_model(name, cfg, contents),
        train=cfg.model_train(name),
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
