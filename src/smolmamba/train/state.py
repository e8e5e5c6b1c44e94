"""What a run carries between steps and across restarts: counters, RNG states, checkpoints.

Exact resume: checkpoints hold the optimizer, the step counters (the learning rate is a function of
the step) and every rank's python/numpy/torch RNG state, restored after all setup.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smolmamba.train import checkpoint as ckpt
from smolmamba.train.config import TrainConfig
from smolmamba.train.guards import check_weights_before_save
from smolmamba.train.distributed import DistInfo, all_gather_objects, unwrap
from smolmamba.train.logger import log


@dataclass
class RunState:
    epoch: int = 0  # epoch in progress (or next to start)
    batch: int = 0  # optimizer steps done within that epoch
    step: int = 0  # optimizer steps done in total
    best_top1: float = -1.0
    since_best: int = 0  # evaluations since best_top1 last improved (early stopping)


# ---------------------------------------------------------------- randomness


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """python, numpy and torch (CPU + CUDA) generator states, in types torch.load(weights_only) reads."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)}}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))


# ---------------------------------------------------------------- checkpoints


@dataclass
class Trainee:
    """What a checkpoint saves and restores: the (DDP-wrapped) model, EMA, optimizer and grad scaler."""

    model: torch.nn.Module
    ema: object | None  # timm ModelEmaV3
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler


def trainer_state(state: RunState, optimizer, scaler, cfg: TrainConfig, info: DistInfo) -> dict:
    """Everything but the weights; gathers every rank's RNG state (call on all ranks)."""
    return {"epoch": state.epoch, "batch": state.batch, "step": state.step, "best_top1": state.best_top1,
            "since_best": state.since_best,
            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "rng": all_gather_objects(rng_state(), info), "world_size": info.world_size,
            "config": cfg.to_dict()}


def save(dest: Path, trainee: Trainee, state: RunState, cfg: TrainConfig, info: DistInfo) -> None:
    """Checkpoint to dest on rank 0 (every rank joins the RNG gather); never from NaN/inf weights."""
    check_weights_before_save(unwrap(trainee.model), dest, state.step)
    ts = trainer_state(state, trainee.optimizer, trainee.scaler, cfg, info)
    if info.is_main:
        ema = trainee.ema.module if trainee.ema is not None else None
        ckpt.save_checkpoint(dest, unwrap(trainee.model), cfg.model, ts, ema)


def resume_path(cfg: TrainConfig) -> Path | None:
    """cfg.resume: None, a checkpoint folder, or "auto" = <output>/last when it (or last.old) exists."""
    if cfg.resume is None:
        return None
    if cfg.resume == "auto":
        last = Path(cfg.output) / "last"
        try:
            return ckpt.resolve(last)
        except FileNotFoundError:
            return None
    return ckpt.resolve(cfg.resume)


def restore(path: Path, trainee: Trainee, cfg: TrainConfig, info: DistInfo) -> RunState:
    """Load weights, optimizer, counters and this rank's RNG state (the last thing before training)."""
    ckpt.load_weights(path, unwrap(trainee.model))
    if trainee.ema is not None:
        ckpt.load_weights(path, trainee.ema.module, ckpt.EMA_FILE)
    ts = ckpt.load_trainer_state(path)
    trainee.optimizer.load_state_dict(ts["optimizer"])
    trainee.scaler.load_state_dict(ts["scaler"])
    changed = {k: v for k, v in cfg.to_dict().items() if ts["config"].get(k) != v and k != "resume"}
    log(f"resuming from {path} at epoch {ts['epoch']} step {ts['step']}"
        + (f"; changed options: {changed}" if changed else ""), info.is_main)
    if ts["world_size"] == info.world_size:
        set_rng_state(ts["rng"][info.rank])
    else:
        log(f"checkpoint was written by {ts['world_size']} processes, now {info.world_size}: RNG states "
            f"re-seeded, the run continues but not bit-exactly", info.is_main)
        seed_everything(cfg.seed + info.rank + 7919 * ts["step"])
    return RunState(ts["epoch"], ts["batch"], ts["step"], ts["best_top1"], ts.get("since_best", 0))
