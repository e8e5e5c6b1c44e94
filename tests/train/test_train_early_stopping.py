"""Validation split and early stopping: the test split is never evaluated, the rule stops on a plateau."""

import csv

import pytest

from smolmamba.train import checkpoint as ckpt
from smolmamba.train import loop
from smolmamba.train.config import TrainConfig, load_config
from smolmamba.train.setup import build_model_and_data
from tests.train.train_helpers import tiny_overrides

CONFIG = "configs/digits_smolmamba_tiny.yaml"


def scripted_evaluate(monkeypatch, scores):
    """evaluate() returns the next of `scores` as top-1 (and records which split it was given)."""
    seen = []

    def fake(model, loader, info=None, amp="none", max_batches=None):
        seen.append(len(loader.dataset))
        top1 = scores[len(seen) - 1]
        return {"loss": 1.0, "top1": top1, "top5": None, "images": 1, "img_per_s": 1.0, "tokens_per_stage": [64]}

    monkeypatch.setattr("smolmamba.train.epoch.evaluate", fake)
    return seen


def test_validation_comes_from_training_data(tmp_path):
    cfg = load_config(CONFIG, tiny_overrides(tmp_path, val_fraction=0.25))
    _, train_set, val_set = build_model_and_data(cfg)
    assert len(train_set) + len(val_set) == 128 and len(val_set) == pytest.approx(32, abs=5)
    assert not set(train_set.indices) & set(val_set.indices)


def test_training_stops_after_patience_evaluations_without_improvement(tmp_path, monkeypatch):
    seen = scripted_evaluate(monkeypatch, [20.0, 50.0, 40.0, 50.0, 45.0, 99.0])
    cfg = load_config(CONFIG, tiny_overrides(tmp_path, epochs=6, val_fraction=0.25, patience=3,
                                             train_subset=64))
    result = loop.main(cfg)
    assert len(seen) == 5 and result.epochs_run == 5 and result.early_stopped  # 99 never reached
    assert result.best_top1 == 50.0 and result.best_split == "val"
    assert ckpt.read_manifest(tmp_path / "best")[1]["epoch"] == 2  # saved at the end of epoch 1 (0-based)
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val_top1"]) for r in rows] == [20.0, 50.0, 40.0, 50.0, 45.0]
    assert all(r["test_top1"] == "" for r in rows)


def test_a_run_that_never_plateaus_is_not_early_stopped(tmp_path, monkeypatch):
    scripted_evaluate(monkeypatch, [10.0, 20.0])
    cfg = load_config(CONFIG, tiny_overrides(tmp_path, val_fraction=0.25, patience=1, train_subset=64))
    result = loop.main(cfg)
    assert result.epochs_run == 2 and not result.early_stopped


def test_patience_counts_only_evaluations_after_patience_from(tmp_path, monkeypatch):
    seen = scripted_evaluate(monkeypatch, [50.0, 40.0, 45.0, 30.0, 35.0, 20.0])  # best in epoch 1, then misses
    cfg = load_config(CONFIG, tiny_overrides(tmp_path, epochs=6, val_fraction=0.25, patience=2,
                                             patience_from=0.5, train_subset=64))
    result = loop.main(cfg)  # epochs 2-3 are in the first half: their misses do not count; 4 and 5 do
    assert len(seen) == 5 and result.epochs_run == 5 and result.early_stopped
    with pytest.raises(ValueError, match="patience_from is a fraction"):
        TrainConfig(patience_from=1.0)


def test_patience_survives_a_resume(tmp_path, monkeypatch):
    scripted_evaluate(monkeypatch, [30.0, 20.0, 25.0, 90.0])
    base = dict(val_fraction=0.25, patience=2, train_subset=64)
    loop.main(load_config(CONFIG, tiny_overrides(tmp_path, epochs=2, **base)))  # 30, 20: one miss so far
    result = loop.main(load_config(CONFIG, tiny_overrides(tmp_path, epochs=4, resume="auto", **base)))
    assert result.epochs_run == 3 and result.early_stopped and result.best_top1 == 30.0


def test_patience_needs_a_validation_split():
    with pytest.raises(ValueError, match="needs a validation split: set val_fraction"):
        TrainConfig(patience=2)
    with pytest.raises(ValueError, match="val_fraction must be in"):
        TrainConfig(val_fraction=1.0)
