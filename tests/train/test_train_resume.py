"""A run interrupted and resumed ends with bit-identical weights to an uninterrupted one (CPU)."""

import csv

import pytest
import torch
from safetensors.torch import load_file

from smolmamba.train import checkpoint as ckpt
from smolmamba.train import loop
from smolmamba.train.config import load_config

from train_helpers import tiny_overrides

# augmentation (torch RNG), mixup/cutmix (numpy RNG) and EMA all have to survive the resume
OPTIONS = dict(save_every=2, mixup=0.8, cutmix=1.0, label_smoothing=0.1, ema=True, ema_decay=0.9)


class Crash(Exception):
    pass


def crash_after(monkeypatch, step: int) -> None:
    """Make the run die right after it saved last/ at `step`."""
    real = ckpt.save_checkpoint

    def save_then_crash(dest, model, name, state, ema=None):
        real(dest, model, name, state, ema)
        if dest.name == "last" and state["step"] == step:
            raise Crash

    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_crash)


def weights(run_dir, file=ckpt.MODEL_FILE):
    return load_file(run_dir / "last" / file)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    loop.main(load_config(None, tiny_overrides(out, **OPTIONS)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("crash_step", [4, 6], ids=["epoch_end", "mid_epoch"])  # 4 steps per epoch
def test_resume_is_bit_exact(uninterrupted, tmp_path, monkeypatch, crash_step):
    with monkeypatch.context() as m:
        crash_after(m, crash_step)
        with pytest.raises(Crash):
            loop.main(load_config(None, tiny_overrides(tmp_path, **OPTIONS)))
    assert ckpt.load_trainer_state(tmp_path / "last")["step"] == crash_step
    result = loop.main(load_config(None, tiny_overrides(tmp_path, **OPTIONS, resume="auto")))
    assert result.metrics["step"] == 8
    for file in (ckpt.MODEL_FILE, ckpt.EMA_FILE):
        expected, got = weights(uninterrupted, file), weights(tmp_path, file)
        assert expected.keys() == got.keys()
        different = [k for k in expected if not torch.equal(expected[k], got[k])]
        assert not different, f"{file}: {len(different)} tensors differ, e.g. {different[:3]}"
    assert eval_columns(tmp_path) == eval_columns(uninterrupted)


def eval_columns(run_dir):
    """metrics.csv without the timing and train columns (a resumed epoch trains on part of its batches)."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(r["epoch"], r["step"], r["lr"], r["test_loss"], r["test_top1"], r["ema_top1"])
                for r in csv.DictReader(f)]
