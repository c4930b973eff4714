"""`dlrepro`: the command-line entry point DVC stages call.

dlrepro check-params                 validate params.yaml for the selected profile
dlrepro fetch                        put the raw data the profile needs under data/raw
dlrepro SECTION ACTION [--OPTION NAME] [--dry-run]
                                     a section's stage (sections.py: s1 ... s6, tune)
dlrepro claims                       check every claim of the report on the current outputs
dlrepro claims-figure                the claims' forest plots (paper/figures/claims/<section>.png)
dlrepro calibration                  BLEU, IS and SSIM of real data and of random output
dlrepro paper-assets                 values, tables and figures for the Quarto paper
dlrepro paper-check                  prove the paper cites only existing DVC outputs
dlrepro render-paper                 HTML + PDF: Quarto if installed, else pandoc + Typst
dlrepro plots-template               .dvc/plots/offline.html from the vendored Vega libraries
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

# Nothing here may import numpy or torch: the numeric contract must be in the environment
# before either loads (numerics.py), and it comes from params.yaml, read in `main`.
from dlrepro import numerics, param_reads
from dlrepro.config import Params, ParamsError, load_params
from dlrepro.sections import SECTIONS, Option, resolve


def needed_datasets(params: Params) -> list[str]:
    """Raw datasets (and ImageNet weights files) the selected profile's stages read."""
    return sorted(
        {
            name
            for section in SECTIONS.values()
            if section.datasets is not None
            for name in resolve(section.datasets)(params)
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


LOCK = Path("dvc.lock")


def lock_problem() -> str | None:
    """Why dvc.lock cannot be read (DVC rewrites it in place, so a kill while it writes leaves
    it empty or cut short, and then every DVC command fails with a schema error), with the
    recovery; None when it reads or does not exist. Not checked inside a stage DVC runs
    ($DVC_STAGE is set): DVC has just read the file, and it writes it only between stages."""
    if os.environ.get("DVC_STAGE") or not LOCK.exists():
        return None
    try:
        # libyaml's loader: the whole file in about a tenth of the pure-Python loader's time
        lock = yaml.load(LOCK.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        lock = None
    if isinstance(lock, dict):
        return None
    return (
        f"{LOCK} is empty or damaged ({LOCK.stat().st_size} bytes; DVC was stopped while "
        f"rewriting it), so every DVC command fails: restore it with `git checkout {LOCK}`, "
        "then `dvc repro` re-runs what ran since that commit"
    )


def _check(params: Params, args: argparse.Namespace) -> None:
    PARAMS_CHECKED.parent.mkdir(parents=True, exist_ok=True)
    PARAMS_CHECKED.write_text('{"params": "valid"}\n')
    print(
        f"params.yaml is valid for profile {params.profile!r}: seeds per section "
        f"{params.seeds.model_dump()}, "
        f"data source {params.data.source}, Section 1 on {params.s1.dataset}"
    )


def _option(args: argparse.Namespace, command: str, name: str, option: Option) -> str | None:
    """The NAME `command` takes from `--name`, or exit saying where the names are listed."""
    value = getattr(args, name)
    if value is None and option.required:
        listed = option.listed_in or "|".join(option.choices or ())
        raise SystemExit(f"{command} needs --{name} NAME (see {listed})")
    return value


def _run_action(params: Params, args: argparse.Namespace) -> None:
    """The section action the command names, with its options (sections.py)."""
    section = SECTIONS[args.command]
    action = section.actions[args.action]
    command = f"{args.command} {args.action}"
    names = [_option(args, command, name, section.options[name]) for name in action.options]
    kwargs = {"dry_run": args.dry_run} if action.dry_run else {}
    run = resolve(action.run)
    if not action.data_parallel:
        run(params, *names, **kwargs)
        return
    from dlrepro.training import distributed
    from dlrepro.training.loop import resolve_device

    processes = getattr(params, args.command).processes
    if processes > 1 and not distributed.requested():
        distributed.relaunch(processes, args.argv)
    with distributed.joined(resolve_device(params)):
        run(params, *names, **kwargs)


def _add_sections(commands: argparse._SubParsersAction) -> None:
    for key, section in SECTIONS.items():
        if not section.actions:
            continue
        parser = commands.add_parser(key, help=section.help)
        parser.add_argument("action", choices=list(section.actions))
        for name, option in section.options.items():
            parser.add_argument(f"--{name}", choices=option.choices, help=option.help)
        if any(action.dry_run for action in section.actions.values()):
            parser.add_argument("--dry-run", action="store_true", help=section.dry_run_help)
        parser.set_defaults(run=_run_action)


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
    _add_sections(commands)
    commands.add_parser(
        "claims", help="check the report's claims on the current outputs"
    ).set_defaults(run=_claims)
    commands.add_parser(
        "claims-figure", help="draw each section's claims as a forest plot"
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
    problem = lock_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        params = param_reads.start(load_params(args.params))
        numerics.apply(params.compute.cpu_isa)
    except (ParamsError, numerics.ContractError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from dlrepro.data.archives import ChecksumError, FetchError
    from dlrepro.failures import StageFailure, file_system_failure
    from dlrepro.plots_template import PlotsTemplateError
    from dlrepro.tuning import TuningError

    expected = (
        ParamsError,
        numerics.ContractError,
        ChecksumError,
        FetchError,
        TuningError,
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
