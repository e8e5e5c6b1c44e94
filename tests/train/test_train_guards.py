"""A NaN loss stops the run (on_nonfinite=stop) or skips the step (skip); last/ keeps good weights."""

import csv

import pytest
import torch
from safetensors.torch import load_file

from smolmamba import cli
from smolmamba.models.network import SpikingVisionNet
from smolmamba.train import checkpoint as ckpt
from smolmamba.train import loop
from smolmamba.train.config import load_config
from smolmamba.train.guards import NonFiniteError, NonFiniteGuard, check_weights_before_save

from train_helpers import tiny_overrides

FAST = dict(epochs=1, save_every=1, eval_every=1)  # 4 optimizer steps, last/ saved after each


def nan_at(monkeypatch, calls: set[int]) -> None:
    """Training forward call number n (1-based) in `calls` returns NaN logits."""
    real, count = SpikingVisionNet.forward, [0]

    def forward(self, x):
        out = real(self, x)
        if self.training:
            count[0] += 1
            if count[0] in calls:
                return out * float("nan")
        return out

    monkeypatch.setattr(SpikingVisionNet, "forward", forward)


def finite(run_dir) -> bool:
    return all(torch.isfinite(t).all() for t in load_file(run_dir / "last" / ckpt.MODEL_FILE).values())


@pytest.mark.slow
def test_stop_names_the_step_and_keeps_last(tmp_path, monkeypatch):
    nan_at(monkeypatch, {3})
    with pytest.raises(NonFiniteError) as err:
        loop.main(load_config(None, tiny_overrides(tmp_path, **FAST)))
    message = str(err.value)
    assert "at step 3 (epoch 0)" in message and f"kept at {tmp_path / 'last'}" in message
    assert "lower lr" in message and "amp=none" in message and "clip_grad" in message
    assert ckpt.load_trainer_state(tmp_path / "last")["step"] == 2 and finite(tmp_path)


@pytest.mark.slow
def test_skip_drops_the_steps_counts_them_and_finishes(tmp_path, monkeypatch, capsys):
    nan_at(monkeypatch, {1, 4})  # the first step too: the progress average has no finite loss yet
    result = loop.main(load_config(None, tiny_overrides(tmp_path, **FAST, on_nonfinite="skip", log_every=1)))
    assert result.metrics["step"] == 4 and result.metrics["skipped_steps"] == 2
    assert torch.isfinite(torch.tensor(result.metrics["train_loss"]))
    assert all(torch.isfinite(p).all() for p in result.model.parameters()) and finite(tmp_path)
    out = capsys.readouterr().out
    assert "skipping step 1 (epoch 0): loss nan is not finite (1 in a row, 1 in this run" in out
    assert "skipping step 4 (epoch 0): loss nan is not finite (1 in a row, 2 in this run" in out
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert next(csv.DictReader(f))["skipped_steps"] == "2"


@pytest.mark.slow
def test_skip_stops_after_max_consecutive(tmp_path, monkeypatch, capsys):
    nan_at(monkeypatch, {2, 3})
    overrides = tiny_overrides(tmp_path, **FAST, on_nonfinite="skip", max_nonfinite_skips=2)
    assert cli.main(["train", *overrides]) == 3
    err = capsys.readouterr().err
    assert "2 consecutive steps skipped (max_nonfinite_skips=2)" in err and "at step 3" in err
    assert ckpt.load_trainer_state(tmp_path / "last")["step"] == 2 and finite(tmp_path)


def test_guard_without_a_checkpoint_says_so(tmp_path):
    guard = NonFiniteGuard("stop", 5, tmp_path)
    assert guard.note(1.5) and guard.step_ok(0, 0)
    assert not guard.note(float("inf"))
    with pytest.raises(NonFiniteError, match="loss inf is not finite at step 2.*no checkpoint was saved yet"):
        guard.step_ok(1, 0)


def test_no_checkpoint_from_nan_weights(tmp_path):
    model = torch.nn.Linear(2, 2)
    check_weights_before_save(model, tmp_path / "last", 7)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="weights hold NaN/inf at step 7: not saving"):
        check_weights_before_save(model, tmp_path / "last", 7)


def test_unknown_on_nonfinite_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="on_nonfinite='ignore'; choose one of"):
        load_config(None, [f"output={tmp_path}", "on_nonfinite=ignore"])
