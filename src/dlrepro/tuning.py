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
  $DLREPRO_TUNE_WORKER (1, 2, ...), which enters its sampler seed so that workers do not draw
  the same points (worker 0, the default, is the reproducible single-worker run). The study's
  name carries a digest of the search space and the condition, so a killed stage resumes its
  study and a changed space starts a new one. A resumed study ends with the same finished
  trials as an uninterrupted one: the killed trial is failed and run again, and each trial's
  proposal is seeded from the finished trials before it (`TrialSeededTPE`).
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlrepro.config import (
    Choice,
    FloatRange,
    Params,
    TuneConfig,
    TuneStudy,
    digest,
    named,
    override,
)
from dlrepro.failures import first_line
from dlrepro.paths import PAPER, RESULTS
from dlrepro.results import read_json, result_set, save_figure, subplots, write_json
from dlrepro.sections import SECTIONS
from dlrepro.tracking import PROJECT, Run

STORAGE_ENV = "DLREPRO_OPTUNA_STORAGE"
WORKER_ENV = "DLREPRO_TUNE_WORKER"
RESULTS_DIR = RESULTS / "tune"
FIGURES_DIR = PAPER / "figures" / "tune"
TRIAL_SEED = 0
"""Each trial is one run on this seed; the tuned condition then trains over its section's seeds."""
"""One folder per study: <study>/history.png and <study>/importance.png."""


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
    with corruption_reported(url):
        try:
            storage = _rdb_storage(url)
        except Exception as error:  # SQLAlchemy raises several unrelated types for a bad URL
            if _corrupt_sqlite_path(url, error):
                raise
            raise TuningError(
                f"cannot open the Optuna storage {url!r}: {first_line(error)}. Give a SQLAlchemy "
                "URL such as sqlite:///.dlrepro/optuna.db or postgresql://user:password@host/dbname"
                f" in tune.storage or ${STORAGE_ENV}."
            ) from None
        return optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=TrialSeededTPE(cfg.sampler_seed, worker_id()),
            pruner=optuna.pruners.MedianPruner(
                n_startup_trials=cfg.pruner.n_startup_trials,
                n_warmup_steps=cfg.pruner.n_warmup_steps,
            ),
            direction="maximize",
            load_if_exists=True,
        )


@contextmanager
def corruption_reported(url: str) -> Iterator[None]:
    """A corrupt SQLite file as one line saying which file to delete, instead of SQLAlchemy's
    traceback; a damaged page can surface at any later read, not only when the file is opened."""
    try:
        yield
    except Exception as error:
        path = _corrupt_sqlite_path(url, error)
        if path is None:
            raise
        raise TuningError(
            f"the Optuna database {path} is corrupt ({first_line(error.orig)}); delete it to "
            f"tune from scratch, losing every study in it: rm {path}"
        ) from None


def _corrupt_sqlite_path(url: str, error: Exception) -> str | None:
    """The SQLite file that `error` (a SQLAlchemy error wrapping sqlite3's) found corrupt."""
    code = getattr(getattr(error, "orig", None), "sqlite_errorname", "")
    corrupt = code == "SQLITE_NOTADB" or code.startswith("SQLITE_CORRUPT")
    return url.removeprefix("sqlite:///") if corrupt and url.startswith("sqlite:///") else None


class TrialSeededTPE:
    """Optuna's TPE sampler, made afresh for each trial with a seed drawn from (sampler seed,
    worker, number of finished trials), so that what a trial proposes depends on the finished
    trials before it and never on whether the process restarted. One long-lived seeded sampler
    carries its random state from trial to trial: a study resumed after a kill starts a new
    sampler at the first state again and re-proposes the study's first points.

    Optuna calls a sampler through these methods only; this class does not subclass
    BaseSampler so that importing this module (the cli does) does not import Optuna."""

    def __init__(self, seed: int, worker: int) -> None:
        self.seed = seed
        self.worker = worker
        self._tpe = None

    def before_trial(self, study, trial) -> None:
        import numpy as np
        from optuna.samplers import TPESampler

        entropy = (self.seed, self.worker, len(_finished(study)))
        # The constant liar keeps concurrent workers from sampling next to each other's running
        # trials; with one worker there are none, and it changes nothing.
        self._tpe = TPESampler(
            seed=int(np.random.SeedSequence(entropy).generate_state(1)[0]), constant_liar=True
        )
        self._tpe.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial) -> dict:
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space: dict) -> dict[str, Any]:
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name: str, param_distribution) -> Any:
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values: Sequence[float] | None) -> None:
        # No sampler yet when this process fails a trial that a killed one left running.
        if self._tpe is not None:
            self._tpe.after_trial(study, trial, state, values)


def run_study(
    study, objective: Callable[[Any], float], n_trials: int, callbacks: Sequence[Callable] = ()
) -> None:
    """Optimise until the study has `n_trials` finished (complete or pruned) trials, counting
    every worker's, after failing the trials that this worker's killed run left running."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    worker = worker_id()
    # A worker runs one process at a time, so its running trials belong to a killed one. Failed
    # now, not after the heartbeat's grace period, they are run again from the same proposal and
    # do not stand in the constant liar as running points meanwhile.
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") == worker:
            study.tell(trial.number, state=TrialState.FAIL)

    def tagged(trial) -> float:
        trial.set_user_attr("worker", worker)
        return objective(trial)

    study.optimize(
        tagged,
        n_trials=max(0, n_trials - len(_finished(study))),
        # Failed and running trials do not count, so a killed worker's trials cost no budget;
        # workers sharing the study stop at its budget, each adding at most the trial it was
        # running when another reached it.
        callbacks=[
            *callbacks,
            MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)),
        ],
        catch=(),
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


def _finished(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _complete(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def objective_for(params: Params, spec: TuneStudy):
    """One trial: the condition's own training code with the trial's params, first seed only,
    reporting validation accuracy per epoch so the pruner can stop it."""
    import optuna

    from dlrepro.training.loop import resolve_device
    from dlrepro.training.seeds import fit_condition

    section = importlib.import_module(SECTIONS[spec.section].tunable.module)

    def objective(trial) -> float:
        trial_params = override(params, suggest(trial, spec.space))
        condition, splits = section.condition(trial_params, spec.condition)

        def report(row: dict) -> None:
            trial.report(row["val_acc"], int(row["epoch"]))
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = fit_condition(
            condition,
            splits,
            seed=TRIAL_SEED,
            device=resolve_device(params),
            on_epoch=report,
        )
        return result.history[result.best_epoch - 1]["val_acc"]

    return objective


def tune(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    import optuna

    cfg = params.tune
    spec = named(cfg.studies, name, "tune.studies")
    # A space key that is no params key, or a choice params.yaml refuses, fails here, before
    # any trial and before the storage is touched.
    identity = _identity(params, spec)
    if dry_run:
        print(f"dry run of tune {name} passed: its space fits {spec.section}/{spec.condition}")
        return None

    study = open_study(f"{name}-{digest(identity)}", cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with (
        corruption_reported(storage_url(cfg)),
        Run(
            project=PROJECT,
            group=f"tune/{name}",
            name=f"tune/{study.study_name}",
            config={"study": study.study_name, **identity},
            tags=["tune", params.profile, name],
            job_type="tune",
        ) as tracker,
    ):
        run_study(study, objective_for(params, spec), spec.n_trials, [WandbTrialLogger(tracker)])
        summary = _write_results(name, study)
        tracker.summary(summary)
    return summary


def _identity(params: Params, spec: TuneStudy) -> dict:
    """What a study's result depends on, the code and the data its trials train on included
    (trials stored by other code would otherwise be reused as this code's); its digest is part
    of the study's name. Builds the condition at a point of the space, so a space key that is
    no params key, or a choice params.yaml refuses, fails here."""
    from dlrepro.training.seeds import resume_key

    section = importlib.import_module(SECTIONS[spec.section].tunable.module)
    first, splits = section.condition(override(params, _first(spec.space)), spec.condition)
    return {
        "study": spec.model_dump(mode="json", exclude={"n_trials"}),
        "profile": params.profile,
        "section": getattr(params, spec.section).model_dump(mode="json"),
        "seed": TRIAL_SEED,
        "code_and_data": resume_key(first.config, splits),
    }


def _first(space: dict[str, FloatRange | Choice]) -> dict[str, Any]:
    """One point of the space, to check that every key exists and every choice is valid."""
    return {
        key: dim.low if isinstance(dim, FloatRange) else dim.choices[0]
        for key, dim in space.items()
    }


def finished_study(study):
    """The study's finished (complete and pruned) trials, numbered 0, 1, ... in the order they
    were run, in a study of their own in memory: what the results report. The trials left out
    are the failed ones, which only a killed process leaves (an error in a trial stops the
    stage, `catch=()`) and which run again under a new number; an uninterrupted study has none.
    So a resumed study writes the bytes an uninterrupted one does, whose numbers are these."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finished = optuna.create_study(study_name=study.study_name, direction="maximize")
    finished.add_trials(sorted(_finished(study), key=lambda trial: trial.number))
    return finished


def _write_results(name: str, study) -> dict:
    from optuna.trial import TrialState

    finished = finished_study(study)
    if not _complete(finished):
        raise TuningError(f"study {study.study_name} has no completed trial; raise n_trials")
    best = finished.best_trial
    counts = {
        state.name.lower(): len(finished.get_trials(deepcopy=False, states=(state,)))
        for state in (TrialState.COMPLETE, TrialState.PRUNED)
    }
    summary = {
        "study": study.study_name,
        "best_value": round(best.value, 6),
        "best_trial": best.number,
        "n_trials": len(finished.trials),
        **{f"n_{state}": n for state, n in counts.items()},
    }
    with result_set(RESULTS_DIR / name) as out:
        # No durations: wall times are not results (they change on every run).
        trials = finished.trials_dataframe(attrs=("number", "value", "state", "params"))
        trials.to_csv(out / "trials.csv", index=False)
        write_json(out / best_params_path(name).name, best.params)
        write_json(out / "metrics.json", summary)
    _plots(name, finished)
    print(
        f"tune {name}: {summary['n_trials']} trials ({counts['pruned']} pruned), best val acc "
        f"{best.value:.4f} with {best.params}"
    )
    return summary


SETTING_NAMES = {
    "lr": "learning rate",
    "batch_size": "batch size",
    "warmup_epochs": "warm-up epochs",
    "init_scheme": "weight initialisation",
    "batch_norm": "batch normalisation",
}
"""How the paper names a tuned setting, by the last part of its params key."""


def setting_name(key: str) -> str:
    """`s2.regimes.vgg16_scratch.init_scheme` -> `weight initialisation`."""
    last = key.rsplit(".", 1)[-1]
    return SETTING_NAMES.get(last, last)


def _plots(name: str, study) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        ax = plot_optimization_history(study)
        _retitle(ax, "Validation accuracy of each completed trial (pruned ones left out)")
        ax.set_ylabel("validation accuracy")
        ax.legend(ax.get_legend_handles_labels()[0], ["trial", "best so far"])
        save_figure(ax.figure, FIGURES_DIR / name / "history.png")
        if len(_complete(study)) >= 2:
            ax = plot_param_importances(study)
            _retitle(ax, "Importance of each tuned setting (fANOVA)")
            ax.set_yticks(
                ax.get_yticks(), [setting_name(t.get_text()) for t in ax.get_yticklabels()]
            )
            ax.set_ylabel("")
            ax.get_legend().remove()
        else:  # importance needs two finished trials; say so rather than leave the figure out
            _, axes = subplots(1, width=6, height=2)
            ax = axes[0]
            ax.text(0.5, 0.5, "fewer than 2 completed trials", ha="center", va="center")
            ax.set_axis_off()
        save_figure(ax.figure, FIGURES_DIR / name / "importance.png")


def _retitle(ax, title: str) -> None:
    """Optuna's plots title themselves in any of the three places; one title, on the left."""
    for loc in ("center", "right"):
        ax.set_title("", loc=loc)
    ax.set_title(title, loc="left")


def best_params_path(name: str) -> Path:
    return RESULTS_DIR / name / "best_params.json"


def train_tuned(params: Params, name: str, *, dry_run: bool = False) -> dict | None:
    """The study's condition trained over every seed with its best params, written as
    results/<section>/<condition>_tuned/ beside the report-setting run."""
    import json

    spec = named(params.tune.studies, name, "tune.studies")
    path = best_params_path(name)
    if not path.exists():
        raise SystemExit(f"{path} is missing; run the study first (`dvc repro tune@{name}`)")
    # The study's name, written beside best_params.json, says which setting was tuned: best
    # params of another profile's (or section setting's) study must not pass as this one's.
    tuned_by = read_json(RESULTS_DIR / name / "metrics.json")["study"]
    wanted = f"{name}-{digest(_identity(params, spec))}"
    if tuned_by != wanted:
        raise TuningError(
            f"{path} comes from study {tuned_by}, tuned under another profile, other "
            f"{spec.section} params, code or data than now; run study {wanted} "
            f"first: `dlrepro tune study --study {name}` (or `dvc repro tune@{name}`)"
        )
    tuned = override(params, json.loads(path.read_text()))
    hooks = SECTIONS[spec.section].tunable
    train_condition = getattr(importlib.import_module(hooks.module), hooks.train)
    return train_condition(
        tuned, spec.condition, dry_run=dry_run, output_name=f"{spec.condition}_tuned"
    )
