"""Optuna studies of what the report blamed on hyperparameters without testing it.

The report says batch norm hurt Section 1 "maybe because the learning rate is too high", and that
VGG-16 from scratch never learned for want of tuning (learning rate, weight initialisation). A
study searches the hyperparameters of one training condition of a section (`tune.studies`), with
each trial a single-seed run of that section's own training code, so the tuned result is
directly comparable with the report-setting one.

- TPE with a fixed seed; MedianPruner on per-epoch validation accuracy, so bad trials stop early.
- The study lives in an RDB storage (SQLite by default; any SQLAlchemy URL through
  `tune.storage` or $DLREPRO_OPTUNA_STORAGE, e.g. PostgreSQL shared by workers on several
  machines). Workers share the study's `n_trials` budget; give each extra worker its own
  $DLREPRO_TUNE_WORKER (1, 2, ...), which offsets its sampler seed so that workers do not draw
  the same points (worker 0, the default, is the reproducible single-worker run). The study's
  name carries a digest of the search space and the condition, so a killed stage resumes its
  study and a changed space starts a new one.
- Outputs: best_params.json (what the tuned training stage applies), trials.csv, metrics.json,
  and Optuna's optimisation-history and parameter-importance plots.

    dlrepro tune study --study s1_bn [--dry-run]   the study
    dlrepro tune train --study s1_bn               the condition with the best params, all seeds,
                                                   written as results/s1/bn_tuned/
"""

from __future__ import annotations

import importlib
import os
import time
import warnings
from pathlib import Path
from typing import Any

from dlrepro.config import Choice, FloatRange, Params, TuneConfig, TuneStudy, digest, override
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import save_figure, subplots, write_json
from dlrepro.tracking import PROJECT, Run

STORAGE_ENV = "DLREPRO_OPTUNA_STORAGE"
WORKER_ENV = "DLREPRO_TUNE_WORKER"
RESULTS_DIR = RESULTS / "tune"
FIGURES_DIR = PAPER / "figures" / "tune"
"""One folder per study: <study>/history.png and <study>/importance.png."""
SECTIONS = {
    "s1": ("dlrepro.experiments.s1_network_training", "train_variant"),
    "s2": ("dlrepro.experiments.s2_cnn_regimes", "train_regime"),
}
"""Section -> its module (which has `condition(params, name)`) and its train function."""


class TuningError(RuntimeError):
    """The study cannot run (its storage cannot be opened); the message says how to fix it."""


def storage_url(cfg: TuneConfig) -> str:
    return os.environ.get(STORAGE_ENV) or cfg.storage


def worker_id() -> int:
    value = os.environ.get(WORKER_ENV, "0")
    if not value.isdigit():
        raise TuningError(f"${WORKER_ENV} = {value!r}; give each worker its own number 0, 1, ...")
    return int(value)


def _rdb_storage(url: str, attempts: int = 5):
    import optuna
    from sqlalchemy.exc import IntegrityError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # The heartbeat lets a restarted stage mark trials of a killed run as failed.
                return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=90)
        except IntegrityError:
            # Workers starting together on an empty database race to create Optuna's schema;
            # the loser finds it made and connects on the next attempt.
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def open_study(name: str, cfg: TuneConfig):
    """Create the study, or load it when a previous (possibly killed) run or another worker
    created it."""
    import optuna

    url = storage_url(cfg)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = _rdb_storage(url)
    except Exception as error:  # SQLAlchemy raises several unrelated types for a bad URL
        raise TuningError(
            f"cannot open the Optuna storage {url!r}: {error}. Give a SQLAlchemy URL such as "
            "sqlite:///.dlrepro/optuna.db or postgresql://user:password@host/dbname in "
            f"tune.storage or ${STORAGE_ENV}."
        ) from None
    return optuna.create_study(
        study_name=name,
        storage=storage,
        # The constant liar keeps concurrent workers from sampling next to each other's running
        # trials; with one worker there are none, and it changes nothing.
        sampler=optuna.samplers.TPESampler(
            seed=cfg.sampler_seed + 1_000_003 * worker_id(), constant_liar=True
        ),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=cfg.pruner.n_startup_trials, n_warmup_steps=cfg.pruner.n_warmup_steps
        ),
        direction="maximize",
        load_if_exists=True,
    )


def suggest(trial, space: dict[str, FloatRange | Choice]) -> dict[str, Any]:
    return {
        key: trial.suggest_float(key, dim.low, dim.high, log=dim.log)
        if isinstance(dim, FloatRange)
        else trial.suggest_categorical(key, dim.choices)
        for key, dim in space.items()
    }


class WandbTrialLogger:
    """An Optuna callback logging each finished trial to one W&B run per study with wandb.log
    (optuna-integration's WeightsAndBiasesCallback is deprecated)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def __call__(self, study, trial) -> None:
        self.run.log(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "value": trial.value if trial.value is not None else float("nan"),
                "best_value": study.best_value if _complete(study) else float("nan"),
                **{f"params/{k}": v for k, v in trial.params.items()},
            }
        )


def _complete(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def objective_for(params: Params, spec: TuneStudy):
    """One trial: the condition's own training code with the trial's params, first seed only,
    reporting validation accuracy per epoch so the pruner can stop it."""
    import optuna

    from dlrepro.training.loop import resolve_device
    from dlrepro.training.seeds import fit_condition

    section = importlib.import_module(SECTIONS[spec.section][0])

    def objective(trial) -> float:
        trial.set_user_attr("worker", worker_id())
        trial_params = override(params, suggest(trial, spec.space))
        condition, splits = section.condition(trial_params, spec.condition)

        def report(row: dict) -> None:
            trial.report(row["val_acc"], int(row["epoch"]))
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = fit_condition(
            condition,
            splits,
            seed=params.seeds[0],
            device=resolve_device(params),
            on_epoch=report,
        )
        return result.history[result.best_epoch - 1]["val_acc"]

    return objective


def tune(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    cfg = params.tune
    if name not in cfg.studies:
        raise SystemExit(
            f"unknown study {name!r}; defined in tune.studies: {', '.join(cfg.studies)}"
        )
    spec = cfg.studies[name]
    section = importlib.import_module(SECTIONS[spec.section][0])
    # A space key that is no params key, or a choice params.yaml refuses, fails here, before
    # any trial and before the storage is touched.
    section.condition(override(params, _first(spec.space)), spec.condition)
    if dry_run:
        print(f"dry run of tune {name} passed: its space fits {spec.section}/{spec.condition}")
        return None

    identity = {
        "study": spec.model_dump(mode="json", exclude={"n_trials"}),
        "profile": params.profile,
        "section": getattr(params, spec.section).model_dump(mode="json"),
        "seed": params.seeds[0],
    }
    study = open_study(f"{name}-{digest(identity)}", cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    with Run(
        project=PROJECT,
        group=f"tune/{name}",
        name=f"tune/{study.study_name}",
        config={"study": study.study_name, **identity},
        tags=["tune", params.profile, name],
        job_type="tune",
    ) as tracker:
        study.optimize(
            objective_for(params, spec),
            n_trials=max(0, spec.n_trials - done),
            # Counts every worker's trials, running ones included, so workers sharing the study
            # stop at its budget (a race can add one trial per extra worker, never lose one).
            callbacks=[WandbTrialLogger(tracker), MaxTrialsCallback(spec.n_trials, states=None)],
            catch=(),
        )
        summary = _write_results(name, study)
        tracker.summary(summary)
    return summary


def _first(space: dict[str, FloatRange | Choice]) -> dict[str, Any]:
    """One point of the space, to check that every key exists and every choice is valid."""
    return {
        key: dim.low if isinstance(dim, FloatRange) else dim.choices[0]
        for key, dim in space.items()
    }


def _write_results(name: str, study) -> dict:
    from optuna.trial import TrialState

    out = RESULTS_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    trials = study.trials_dataframe(attrs=("number", "value", "state", "params", "duration"))
    trials["duration"] = trials["duration"].dt.total_seconds().round(2)
    trials.to_csv(out / "trials.csv", index=False)
    if not _complete(study):
        raise TuningError(f"study {study.study_name} has no completed trial; raise n_trials")
    best = study.best_trial
    write_json(best_params_path(name), best.params)
    counts = {
        state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,)))
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    summary = {
        "study": study.study_name,
        "best_value": round(best.value, 6),
        "best_trial": best.number,
        "n_trials": len(study.trials),
        **{f"n_{state}": n for state, n in counts.items()},
    }
    write_json(out / "metrics.json", summary)
    _plots(name, study)
    print(
        f"tune {name}: {summary['n_trials']} trials ({counts['pruned']} pruned), best val acc "
        f"{best.value:.4f} with {best.params}"
    )
    return summary


def _plots(name: str, study) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        ax = plot_optimization_history(study)
        save_figure(ax.figure, FIGURES_DIR / name / "history.png")
        if len(_complete(study)) >= 2:
            ax = plot_param_importances(study)
        else:  # importance needs two finished trials; say so rather than leave the figure out
            _, axes = subplots(1, width=6, height=2)
            ax = axes[0]
            ax.text(0.5, 0.5, "fewer than 2 completed trials", ha="center", va="center")
            ax.set_axis_off()
        save_figure(ax.figure, FIGURES_DIR / name / "importance.png")


def best_params_path(name: str) -> Path:
    return RESULTS_DIR / name / "best_params.json"


def train_tuned(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """The study's condition trained over every seed with its best params, written as
    results/<section>/<condition>_tuned/ beside the report-setting run."""
    import json

    if name not in params.tune.studies:
        raise SystemExit(
            f"unknown study {name!r}; defined in tune.studies: {', '.join(params.tune.studies)}"
        )
    spec = params.tune.studies[name]
    path = best_params_path(name)
    if not path.exists():
        raise SystemExit(f"{path} is missing; run the study first (`dvc repro tune@{name}`)")
    tuned = override(params, json.loads(path.read_text()))
    module, train = SECTIONS[spec.section]
    train_condition = getattr(importlib.import_module(module), train)
    return train_condition(
        tuned, spec.condition, dry_run=dry_run, output_name=f"{spec.condition}_tuned"
    )
