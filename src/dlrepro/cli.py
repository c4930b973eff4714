"""`dlrepro`: the command-line entry point DVC stages call.

dlrepro check-params                 validate params.yaml for the selected profile
dlrepro fetch                        put the raw data the profile needs under data/raw
dlrepro s1 prepare|train|figures     Section 1 stages
dlrepro s2 prepare|pretrain|train|timing|figures  Section 2 stages
dlrepro s3 prepare|airline|sentiment|textgen|figures  Section 3 stages
dlrepro s4 prepare|autoencoder|denoise        Section 4 stages
dlrepro s5 prepare|classifier|generate|colourise  Section 5 stages
dlrepro s6 run|figures               Section 6 stages
dlrepro tune study|train --study NAME  an Optuna study (tune.studies), its tuned training run
dlrepro claims                       check every claim of the report on the current outputs
dlrepro claims-figure                the claims' forest plot (paper/figures/claims/forest.png)
dlrepro calibration                  BLEU, IS and SSIM of real data and of random output
dlrepro paper-assets                 values, tables and figures for the Quarto paper
dlrepro paper-check                  prove the paper cites only existing DVC outputs
dlrepro render-paper                 HTML + PDF: Quarto if installed, else pandoc + Typst
dlrepro plots-template               .dvc/plots/offline.html from the vendored Vega libraries
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Nothing here may import numpy or torch: the numeric contract must be in the environment
# before either loads (numerics.py), and it comes from params.yaml, read in `main`.
from dlrepro import numerics
from dlrepro.config import Params, ParamsError, load_params

TRAIN_DRY_RUN_HELP = "one seed, one epoch, two batches; writes nothing"


def needed_datasets(params: Params) -> list[str]:
    """Raw datasets (and ImageNet weights files) the selected profile's stages read."""
    from dlrepro.data.imagenet_weights import dataset_name

    s2, s3 = params.s2, params.s3.sentiment
    return sorted(
        {
            params.s1.dataset,
            s2.target.dataset,
            *([s2.source.dataset] if s2.pretrains_on_source else []),
            *(dataset_name(name) for name, arch in s2.archs.items() if arch.weights == "imagenet"),
            "airline",
            s3.dataset,
            s3.glove,
            "shakespeare",
            params.s4.dataset,
            params.s5.colourise.dataset,
        }
    )


def _fetch(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.data import fetch

    for name in args.dataset or needed_datasets(params):
        fetch(name, params.data.source, Path(params.data.raw_dir))


PARAMS_CHECKED = Path("results/check_params.json")
"""What the `check_params` stage writes for a valid params.yaml. Every other stage depends on it,
so an invalid value stops DVC before it removes any stage's outputs; and it is the same for every
valid params.yaml, so a valid change re-runs only the stages whose params it touches."""


def _check(params: Params, args: argparse.Namespace) -> None:
    PARAMS_CHECKED.parent.mkdir(parents=True, exist_ok=True)
    PARAMS_CHECKED.write_text('{"params": "valid"}\n')
    print(
        f"params.yaml is valid for profile {params.profile!r}: seeds {params.seeds}, "
        f"data source {params.data.source}, Section 1 on {params.s1.dataset}"
    )


def _named(args: argparse.Namespace, option: str, command: str, listed_in: str) -> str:
    """The NAME that `command` needs from `--option`, or exit saying where the names are."""
    value = getattr(args, option)
    if not value:
        raise SystemExit(f"{command} needs --{option} NAME (see {listed_in})")
    return value


def _tune(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.tuning import train_tuned, tune

    if args.action == "study":
        tune(params, args.study, dry_run=args.dry_run)
    else:
        train_tuned(params, args.study, dry_run=args.dry_run)


def _s1(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.experiments import s1_network_training as s1

    if args.action == "prepare":
        s1.prepare(params)
    elif args.action == "train":
        variant = _named(args, "variant", "s1 train", "s1.variants in params.yaml")
        s1.train_variant(params, variant, dry_run=args.dry_run)
    else:
        s1.make_figures(params)


def _s2(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.experiments import s2_cnn_regimes as s2

    if args.action == "prepare":
        s2.prepare(params)
    elif args.action == "pretrain":
        arch = _named(args, "arch", "s2 pretrain", "s2.archs in params.yaml")
        s2.pretrain(params, arch, dry_run=args.dry_run)
    elif args.action == "train":
        regime = _named(args, "regime", "s2 train", "s2.regimes in params.yaml")
        from dlrepro.training import distributed
        from dlrepro.training.loop import resolve_device

        if params.s2.processes > 1 and not distributed.requested():
            distributed.relaunch(params.s2.processes, args.argv)
        with distributed.joined(resolve_device(params)):
            s2.train_regime(params, regime, dry_run=args.dry_run)
    elif args.action == "timing":
        s2.time_regimes(params)
    else:
        s2.make_figures(params)


def _s3(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.experiments import s3_airline, s3_sentiment, s3_text_generation
    from dlrepro.experiments import s3_rnn as s3

    if args.action == "prepare":
        s3.prepare(params)
    elif args.action == "airline":
        s3_airline.train_airline(params, dry_run=args.dry_run)
    elif args.action == "sentiment":
        model = _named(args, "model", "s3 sentiment", "s3.sentiment.models")
        s3_sentiment.train_sentiment(params, model, dry_run=args.dry_run)
    elif args.action == "textgen":
        level = _named(args, "level", "s3 textgen", "s3.textgen.levels")
        s3_text_generation.train_language_model(params, level, dry_run=args.dry_run)
    else:
        s3.make_figures(params)


def _s4(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.experiments import s4_autoencoders as s4

    if args.action == "prepare":
        s4.prepare(params)
    elif args.action == "autoencoder":
        encoder = _named(args, "encoder", "s4 autoencoder", "s4.encoders")
        s4.train_autoencoder(params, encoder, dry_run=args.dry_run)
    else:
        loss = _named(args, "loss", "s4 denoise", "s4.denoise.losses")
        s4.train_denoiser(params, loss, dry_run=args.dry_run)


def _s5(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.experiments import s5_generative as s5

    if args.action == "prepare":
        s5.prepare(params)
    elif args.action == "classifier":
        s5.train_classifier(params, dry_run=args.dry_run)
    elif not args.model:
        raise SystemExit(
            f"s5 {args.action} needs --model NAME (see s5.models, s5.colourise.models)"
        )
    elif args.action == "generate":
        s5.train_generative(params, args.model, dry_run=args.dry_run)
    else:
        s5.colourise(params, args.model, dry_run=args.dry_run)


def _s6(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.experiments import s6_q_learning as s6

    if args.action == "figures":
        s6.make_figures(params)
    elif args.agent == "sb3":
        s6.run(params, "sb3", None, dry_run=args.dry_run)
    elif args.agent and args.policy:
        s6.run(params, args.agent, args.policy, dry_run=args.dry_run)
    else:
        raise SystemExit("s6 run needs --agent sb3, or --agent tabular|dqn with --policy")


def _claims(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.claims import write

    write(params)


def _calibration(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.calibration import write

    write(params)


def _claims_figure(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.claims_figure import write

    write()


def _paper_assets(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.paper_assets import write_assets

    write_assets(params)


def _paper_check(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.paper_assets import PAPER, check_manuscript, dvc_output_paths

    problems = check_manuscript(PAPER, dvc_output_paths())
    if problems:
        raise SystemExit("the paper cites what no DVC output provides:\n  " + "\n  ".join(problems))
    print("paper is complete: every var, include and figure resolves to a DVC output")


def _render_paper(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.render import render

    for path in render():
        print(f"written {path}")


def _plots_template(params: Params, args: argparse.Namespace) -> None:
    from dlrepro.plots_template import write

    print(f"written {write()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dlrepro", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-params", help="validate params.yaml").set_defaults(run=_check)
    fetch = commands.add_parser("fetch", help="fetch raw datasets into data/raw")
    fetch.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    fetch.set_defaults(run=_fetch)
    s1 = commands.add_parser("s1", help="Section 1: network training techniques")
    s1.add_argument("action", choices=["prepare", "train", "figures"])
    s1.add_argument("--variant", help="a key of s1.variants (for `train`)")
    s1.add_argument("--dry-run", action="store_true", help=TRAIN_DRY_RUN_HELP)
    s1.set_defaults(run=_s1)
    s2 = commands.add_parser("s2", help="Section 2: CNN training regimes")
    s2.add_argument("action", choices=["prepare", "pretrain", "train", "timing", "figures"])
    s2.add_argument("--arch", help="a key of s2.archs (for `pretrain`)")
    s2.add_argument("--regime", help="a key of s2.regimes (for `train`)")
    s2.add_argument("--dry-run", action="store_true", help=TRAIN_DRY_RUN_HELP)
    s2.set_defaults(run=_s2)
    s3 = commands.add_parser("s3", help="Section 3: RNNs")
    s3.add_argument("action", choices=["prepare", "airline", "sentiment", "textgen", "figures"])
    s3.add_argument("--model", help="a key of s3.sentiment.models (for `sentiment`)")
    s3.add_argument("--level", help="a key of s3.textgen.levels (for `textgen`)")
    s3.add_argument("--dry-run", action="store_true", help=TRAIN_DRY_RUN_HELP)
    s3.set_defaults(run=_s3)
    s4 = commands.add_parser("s4", help="Section 4: autoencoders and denoising losses")
    s4.add_argument("action", choices=["prepare", "autoencoder", "denoise"])
    s4.add_argument("--encoder", help="a key of s4.encoders (for `autoencoder`)")
    s4.add_argument("--loss", help="a key of s4.denoise.losses (for `denoise`)")
    s4.add_argument("--dry-run", action="store_true", help=TRAIN_DRY_RUN_HELP)
    s4.set_defaults(run=_s4)
    s5 = commands.add_parser("s5", help="Section 5: VAE, GAN, Inception Score, colourisation")
    s5.add_argument("action", choices=["prepare", "classifier", "generate", "colourise"])
    s5.add_argument("--model", help="a key of s5.models or s5.colourise.models")
    s5.add_argument("--dry-run", action="store_true", help=TRAIN_DRY_RUN_HELP)
    s5.set_defaults(run=_s5)
    s6 = commands.add_parser("s6", help="Section 6: Q-learning exploration policies")
    s6.add_argument("action", choices=["run", "figures"])
    s6.add_argument("--agent", choices=["tabular", "dqn", "sb3"])
    s6.add_argument("--policy", choices=["epsilon_greedy", "softmax"])
    s6.add_argument("--dry-run", action="store_true", help="one seed, a few steps; writes nothing")
    s6.set_defaults(run=_s6)
    tune = commands.add_parser("tune", help="Optuna studies and the tuned training runs")
    tune.add_argument("action", choices=["study", "train"])
    tune.add_argument("--study", required=True, help="a key of tune.studies")
    tune.add_argument("--dry-run", action="store_true", help="check the space; run no trial")
    tune.set_defaults(run=_tune)
    commands.add_parser(
        "claims", help="check the report's claims on the current outputs"
    ).set_defaults(run=_claims)
    commands.add_parser(
        "claims-figure", help="draw every claim's verdict as a forest plot"
    ).set_defaults(run=_claims_figure)
    commands.add_parser(
        "calibration", help="ceilings and floors of BLEU, Inception Score and SSIM"
    ).set_defaults(run=_calibration)
    commands.add_parser("paper-assets", help="write paper values, tables and figures").set_defaults(
        run=_paper_assets
    )
    commands.add_parser(
        "paper-check", help="check that everything the paper cites exists"
    ).set_defaults(run=_paper_check)
    commands.add_parser(
        "render-paper", help="render paper/ (Quarto, or the pandoc + Typst fallback)"
    ).set_defaults(run=_render_paper)
    commands.add_parser(
        "plots-template", help="inline the vendored Vega libraries into DVC's plots page"
    ).set_defaults(run=_plots_template)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv  # to relaunch under torchrun
    try:
        params = load_params(args.params)
        numerics.apply(params.compute.cpu_isa)
    except (ParamsError, numerics.ContractError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from dlrepro.data.archives import ChecksumError, FetchError
    from dlrepro.failures import StageFailure, file_system_failure
    from dlrepro.plots_template import PlotsTemplateError
    from dlrepro.render import RenderError
    from dlrepro.tuning import TuningError

    expected = (
        ParamsError,
        numerics.ContractError,
        ChecksumError,
        FetchError,
        TuningError,
        RenderError,
        StageFailure,
        PlotsTemplateError,
    )
    try:
        args.run(params, args)
    except expected as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        line = file_system_failure(error)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
