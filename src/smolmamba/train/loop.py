"""Training entry point: main(cfg) -> run(cfg, info, stop), read top to bottom.

Exact resume: batches are a pure function of (seed, epoch, rank, world_size) (setup.epoch_batches)
and checkpoints hold the optimizer, counters and every rank's RNG state (state.py), restored after all
setup. A run resumed from a checkpoint taken at an epoch end, or mid-epoch with workers=0, therefore
ends with the same weights as an uninterrupted one on CPU. (With workers > 0, a mid-epoch resume
re-seeds the workers, so random augmentation of the rest of that epoch differs.)

SIGINT/SIGTERM: the current optimizer step finishes, last/ is saved and TrainingInterrupted is raised
(signals.py). The output folder is checked for writability and free space before data and model are built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from smolmamba.precision import resolve_amp
from smolmamba.train import checkpoint as ckpt
from smolmamba.train.config import TrainConfig, save_config
from smolmamba.train.distributed import DistInfo, broadcast_buffers, cleanup, init_distributed, unwrap, wrap_model
from smolmamba.train.epoch import eval_row, train_one_epoch
from smolmamba.train.guards import NonFiniteGuard
from smolmamba.train.logger import MetricsLogger, log, summary
from smolmamba.train.setup import (build_model_and_data, check_names, eval_loader, eval_split, make_optimizer,
                                   make_schedule, train_loader)
from smolmamba.train.signals import StopOnSignal, TrainingInterrupted
from smolmamba.train.state import RunState, Trainee, restore, resume_path, save, seed_everything

MIN_FREE_BYTES = 64 * 2**20  # checked before anything is built; the real estimate follows the model


@dataclass(frozen=True)
class TrainResult:
    """A finished run: its trained modules and how it ended; best/ holds the weights of best_top1."""

    model: nn.Module  # the last weights (unwrapped from DDP)
    ema: nn.Module | None
    metrics: dict  # the last epoch's row of metrics.csv
    best_top1: float  # best evaluated top-1 on best_split (-1 when nothing was evaluated)
    best_split: str  # "val" or "test"
    epochs_run: int
    early_stopped: bool
    run_dir: Path


def main(cfg: TrainConfig) -> TrainResult:
    """Train (and evaluate) as cfg says."""
    info = init_distributed(cfg.device)
    try:
        with StopOnSignal() as stop:  # SIGINT/SIGTERM: finish the step, save last/, TrainingInterrupted
            return run(cfg, info, stop)
    finally:
        cleanup(info)


def run(cfg: TrainConfig, info: DistInfo, stop: StopOnSignal | None = None) -> TrainResult:
    from timm.loss import SoftTargetCrossEntropy
    from timm.utils import ModelEmaV3

    from smolmamba.data import make_mixup

    check_runtime(cfg, info)
    check_names(cfg)
    run_dir = Path(cfg.output)
    if info.is_main:  # before anything slow: a bad output folder fails now, not at the first save
        log(f"output: {ckpt.check_output_dir(run_dir, MIN_FREE_BYTES)}; data: "
            f"{Path(cfg.data_root).expanduser().resolve() if cfg.data_root else f'embedded ({cfg.dataset})'}")
    start_from = resume_path(cfg)
    seed_everything(cfg.seed + info.rank)
    model, train_set, eval_set = build_model_and_data(cfg)
    if info.is_main:  # last/ (old and new during a save) and best/
        ckpt.check_output_dir(run_dir, 3 * ckpt.checkpoint_bytes(model, cfg.ema))
    ddp_model = wrap_model(model.to(info.device), info, cfg.sync_bn)  # DDP copies rank 0's weights
    model = unwrap(ddp_model)
    ema = ModelEmaV3(model, decay=cfg.ema_decay) if cfg.ema else None
    trainee = Trainee(ddp_model, ema, make_optimizer(model, cfg),
                      torch.amp.GradScaler(info.device.type, enabled=cfg.amp == "fp16"))
    mixup = make_mixup(model.cfg.num_classes, cfg.mixup, cfg.cutmix, cfg.label_smoothing)
    criterion = SoftTargetCrossEntropy() if mixup is not None else nn.CrossEntropyLoss(
        label_smoothing=cfg.label_smoothing)
    sched = make_schedule(len(train_set), cfg, info)
    split = eval_split(cfg)
    eval_dl = eval_loader(eval_set, cfg.batch_size, cfg.workers, info)
    state = RunState() if start_from is None else restore(start_from, trainee, cfg, info)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    logger = MetricsLogger(run_dir, state.epoch if start_from else None, cfg.tensorboard) if info.is_main else None
    log(f"{cfg.model} on {cfg.dataset}: {len(train_set)} train / {len(eval_set)} {split} samples, "
        f"global batch {sched.global_batch} ({info.world_size} process(es) on {info.device}, amp "
        f"{resolve_amp(cfg.amp, info.device)}), "
        f"{sched.steps_per_epoch} steps/epoch, {sched.total} steps", info.is_main)
    saves = Saves(run_dir, trainee, state, cfg, info, stop or StopOnSignal(), logger, sched.steps_per_epoch)
    guard = NonFiniteGuard(cfg.on_nonfinite, cfg.max_nonfinite_skips, run_dir, info)

    row = {}
    while state.step < sched.total and not plateaued(state, cfg):
        t0 = time.perf_counter()
        loader = train_loader(train_set, cfg, info, state.epoch, state.batch)
        stats = train_one_epoch(ddp_model, criterion, trainee.optimizer, loader, cfg, info, state, sched.total,
                                sched.warmup, trainee.scaler, ema, mixup, saves.after_step, guard)
        for module in (model, ema.module if ema is not None else None):
            if module is not None:
                broadcast_buffers(module, info)  # every rank evaluates (and ends with) rank 0's statistics
        epoch = state.epoch
        if state.batch >= sched.steps_per_epoch:
            state.epoch, state.batch = state.epoch + 1, 0
        row = {"epoch": epoch, "step": state.step, "lr": stats["lr"], "train_loss": stats["loss"],
               "train_acc": stats["acc"], "train_img_s": stats["img_s"], "skipped_steps": guard.skipped}
        improved = False
        if state.step >= sched.total or (epoch + 1) % cfg.eval_every == 0:
            row.update(eval_row(ddp_model, ema, eval_dl, info, cfg, split))
            improved = row[f"{split}_top1"] > state.best_top1
            state.best_top1 = max(state.best_top1, row[f"{split}_top1"])
            counting = state.step > cfg.patience_from * sched.total  # a noisy high-lr phase does not count
            state.since_best = 0 if improved or not counting else state.since_best + 1
        row.update(best_top1=state.best_top1 if state.best_top1 >= 0 else None, epoch_s=time.perf_counter() - t0)
        if logger is not None:  # before saving: a resume re-runs (and re-logs) an epoch not saved
            logger.write(row)
            log(summary(row))
        saves.after_epoch(improved, sched.total)
    if logger is not None:
        logger.close()
    early_stopped = plateaued(state, cfg) and state.step < sched.total
    if early_stopped:
        log(f"early stop after epoch {state.epoch - 1}: {split} top-1 did not improve on {state.best_top1:.2f}% "
            f"for {cfg.patience} evaluations", info.is_main)
    return TrainResult(model, ema.module if ema is not None else None, row, state.best_top1, split, state.epoch,
                       early_stopped, run_dir)


def plateaued(state: RunState, cfg: TrainConfig) -> bool:
    """Early stopping: `patience` counted evaluations in a row without a new best top-1."""
    return cfg.patience is not None and state.since_best >= cfg.patience


def check_runtime(cfg: TrainConfig, info: DistInfo) -> None:
    """Options that depend on the device; sets deterministic algorithms when asked."""
    if cfg.amp == "fp16" and info.device.type != "cuda":
        raise ValueError("amp=fp16 needs CUDA (it uses a GradScaler); on CPU use amp=bf16 or amp=none")
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


class Saves:
    """When last/ and best/ are written, and where a signal stops the run (after a step or an epoch)."""

    def __init__(self, run_dir: Path, trainee: Trainee, state: RunState, cfg: TrainConfig, info: DistInfo,
                 stop: StopOnSignal, logger: MetricsLogger | None, steps_per_epoch: int):
        self.run_dir, self.trainee, self.state, self.cfg, self.info = run_dir, trainee, state, cfg, info
        self.stop, self.logger, self.steps_per_epoch = stop, logger, steps_per_epoch

    def save(self, name: str) -> None:
        save(self.run_dir / name, self.trainee, self.state, self.cfg, self.info)

    def after_step(self) -> None:
        """Mid-epoch saves every cfg.save_every steps; the epoch-end save follows the last step anyway."""
        mid_epoch = self.state.batch < self.steps_per_epoch
        saved = bool(self.cfg.save_every) and self.state.step % self.cfg.save_every == 0 and mid_epoch
        if saved:
            self.save("last")
        signum = self.stop.requested(self.info) if mid_epoch else None  # at an epoch end: after its eval and save
        if signum:
            if not saved:
                self.save("last")
            self.interrupted(signum)

    def after_epoch(self, improved: bool, total_steps: int) -> None:
        if improved:
            self.save("best")
        self.save("last")
        signum = self.stop.requested(self.info)
        if signum and self.state.step < total_steps:
            self.interrupted(signum)

    def interrupted(self, signum: int):
        if self.logger is not None:
            self.logger.close()
        raise TrainingInterrupted(self.run_dir / "last", signum)
