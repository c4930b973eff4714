import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from dlrepro.data.prepare import TensorSplit
from dlrepro.data.sequences import sliding_windows
from dlrepro.models.cnn import SmallCNN, zero_init_
from dlrepro.models.rnn import WindowRNN
from dlrepro.training import loop
from dlrepro.training.loop import NonFiniteLossError, fit, improves

from .conftest import separable_split


def _model():
    return SmallCNN(1, 8, 4, conv_channels=[4], dense=[8])


def _fit(
    seed=0,
    epochs=4,
    checkpoint=None,
    on_epoch=None,
    lr=0.05,
    patience=10,
    model=None,
    fingerprint="cfg",
):
    torch.manual_seed(seed)
    model = model or _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    result = fit(
        model,
        optimizer,
        separable_split(128, 0),
        separable_split(64, 1),
        epochs=epochs,
        batch_size=16,
        patience=patience,
        seed=seed,
        checkpoint=checkpoint,
        fingerprint=fingerprint,
        on_epoch=on_epoch,
    )
    return model, result


def _untimed(history: list[dict]) -> list[dict]:
    """A history without its wall-clock column, the one part a seed does not determine."""
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in history]


def test_same_seed_gives_identical_history_and_weights():
    model_a, a = _fit()
    model_b, b = _fit()
    assert _untimed(a.history) == _untimed(b.history)
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_the_loop_learns_a_separable_task():
    _, result = _fit(epochs=6)
    assert result.history[-1]["val_acc"] > 0.9


class Killed(Exception):
    pass


def _killed_after_epoch_2(checkpoint, epochs=5):
    def kill_after_epoch_2(row):
        if row["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        _fit(epochs=epochs, checkpoint=checkpoint, on_epoch=kill_after_epoch_2)


def _assert_same_run(a, b):
    assert _untimed(a.history) == _untimed(b.history)
    for key, value in a.best_state.items():
        assert torch.equal(value, b.best_state[key])


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    _, uninterrupted = _fit(epochs=5)
    checkpoint = tmp_path / "ckpt.pt"
    _killed_after_epoch_2(checkpoint)
    assert checkpoint.exists()
    _, resumed = _fit(epochs=5, checkpoint=checkpoint)
    _assert_same_run(resumed, uninterrupted)


def test_checkpoint_of_another_key_is_discarded_with_a_warning(tmp_path, capsys):
    _, fresh = _fit(epochs=3)
    checkpoint = tmp_path / "ckpt.pt"
    _fit(epochs=2, checkpoint=checkpoint)
    _, result = _fit(epochs=3, checkpoint=checkpoint, fingerprint="another")
    assert f"warning: discarding {checkpoint}: written by other code, data or params; " in (
        capsys.readouterr().err
    )
    assert result.seconds_before_resume == 0.0
    _assert_same_run(result, fresh)


@pytest.mark.parametrize(
    "kept",
    [lambda n: 0, lambda n: 10, lambda n: n // 2, lambda n: n - 10],
    ids=["empty", "head", "half", "all-but-tail"],
)
def test_truncated_checkpoint_is_discarded_and_the_run_trains_from_scratch(tmp_path, capsys, kept):
    _, uninterrupted = _fit(epochs=5)
    checkpoint = tmp_path / "ckpt.pt"
    _killed_after_epoch_2(checkpoint)
    written = checkpoint.read_bytes()
    checkpoint.write_bytes(written[: kept(len(written))])
    _, result = _fit(epochs=5, checkpoint=checkpoint)
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"warning: discarding {checkpoint}: unreadable (")
    assert warning.endswith("); training train from scratch")
    _assert_same_run(result, uninterrupted)


def test_seconds_before_a_resume_are_kept(tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    _killed_after_epoch_2(checkpoint)
    stored = torch.load(checkpoint, weights_only=True)["seconds"]
    assert stored > 0
    _, resumed = _fit(epochs=5, checkpoint=checkpoint)
    assert resumed.seconds_before_resume == stored
    assert torch.load(checkpoint, weights_only=True)["seconds"] > stored


def test_checkpoint_is_on_disk_before_it_replaces_the_last(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(loop.os, "fsync", lambda fd: calls.append("fsync"))
    replace = os.replace
    monkeypatch.setattr(
        loop.os, "replace", lambda *paths: calls.append("replace") or replace(*paths)
    )
    _fit(epochs=1, checkpoint=tmp_path / "ckpt.pt")
    # The file's bytes, then the rename, then the folder entry the rename wrote.
    assert calls == ["fsync", "replace", "fsync"]


def test_nan_loss_stops_with_a_clear_message():
    with pytest.raises(NonFiniteLossError, match=r"step .*Lower the learning rate"):
        _fit(lr=1e12, epochs=5)


def test_nan_loss_is_caught_by_the_epoch_total_where_steps_are_not_checked(monkeypatch):
    # As on a GPU, where each step's check would make the host wait for the device.
    monkeypatch.setattr(loop, "checks_every_step", lambda device: False)
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1; .*Lower the learning rate"):
        _fit(lr=1e12, epochs=5)


def test_early_stopping_restores_the_best_epoch():
    # lr 0 never improves on epoch 1, so patience 2 stops after epoch 3 with epoch 1 best.
    _, result = _fit(epochs=10, lr=0.0, patience=2)
    assert result.stopped_early
    assert len(result.history) == 3
    assert result.best_epoch == 1


def test_zero_init_network_cannot_learn():
    model, result = _fit(model=zero_init_(_model()), epochs=3)
    assert all(row["val_acc"] == pytest.approx(0.25) for row in result.history)
    assert not any(p.abs().sum() > 0 for n, p in model.named_parameters() if "features" in n)


def test_batchnorm_and_dropout_switches_build_the_layers():
    model = SmallCNN(3, 32, 10, conv_channels=[8, 16], dense=[32], batch_norm=True, dropout=0.3)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.BatchNorm2d) == 2 and kinds.count(nn.Dropout) == 1
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_the_loop_trains_a_regressor_on_validation_loss():
    torch.manual_seed(0)
    series = np.sin(np.arange(120) / 3).astype(np.float32)
    split = {
        name: TensorSplit(*map(torch.from_numpy, sliding_windows(series, 4, range(*bounds))))
        for name, bounds in {"train": (4, 90), "val": (90, 120)}.items()
    }
    model = WindowRNN(hidden=8)
    result = fit(
        model,
        torch.optim.Adam(model.parameters(), lr=0.01),
        split["train"],
        split["val"],
        epochs=30,
        batch_size=16,
        patience=30,
        seed=0,
        loss_fn=nn.MSELoss(),
        monitor="val_loss",
    )
    losses = [row["val_loss"] for row in result.history]
    assert "val_acc" not in result.history[0] and "train_acc" not in result.history[0]
    assert result.best_epoch == 1 + int(np.argmin(losses))
    assert losses[-1] < 0.5 * losses[0]


def test_a_new_best_must_gain_more_than_min_delta_of_the_best():
    assert improves(0.81, 0.80, 0.0) and not improves(0.80, 0.80, 0.0)
    assert not improves(0.805, 0.80, 0.01) and improves(0.809, 0.80, 0.01)  # 1 % of 0.80
    assert improves(-0.0594, -0.06, 0.005) and not improves(-0.0598, -0.06, 0.005)  # a loss
    assert improves(-5.0, -math.inf, 0.5)  # the first epoch is always the best yet
