"""The calibration stage: a ceiling and a floor for each metric the paper judges generated or
restored output by (BLEU, Inception Score, SSIM), measured by the same code as the experiments.

A metric can only say that one output is better than another if it scores real data well
above random output. Each metric is applied to:

- BLEU (Section 3.3): the human text, i.e. the held-out continuation of each prompt (what a
  perfect model would write), and uniform random output (words drawn uniformly from the word
  vocabulary; characters drawn uniformly from the character vocabulary, as long as the human
  text), against the references the text-generation stage uses (held-out passages of the
  same plays, which the report calls "the reference text" and the generated text is "close
  to the training data" to), on words and on characters.
- Inception Score (Section 5.1): the real test digits (the ceiling: real data) and uniform
  random images of the same number and shape (the floor), with the digit classifier of stage
  s5_classifier. The score runs from 1 (every image alike) to the number of classes.
- SSIM (Section 4.2): the clean test digits against themselves (1, the ceiling), noisy
  inputs like those the denoisers start from (Gaussian noise of the same std), and uniform
  random images (the floor).

A metric `separates` when its floor (the best-scoring random output) is below half its
ceiling: random output then cannot pass for real output on that score.

Writes results/calibration/calibration.json: per metric, each measured point's mean (and
spread over the prompts or the Inception Score's splits) and whether it separates.

    dlrepro calibration
"""

from __future__ import annotations

import numpy as np
import torch

from dlrepro.config import Params
from dlrepro.data.prepare import DATA_SEED
from dlrepro.data.sequences import lm_tokens
from dlrepro.paths import PREPARED, RESULTS
from dlrepro.results import read_json, write_json

OUT = RESULTS / "calibration" / "calibration.json"
SPECIAL_TOKENS = 2  # <pad> and <unk> head both vocabularies; no generation emits them


def bleu_points(params: Params) -> dict:
    """BLEU (mean and std over the prompts) of the human and of uniform random text against
    the text-generation stage's references, on words and on characters."""
    from dlrepro.experiments.s3_text_generation import bleu_scorer, references_and_prompts

    cfg = params.s3.textgen
    text_dir = PREPARED / "s3" / "text"
    manifest = read_json(text_dir / "manifest.json")
    heldout = (text_dir / "heldout.txt").read_text()
    references, prompts = references_and_prompts(cfg, heldout)
    heldout_words = lm_tokens(heldout, "word")
    rng = np.random.default_rng(DATA_SEED)
    words = manifest["levels"]["word"]["vocabulary"][SPECIAL_TOKENS:]
    chars = manifest["levels"]["char"]["vocabulary"][SPECIAL_TOKENS:]
    texts: dict[str, list[str]] = {"human": [], "random_words": [], "random_chars": []}
    for start in prompts:
        begin = start + cfg.prompt_words
        human = " ".join(heldout_words[begin : begin + cfg.sample_words])
        texts["human"].append(human)
        texts["random_words"].append(" ".join(rng.choice(words, cfg.sample_words)))
        random_chars = "".join(rng.choice(chars, len(human)))
        texts["random_chars"].append(" ".join(lm_tokens(random_chars, "word")))
    points = {}
    for basis in ("words", "chars"):
        bleu = bleu_scorer(references, basis)
        scores = {name: [bleu(text) for text in hypotheses] for name, hypotheses in texts.items()}
        floor = max(np.mean(scores["random_words"]), np.mean(scores["random_chars"]))
        points[basis] = {
            **{name: _summary(values) for name, values in scores.items()},
            "separates": separates(float(np.mean(scores["human"])), float(floor)),
        }
    return points


def inception_points(params: Params) -> dict:
    """Inception Score of the real test digits and of as many uniform random images."""
    from dlrepro.experiments.imaging import load_digits
    from dlrepro.experiments.s5_generative import inception_score, load_classifier

    cfg = params.s5
    classifier, _ = load_classifier(params)
    real = load_digits()[0]["test"].x
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(DATA_SEED))
    points = {}
    for name, images in (("real_test_digits", real), ("uniform_noise", noise)):
        mean, std = inception_score(classifier, images, cfg.is_splits)
        points[name] = {"mean": mean, "std": std}
    points["separates"] = separates(
        points["real_test_digits"]["mean"], points["uniform_noise"]["mean"]
    )
    return points


def ssim_points(params: Params) -> dict:
    """SSIM to the clean test digits of themselves, of a noisy copy (the denoisers' noise std)
    and of uniform random images."""
    from dlrepro.experiments.imaging import load_digits
    from dlrepro.experiments.s4_autoencoders import add_noise
    from dlrepro.training.losses import SimilarityLoss

    dn = params.s4.denoise
    clean = load_digits()[0]["test"].x
    generator = torch.Generator().manual_seed(DATA_SEED)
    ssim_loss = SimilarityLoss(multiscale=False, win_size=dn.ssim_win_size)
    images = {
        "clean": clean,
        "noisy_input": add_noise(clean, dn.noise_std, generator),
        "uniform_noise": torch.rand(clean.shape, generator=generator),
    }
    points = {name: {"mean": 1 - ssim_loss(x, clean).item()} for name, x in images.items()}
    points["separates"] = separates(points["clean"]["mean"], points["uniform_noise"]["mean"])
    return points


def separates(ceiling: float, floor: float) -> bool:
    """Whether random output (`floor`) scores below half of real output (`ceiling`)."""
    return floor < ceiling / 2


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))}


def write(params: Params) -> dict:
    calibration = {
        "bleu": bleu_points(params),
        "inception_score": inception_points(params),
        "ssim": ssim_points(params),
    }
    write_json(OUT, calibration)
    print(f"calibration written to {OUT}")
    return calibration
