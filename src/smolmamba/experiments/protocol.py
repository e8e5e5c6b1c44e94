"""How `compare` trains each model: validation split, learning-rate grid, early stopping, seeds.

The rule is the same for every model:
1. cfg.val_fraction of each training class is held out (data/split.py; one fixed split for all runs);
   the test split is never seen before the final measurement;
2. for each lr of cfg.lrs, seed 0 trains until its validation top-1 has not improved for cfg.patience
   epochs (at most cfg.epochs), counting only epochs after cfg.patience_from of the cosine schedule: at
   the peak lr the validation curve swings by 10-30 points, and a run stopped there is under-trained;
   the lr with the best validation top-1 wins (ties: the smaller lr);
3. seeds 1 .. cfg.seeds-1 train at that lr under the same rule (seed 0's run is reused);
4. each run's best-validation weights (its best/ checkpoint) are what `compare` measures on the test split.
With val_fraction = 0 there is no validation split: one lr, a fixed number of epochs, the last weights.
`compare --lr-from DIR` skips step 2: each model trains at the lr it picked in the earlier run DIR.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from smolmamba.experiments.config import EVENT_DATASETS, ROLES, CompareConfig


@dataclass
class TrainedRun:
    """One finished training: the weights `compare` measures and how they were reached."""

    model: nn.Module  # best-validation weights (the last ones without a validation split); CPU, eval mode
    lr: float
    seed: int
    train_s: float
    epochs_run: int
    best_val_top1: float | None  # None without a validation split
    early_stopped: bool
    run_dir: Path
    val_curve: list[float] = field(default_factory=list)  # validation top-1 per epoch (empty without a split)

    def record(self) -> dict:
        """The JSON-ready part (no weights)."""
        return {"lr": self.lr, "seed": self.seed, "train_s": self.train_s, "epochs_run": self.epochs_run,
                "best_val_top1": self.best_val_top1, "early_stopped": self.early_stopped,
                "val_curve": self.val_curve}


def validation_curve(run_dir: Path) -> list[float]:
    """Validation top-1 per evaluated epoch, from the run's metrics.csv (empty without a validation split)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return [float(row["val_top1"]) for row in csv.DictReader(f) if row.get("val_top1")]


def model_name(role: str, dataset: str) -> str:
    """The registered model playing `role` on `dataset` (a registered name passes through)."""
    if role not in ROLES:
        return role
    return ROLES[role][dataset in EVENT_DATASETS]


def lrs_picked_in(results_dir: Path) -> dict[str, float]:
    """{"dataset/model": lr} of an earlier compare run's results folder (the lr each model was measured at)."""
    path = Path(results_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"--lr-from {results_dir}: no results.json there; pass a folder written by "
                                "`smolmamba compare` (results/<timestamp>/)")
    summary = json.loads(path.read_text()).get("summary") or []
    picked = {f"{row['dataset']}/{row['model']}": row["lr"] for row in summary if row.get("lr") is not None}
    if not picked:
        raise ValueError(f"--lr-from {results_dir}: its results.json records no lr per model; "
                         "rerun that comparison, or pass --lr")
    return picked


def lrs_to_try(name: str, dataset: str, cfg: CompareConfig) -> tuple[float, ...]:
    """The lr grid of one model: cfg.lrs, or the one lr picked for it in cfg.lr_from."""
    if not cfg.lr_from:
        return cfg.lrs
    key = f"{dataset}/{name}"
    if key not in cfg.picked_lrs:
        raise ValueError(f"--lr-from {cfg.lr_from} has no lr for {key} (it has {sorted(cfg.picked_lrs)}); "
                         "compare only those, or pass --lr")
    return (cfg.picked_lrs[key],)


def train_one(role: str, dataset: str, seed: int, cfg: CompareConfig, run_dir: Path, epochs: int | None = None,
              init_from: Path | None = None, lr: float | None = None, **overrides) -> TrainedRun:
    """Train one model with the shared recipe (optionally fine-tune from a checkpoint)."""
    from smolmamba.train import checkpoint as ckpt
    from smolmamba.train.config import TrainConfig
    from smolmamba.train.loop import main as train_main

    epochs = epochs or cfg.epochs
    lr = cfg.lrs[0] if lr is None else lr
    validated = cfg.val_fraction > 0
    train_cfg = TrainConfig(model=model_name(role, dataset), model_overrides=overrides, dataset=dataset,
                            data_root=cfg.data_roots.get(dataset), epochs=epochs, batch_size=cfg.batch_size,
                            lr=lr, seed=seed, output=str(run_dir), augment=cfg.augment,
                            eval_every=1 if validated else epochs, tensorboard=False,
                            train_subset=cfg.train_subset, val_fraction=cfg.val_fraction,
                            patience=(cfg.patience or None) if validated else None,
                            patience_from=cfg.patience_from, warmup_epochs=min(0.5, epochs / 4),
                            init_from=None if init_from is None else str(init_from))
    start = time.perf_counter()
    result = train_main(train_cfg)
    seconds = time.perf_counter() - start
    model = result["model"].cpu()
    if validated:
        ckpt.load_weights(ckpt.resolve(Path(result["run_dir"]) / "best"), model)
    run_dir = Path(result["run_dir"])
    return TrainedRun(model.eval(), lr, seed, seconds, result["epochs_run"],
                      result["best_top1"] if validated else None, result["early_stopped"], run_dir,
                      validation_curve(run_dir) if validated else [])


def tune_and_train(role: str, dataset: str, cfg: CompareConfig, runs_dir: Path, log=print
                   ) -> tuple[list[TrainedRun], list[dict]]:
    """-> (one TrainedRun per seed at the chosen lr, one lr-search row per lr tried)."""
    name = model_name(role, dataset)
    lrs = lrs_to_try(name, dataset, cfg)
    candidates = {}
    for lr in lrs:
        tag = "seed0" if len(lrs) == 1 else f"lr{lr:g}-seed0"
        candidates[lr] = train_one(role, dataset, 0, cfg, runs_dir / name / tag, lr=lr)
    search = [{"dataset": dataset, "role": role, "model": name, "lr": lr, "val_top1": run.best_val_top1,
               "epochs_run": run.epochs_run, "train_s": run.train_s} for lr, run in candidates.items()]
    best_lr = max(sorted(candidates), key=lambda lr: candidates[lr].best_val_top1 or 0.0)
    if len(lrs) > 1:
        log(f"{dataset:14s} {name:28s} lr search (val top-1): "
            + ", ".join(f"{r['lr']:g}: {r['val_top1']:.2f}%" for r in search) + f" -> lr {best_lr:g}")
    elif cfg.lr_from:
        log(f"{dataset:14s} {name:28s} lr {best_lr:g}, as picked in {cfg.lr_from}")
    runs = [candidates[best_lr]] + [train_one(role, dataset, seed, cfg, runs_dir / name / f"seed{seed}", lr=best_lr)
                                    for seed in range(1, cfg.seeds)]
    return runs, search
