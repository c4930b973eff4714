"""Section 3.1, Figure 3: a SimpleRNN forecasts the monthly airline series one month ahead from
the last 1, 3, 6 or 12 months; test RMSE and MAE over the last 36 months, beside persistence and
seasonal-naive forecasts (scaling fitted on the training months only).

    dlrepro s3 airline [--dry-run]                  every window of Figure 3
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from dlrepro.config import Params
from dlrepro.data.prepare import SPLITS, TensorSplit, read_prepared
from dlrepro.data.sequences import sliding_windows
from dlrepro.experiments.s3_rnn import DATA_DIR, RESULTS_DIR, SECTION
from dlrepro.models.rnn import WindowRNN
from dlrepro.results import write_json
from dlrepro.training.loop import FitResult, resolve_device
from dlrepro.training.seeds import Condition, Measured, run_condition

AIRLINE_METRICS = ["test_rmse", "test_mae", "best_epoch", "epochs"]


def _window_split(scaled: np.ndarray, window: int, bounds: list[int]) -> TensorSplit:
    x, y = sliding_windows(scaled, window, range(*bounds))
    return TensorSplit(torch.from_numpy(x), torch.from_numpy(y))


def train_airline(params: Params, *, dry_run: bool = False) -> None:
    """Every window once per seed; results/s3/airline/ holds each window's runs and histories
    and forecasts.csv (Figure 3); results/s3/airline.json the test errors per window."""
    cfg = params.s3.airline
    contents, manifest = read_prepared(DATA_DIR / "airline")
    scaled, actual = contents["series"]["scaled"].numpy(), contents["series"]["raw"].numpy()
    targets = manifest["targets"]
    first, test_start, months = targets["train"][0], targets["test"][0], manifest["months"]
    low, high = manifest["scale"]["min"], manifest["scale"]["max"]
    device = resolve_device(params)
    summary, forecasts = {}, {}
    for window in cfg.windows:
        splits = {split: _window_split(scaled, window, targets[split]) for split in SPLITS}
        every_month = _window_split(scaled, window, [first, months])

        def measure(model: nn.Module, result: FitResult, every_month=every_month) -> Measured:
            model.eval()
            with torch.no_grad():
                forecast = model(every_month.x.to(device)).cpu().double().numpy()
            forecast = forecast * (high - low) + low
            error = forecast[test_start - first :] - actual[test_start:]
            metrics = {
                "test_rmse": float(np.sqrt(np.mean(error**2))),
                "test_mae": float(np.mean(np.abs(error))),
                "best_epoch": result.best_epoch,
                "epochs": len(result.history),
            }
            return Measured(metrics, kept=forecast)

        condition = Condition(
            section=SECTION,
            name=f"airline/window_{window}",
            profile=params.profile,
            config={
                "profile": params.profile,
                "window": window,
                **cfg.model_dump(exclude={"windows"}),
            },
            build=lambda _: WindowRNN(cfg.hidden),
            train=cfg.train,
            loss_fn=nn.MSELoss(),
        )
        result, predictions = run_condition(
            condition,
            splits,
            params,
            measure=measure,
            metrics=AIRLINE_METRICS,
            dry_run=dry_run,
            window=window,
        )
        if result is not None:
            summary[f"window_{window}"] = {k: result[k] for k in ("test_rmse", "test_mae")}
            forecasts[f"window_{window}_mean"] = np.mean(predictions, axis=0)
            forecasts[f"window_{window}_std"] = (
                np.std(predictions, axis=0, ddof=1)
                if len(predictions) > 1
                else np.zeros(len(predictions[0]))
            )
    if dry_run:
        return
    baselines = {
        "persistence": actual[test_start - 1 : -1],
        "seasonal_naive": actual[test_start - 12 : months - 12],
    }
    for name, forecast in baselines.items():
        error = forecast - actual[test_start:]
        summary[name] = {
            "test_rmse": round(float(np.sqrt(np.mean(error**2))), 6),
            "test_mae": round(float(np.mean(np.abs(error))), 6),
        }
    month_index = pd.period_range(manifest["first_month"], periods=months, freq="M")
    split = np.where(
        np.arange(months) >= test_start,
        "test",
        np.where(np.arange(months) >= targets["val"][0], "val", "train"),
    )
    table = pd.DataFrame({"month": month_index.astype(str), "split": split, "actual": actual})
    for column, values in forecasts.items():
        table[column] = np.concatenate([np.full(first, np.nan), values])
    table.iloc[first:].round(4).to_csv(RESULTS_DIR / "airline" / "forecasts.csv", index=False)
    write_json(RESULTS_DIR / "airline.json", {"test_months": months - test_start, **summary})
