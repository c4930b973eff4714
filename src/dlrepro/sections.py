"""The study's sections in one table: what the CLI, the claims stage, the paper assets and the
tuning stages know about each.

A section's key names its CLI command (`dlrepro s1 ...`), its params block, its results folder
and its block of paper/report_values.yaml. Adding a section is its experiment module, its params
block, its register entries, its paper section and one entry here; dvc.yaml's stages call its
actions. Functions are named `module:function` and imported only when used, so reading this
table (the CLI does, before the numeric contract is set) imports neither numpy nor torch; a test
may give the function itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Ref = str | Callable[..., Any]
"""`"module:function"`, or the function itself."""

DRY_RUN_HELP = "one seed, one epoch, two batches; writes nothing"


@dataclass(frozen=True)
class Option:
    """A CLI option naming one thing an action runs (`--variant bn`)."""

    help: str
    listed_in: str | None = None
    """The params key whose keys are the names (`s1.variants`); the error for a missing option
    points there."""
    choices: tuple[str, ...] | None = None
    """Fixed names, for an option no params key lists."""
    required: bool = True
    """False: the action is called with None when the option is not given."""


@dataclass(frozen=True)
class Action:
    """One stage command: `run(params, *options, dry_run=...)`."""

    run: Ref
    options: tuple[str, ...] = ()
    """Names of the section's options passed after params, in this order."""
    dry_run: bool = True
    """Whether the action takes `--dry-run`."""
    data_parallel: bool = False
    """Relaunched under torchrun when the section's params set `processes` above 1."""


@dataclass(frozen=True)
class Tunable:
    """How the tuning stages train one of the section's conditions."""

    module: str
    """Has `condition(params, name) -> (Condition, splits)`."""
    train: str
    """Its function training a condition over every seed (`output_name=` names the run)."""
    conditions: str
    """The params key whose keys are the conditions a study may tune (`s1.variants`)."""


@dataclass(frozen=True)
class Section:
    title: str
    """Its heading in the claims register and the paper's summary table."""
    claims: Ref
    """(params, its register block[, its calibration block]) -> its claim records (claims.py)."""
    paper_assets: Ref
    """(params, its report_values block) -> (_variables.yml values, generated files)."""
    help: str = ""
    actions: dict[str, Action] = field(default_factory=dict)
    """CLI action -> what it runs; none: the section has no CLI command of its own."""
    options: dict[str, Option] = field(default_factory=dict)
    dry_run_help: str = DRY_RUN_HELP
    datasets: Ref | None = None
    """(params) -> the raw datasets its stages read (`dlrepro fetch`); none: it reads none."""
    tunable: Tunable | None = None
    calibration: str | None = None
    """The key of the calibration stage's results (results/calibration/calibration.json) whose
    points its claims' metrics rest on, passed to `claims` as a third argument; none: no metric
    of its claims needs calibrating."""
    claims_in_paper: bool = True
    """False: its paper table shows its verdicts itself (no <key>_claims.md)."""


def resolve(ref: Ref) -> Callable[..., Any]:
    """The function `ref` names."""
    if callable(ref):
        return ref
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


S1 = "dlrepro.experiments.s1_network_training"
S2 = "dlrepro.experiments.s2_cnn_regimes"
S3 = "dlrepro.experiments.s3_rnn"
S4 = "dlrepro.experiments.s4_autoencoders"
S5 = "dlrepro.experiments.s5_generative"
S6 = "dlrepro.experiments.s6_q_learning"

SECTIONS: dict[str, Section] = {
    "s1": Section(
        title="1 Network training",
        help="Section 1: network training techniques",
        actions={
            "prepare": Action(f"{S1}:prepare", dry_run=False),
            "train": Action(f"{S1}:train_variant", options=("variant",)),
            "figures": Action(f"{S1}:make_figures", dry_run=False),
        },
        options={"variant": Option("a key of s1.variants (for `train`)", "s1.variants")},
        datasets=f"{S1}:datasets",
        claims="dlrepro.claims:_s1",
        paper_assets="dlrepro.paper_assets:_s1_assets",
        tunable=Tunable(S1, "train_variant", "s1.variants"),
    ),
    "s2": Section(
        title="2 CNN training regimes",
        help="Section 2: CNN training regimes",
        actions={
            "prepare": Action(f"{S2}:prepare", dry_run=False),
            "pretrain": Action(f"{S2}:pretrain", options=("arch",)),
            "train": Action(f"{S2}:train_regime", options=("regime",), data_parallel=True),
            "timing": Action(f"{S2}:time_regimes", dry_run=False),
            "figures": Action(f"{S2}:make_figures", dry_run=False),
        },
        options={
            "arch": Option("a key of s2.archs (for `pretrain`)", "s2.archs"),
            "regime": Option("a key of s2.regimes (for `train`)", "s2.regimes"),
        },
        datasets=f"{S2}:datasets",
        claims="dlrepro.claims:_s2",
        paper_assets="dlrepro.paper_assets:_s2_assets",
        tunable=Tunable(S2, "train_regime", "s2.regimes"),
    ),
    "s3": Section(
        title="3 Recurrent networks",
        help="Section 3: RNNs",
        actions={
            "prepare": Action(f"{S3}:prepare", dry_run=False),
            "airline": Action("dlrepro.experiments.s3_airline:train_airline"),
            "sentiment": Action(
                "dlrepro.experiments.s3_sentiment:train_sentiment", options=("model",)
            ),
            "textgen": Action(
                "dlrepro.experiments.s3_text_generation:train_language_model",
                options=("level",),
            ),
            "figures": Action(f"{S3}:make_figures", dry_run=False),
        },
        options={
            "model": Option(
                "a key of s3.sentiment.models (for `sentiment`)", "s3.sentiment.models"
            ),
            "level": Option("a key of s3.textgen.levels (for `textgen`)", "s3.textgen.levels"),
        },
        datasets=f"{S3}:datasets",
        claims="dlrepro.claims:_s3",
        calibration="bleu",
        paper_assets="dlrepro.paper_assets:_s3_assets",
    ),
    "s4": Section(
        title="4 Autoencoders",
        help="Section 4: autoencoders and denoising losses",
        actions={
            "prepare": Action(f"{S4}:prepare", dry_run=False),
            "autoencoder": Action(f"{S4}:train_autoencoder", options=("encoder",)),
            "denoise": Action(f"{S4}:train_denoiser", options=("loss",)),
        },
        options={
            "encoder": Option("a key of s4.encoders (for `autoencoder`)", "s4.encoders"),
            "loss": Option("a key of s4.denoise.losses (for `denoise`)", "s4.denoise.losses"),
        },
        datasets=f"{S4}:datasets",
        claims="dlrepro.claims:_s4",
        calibration="ssim",
        paper_assets="dlrepro.paper_assets:_s4_assets",
    ),
    "s5": Section(
        title="5 Generative models",
        help="Section 5: VAE, GAN, Inception Score, colourisation",
        actions={
            "prepare": Action(f"{S5}:prepare", dry_run=False),
            "classifier": Action(f"{S5}:train_classifier"),
            "generate": Action(f"{S5}:train_generative", options=("model",)),
            "colourise": Action(f"{S5}:colourise", options=("model",)),
        },
        options={
            "model": Option(
                "a key of s5.models (`generate`) or s5.colourise.models (`colourise`)",
                "s5.models or s5.colourise.models",
            )
        },
        datasets=f"{S5}:datasets",
        claims="dlrepro.claims:_s5",
        calibration="inception_score",
        paper_assets="dlrepro.paper_assets:_s5_assets",
    ),
    "s6": Section(
        title="6 Q-learning",
        help="Section 6: Q-learning exploration policies",
        actions={
            "run": Action(f"{S6}:run", options=("agent", "policy")),
            "figures": Action(f"{S6}:make_figures", dry_run=False),
        },
        options={
            "agent": Option("the agent to run", choices=("tabular", "dqn", "sb3")),
            "policy": Option(
                "its exploration policy (not for sb3)",
                choices=("epsilon_greedy", "softmax"),
                required=False,
            ),
        },
        dry_run_help="one seed, a few steps; writes nothing",
        claims="dlrepro.claims:_s6",
        paper_assets="dlrepro.paper_assets:_s6_assets",
    ),
    "tune": Section(
        title="Explanations tested by tuning",
        help="Optuna studies and the tuned training runs",
        actions={
            "study": Action("dlrepro.tuning:tune", options=("study",)),
            "train": Action("dlrepro.tuning:train_tuned", options=("study",)),
        },
        options={"study": Option("a key of tune.studies", "tune.studies")},
        dry_run_help="check the space; run no trial",
        claims="dlrepro.claims:_tune",
        paper_assets="dlrepro.paper_assets:_tune_assets",
        claims_in_paper=False,
    ),
}
"""Section key -> its entry, in the paper's order."""
