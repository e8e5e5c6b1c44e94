"""How `compare` trains each model: validation split, learning-rate grid, early stopping, seeds.

The rule is the same for every model:
1. cfg.val_fraction of each training class is held out (data/split.py; one fixed split for all runs);
   the test split is never seen before the final measurement;
2. for each lr of cfg.lrs, seed 0 trains until its validation top-1 has not improved for cfg.patience
   epochs (at most cfg.epochs), counting only epochs after cfg.patience_from of the cosine schedule: at
   the peak lr the validation curve swings by 10-30 points, and a run stopped there is under-trained;
   the lr with the best validation top-1 wins (ties: the smaller lr);
3. seeds 1 .. cfg.seeds-1 train at that lr under the same rule (seed 0's run is reused);
   the runs of each round are independent, so cfg.workers processes of one thread train them side by side;
4. each run's best-validation weights (its best/ checkpoint) are what `compare` measures on the test split.
With val_fraction = 0 there is no validation split: one lr, a fixed number of epochs, the last weights.
`compare --lr-from DIR` skips step 2: each model trains at the lr it picked in the earlier run DIR.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from smolmamba.experiments.config import EVENT_DATASETS, ROLES, CompareConfig
from smolmamba.experiments.records import LrSearchRow, Measurement, RunRow


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

    def row(self, dataset: str, role: str, measured: Measurement, results_dir: Path) -> RunRow:
        """This run's record (no weights) with what its weights measured; run_dir relative to results_dir."""
        return RunRow(dataset, role, model_name(role, dataset), self.seed, self.lr, self.train_s, self.epochs_run,
                      self.best_val_top1, self.early_stopped, tuple(self.val_curve), measured,
                      str(self.run_dir.relative_to(results_dir)))


def validation_curve(run_dir: Path) -> list[float]:
    """Validation top-1 per evaluated epoch, from the run's metrics.csv (empty without a validation split)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return [float(row["val_top1"]) for row in csv.DictReader(f) if row.get("val_top1")]


def training_seconds(run_dir: Path) -> float:
    """The run's epoch times summed from its metrics.csv (so a resumed run counts its earlier epochs too)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return sum(float(row["epoch_s"]) for row in csv.DictReader(f) if row.get("epoch_s"))


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
    summary = json.loads(path.read_text()).get("summary") or []  # only three keys are read: any version's file
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
                            train_subset=cfg.train_subset, val_fraction=cfg.val_fraction, amp=cfg.amp,
                            patience=(cfg.patience or None) if validated else None,
                            patience_from=cfg.patience_from, warmup_epochs=min(0.5, epochs / 4),
                            init_from=None if init_from is None else str(init_from),
                            resume="auto" if cfg.resume else None)
    result = train_main(train_cfg)
    model = result.model.cpu()
    if validated:
        ckpt.load_weights(ckpt.resolve(Path(result.run_dir) / "best"), model)
    run_dir = Path(result.run_dir)
    return TrainedRun(model.eval(), lr, seed, training_seconds(run_dir), result.epochs_run,
                      result.best_top1 if validated else None, result.early_stopped, run_dir,
                      validation_curve(run_dir) if validated else [])


@dataclass(frozen=True)
class RunJob:
    """One training run of the protocol: a model (role) on a data set at one seed and lr."""

    role: str
    dataset: str
    seed: int
    lr: float
    run_dir: Path


def _train_job(job: RunJob, cfg: CompareConfig) -> TrainedRun:
    """A worker process's run on one thread, so the workers share the cores; the weights stay on disk and
    are read back by the parent (load_trained)."""
    import torch

    torch.set_num_threads(1)
    run = train_one(job.role, job.dataset, job.seed, cfg, job.run_dir, lr=job.lr)
    return dataclasses.replace(run, model=None)


def load_trained(run: TrainedRun, validated: bool) -> TrainedRun:
    """Fill in a worker's run with the weights it measured: best/ with a validation split, else last/."""
    from smolmamba.train import checkpoint as ckpt

    model, _ = ckpt.load_model(ckpt.resolve(run.run_dir / ("best" if validated else "last")))
    return dataclasses.replace(run, model=model.eval())


def train_jobs(jobs: list[RunJob], cfg: CompareConfig) -> list[TrainedRun]:
    """Train every job, in order; with cfg.workers > 1 in that many processes of one thread each."""
    if cfg.workers <= 1 or len(jobs) <= 1:
        return [train_one(j.role, j.dataset, j.seed, cfg, j.run_dir, lr=j.lr) for j in jobs]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(min(cfg.workers, len(jobs)), mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(_train_job, jobs, [cfg] * len(jobs)))
    return [load_trained(run, cfg.val_fraction > 0) for run in runs]


def tune_and_train_all(pairs: list[tuple[str, str]], cfg: CompareConfig, runs_dir: Path, log=print
                       ) -> dict[tuple[str, str], tuple[list[TrainedRun], list[LrSearchRow]]]:
    """(dataset, role) pairs -> {pair: (one TrainedRun per seed at the chosen lr, one lr-search row per lr)}.

    Two rounds, each trained by train_jobs: seed 0 at every lr of every pair; then the other seeds at
    each pair's chosen lr. runs_dir/<dataset>/<model>/ holds the runs."""
    grids = {(dataset, role): lrs_to_try(model_name(role, dataset), dataset, cfg) for dataset, role in pairs}
    first = [RunJob(role, dataset, 0, lr, runs_dir / dataset / model_name(role, dataset)
                    / ("seed0" if len(lrs) == 1 else f"lr{lr:g}-seed0"))
             for (dataset, role), lrs in grids.items() for lr in lrs]
    seed0 = dict(zip([(j.dataset, j.role, j.lr) for j in first], train_jobs(first, cfg)))
    chosen, searches = {}, {}
    for (dataset, role), lrs in grids.items():
        name = model_name(role, dataset)
        candidates = {lr: seed0[(dataset, role, lr)] for lr in lrs}
        searches[(dataset, role)] = [LrSearchRow(dataset, role, name, lr, run.best_val_top1, run.epochs_run,
                                                 run.train_s) for lr, run in candidates.items()]
        chosen[(dataset, role)] = max(sorted(candidates), key=lambda lr: candidates[lr].best_val_top1 or 0.0)
        if len(lrs) > 1:
            log(f"{dataset:14s} {name:28s} lr search (val top-1): "
                + ", ".join(f"{r.lr:g}: {r.val_top1:.2f}%" for r in searches[(dataset, role)])
                + f" -> lr {chosen[(dataset, role)]:g}")
        elif cfg.lr_from:
            log(f"{dataset:14s} {name:28s} lr {chosen[(dataset, role)]:g}, as picked in {cfg.lr_from}")
    rest = [RunJob(role, dataset, seed, chosen[(dataset, role)],
                   runs_dir / dataset / model_name(role, dataset) / f"seed{seed}")
            for dataset, role in pairs for seed in range(1, cfg.seeds)]
    later = dict(zip([(j.dataset, j.role, j.seed) for j in rest], train_jobs(rest, cfg)))
    return {(dataset, role): ([seed0[(dataset, role, chosen[(dataset, role)])]]
                              + [later[(dataset, role, seed)] for seed in range(1, cfg.seeds)],
                              searches[(dataset, role)])
            for dataset, role in pairs}


def tune_and_train(role: str, dataset: str, cfg: CompareConfig, runs_dir: Path, log=print
                   ) -> tuple[list[TrainedRun], list[LrSearchRow]]:
    """One pair of tune_and_train_all: (one TrainedRun per seed at the chosen lr, one lr-search row per lr)."""
    return tune_and_train_all([(dataset, role)], cfg, runs_dir, log)[(dataset, role)]
