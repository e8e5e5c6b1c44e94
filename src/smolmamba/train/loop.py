"""Training loop: train_one_epoch, evaluate, main(cfg).

Exact resume: the batches of an epoch are a pure function of (seed, epoch, rank, world_size)
(`epoch_batches`); checkpoints hold the optimizer, the step counters (the learning rate is a function
of the step) and every rank's python/numpy/torch RNG state, restored after all setup. A run resumed
from a checkpoint taken at an epoch end, or mid-epoch with workers=0, therefore ends with the same
weights as an uninterrupted one on CPU. (With workers > 0, a mid-epoch resume re-seeds the workers,
so random augmentation of the rest of that epoch differs.)

SIGINT/SIGTERM: the current optimizer step finishes, last/ is saved and TrainingInterrupted is raised
(the CLI prints how to resume and exits with 128 + the signal number: 130, 143). A second signal stops
at once. The output folder is checked for writability and free space before data and model are built.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from smolmamba.train import checkpoint as ckpt
from smolmamba.train.config import TrainConfig, save_config
from smolmamba.train.distributed import (DistInfo, all_gather_objects, all_reduce_sum, broadcast_buffers,
                                         cleanup, init_distributed, unwrap, wrap_model)
from smolmamba.train.guards import NonFiniteGuard, check_weights_before_save
from smolmamba.train.logger import MetricsLogger, log


MIN_FREE_BYTES = 64 * 2**20  # checked before anything is built; the real estimate follows the model


class TrainingInterrupted(Exception):
    """Training stopped by SIGINT/SIGTERM after saving `path` (<output>/last)."""

    def __init__(self, path: Path, signum: int):
        self.path, self.signum = Path(path), signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}: saved {path}; resume with resume=auto")


class StopOnSignal:
    """Context: the first SIGINT/SIGTERM sets a flag checked after each step; a second one kills.

    Installs handlers only in the main thread (signal.signal refuses others); restores them on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum, self._old = None, {}

    def _handle(self, signum, frame):
        if self.signum is not None:  # second signal: default action now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.signum = signum
        print(f"received {signal.Signals(signum).name}: saving last/ after this step "
              f"(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def requested(self, info: DistInfo) -> int | None:
        """The signal number if any rank got one (one scalar all-reduce per call under DDP), else None."""
        if info.distributed and all_reduce_sum([float(self.signum or 0)], info)[0] > 0:
            return self.signum or int(signal.SIGTERM)
        return self.signum


@dataclass
class RunState:
    epoch: int = 0  # epoch in progress (or next to start)
    batch: int = 0  # optimizer steps done within that epoch
    step: int = 0  # optimizer steps done in total
    best_top1: float = -1.0


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


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                  accum_steps: int = 1) -> list[list[int]]:
    """This rank's micro-batches for one epoch, a pure function of the arguments.

    One permutation of range(n) per (seed, epoch), cut into global batches of
    G = batch_size * world_size * accum_steps (the remainder is dropped); micro-batch m of rank r takes
    chunk r * accum_steps + m of each. So 2 ranks x accum 1 and 1 rank x accum 2 see the same chunks.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    G = batch_size * world_size * accum_steps
    out = []
    for start in range(0, n - G + 1, G):
        for m in range(accum_steps):
            c = start + (rank * accum_steps + m) * batch_size
            out.append(perm[c:c + batch_size])
    return out


# ---------------------------------------------------------------- setup


def build_model_and_data(cfg: TrainConfig):
    """-> (model, train set, test set): the model's T and img_size pick the dataset's; checked to agree."""
    from smolmamba.data import build_dataset
    from smolmamba.models import create_model

    overrides = dict(cfg.model_overrides)
    for key, value in (("time_steps", cfg.T), ("img_size", cfg.img_size)):
        if value is not None:
            if overrides.get(key, value) != value:
                raise ValueError(f"model.{key}={overrides[key]} contradicts {key if key != 'time_steps' else 'T'}"
                                 f"={value}; give one of them")
            overrides[key] = value
    model = create_model(cfg.model, **overrides)
    model.set_grad_checkpointing(cfg.grad_checkpointing)
    if cfg.init_from is not None:
        init_weights(model, cfg.init_from)
    m = model.cfg
    kw = dict(root=cfg.data_root, T=m.time_steps if m.events else None, img_size=m.img_size,
              on_bad_file=cfg.on_bad_file, cache_dir=cfg.cache_dir)
    train_set, info = build_dataset(cfg.dataset, split="train", augment=cfg.augment, **kw)
    test_set, _ = build_dataset(cfg.dataset, split="test", augment=False, **kw)
    check_fit(m, info, cfg)
    if cfg.train_subset is not None:
        train_set = Subset(train_set, range(min(cfg.train_subset, len(train_set))))
    return model, train_set, test_set


def init_weights(model: nn.Module, path) -> None:
    """Load a checkpoint's weights to fine-tune from; only pruner parameters may be absent from it."""
    from smolmamba.train.checkpoint import load_model

    source, _ = load_model(path)
    missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
    wrong = [k for k in missing + unexpected if ".pruner." not in k]
    if wrong:
        raise ValueError(f"init_from={path} does not fit model: mismatched keys {wrong[:8]}")


def check_names(cfg: TrainConfig) -> None:
    """Unknown model or dataset names fail before any folder is made (names can become paths, as in
    `smolmamba compare`'s runs/<dataset>/<model>/): only registered names, never a '../'."""
    from smolmamba.data import list_datasets
    from smolmamba.models.registry import model_cfg

    model_cfg(cfg.model)  # ValueError naming the closest registered models
    if cfg.dataset not in list_datasets():
        from smolmamba.data import build_dataset

        build_dataset(cfg.dataset)  # ValueError naming the closest dataset


def check_fit(m, info: dict, cfg: TrainConfig) -> None:
    """The dataset's classes, channels and kind must match the model; the error names the override."""
    if info["num_classes"] != m.num_classes:
        raise ValueError(f"dataset {cfg.dataset!r} has {info['num_classes']} classes, model {cfg.model!r} "
                         f"has {m.num_classes}: add model.num_classes={info['num_classes']}")
    if info["in_chans"] != m.in_chans:
        raise ValueError(f"dataset {cfg.dataset!r} has {info['in_chans']} channels, model {cfg.model!r} "
                         f"takes {m.in_chans}: add model.in_chans={info['in_chans']} or pick another model")
    if (info["kind"] == "events") != m.events:
        raise ValueError(f"dataset {cfg.dataset!r} yields {info['kind']}, model {cfg.model!r} takes "
                         f"{'events' if m.events else 'images'}; pick a matching model (smolmamba models)")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms, 1-d parameters and those marked _no_weight_decay."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or getattr(p, "_no_weight_decay", False) else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_at(step: int, total: int, warmup: int, base: float, min_lr: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine from base to min_lr at step `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (base - min_lr) * (1.0 + math.cos(math.pi * t))


def train_loader(dataset, cfg: TrainConfig, info: DistInfo, epoch: int, skip_steps: int = 0) -> DataLoader:
    """This rank's loader for `epoch`, starting after `skip_steps` optimizer steps (mid-epoch resume)."""
    batches = epoch_batches(len(dataset), cfg.batch_size, cfg.seed, epoch, info.rank, info.world_size,
                            cfg.accum_steps)[skip_steps * cfg.accum_steps:]
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)  # seeds the workers, not the order
    return DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers, generator=g,
                      pin_memory=info.device.type == "cuda")


def eval_loader(dataset, batch_size: int, workers: int, info: DistInfo) -> DataLoader:
    """Rank r reads samples r, r + world, ...: every sample exactly once over all ranks."""
    return DataLoader(dataset, batch_size=batch_size, sampler=list(range(info.rank, len(dataset), info.world_size)),
                      num_workers=workers, generator=torch.Generator().manual_seed(0),
                      pin_memory=info.device.type == "cuda")


def autocast(device: torch.device, amp: str):
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def mix_batch(mixup, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """timm Mixup/CutMix; event frames [B, T, 2, H, W] are viewed as [B, T*2, H, W] so CutMix cuts H, W."""
    if x.dim() == 5:
        B, T, P, H, W = x.shape
        xm, ym = mixup(x.reshape(B, T * P, H, W), y)
        return xm.reshape(B, T, P, H, W), ym
    return mixup(x, y)


# ---------------------------------------------------------------- train / evaluate


def train_one_epoch(model, criterion, optimizer, loader, cfg: TrainConfig, info: DistInfo, state: RunState,
                    total_steps: int, warmup_steps: int, scaler, ema=None, mixup=None, on_step=None,
                    guard: NonFiniteGuard | None = None) -> dict:
    """Run the optimizer steps of one epoch (or until total_steps); -> {loss, acc, img_s, lr}.
    guard: skips or stops at a non-finite loss (train/guards.py); None steps regardless."""
    model.train()
    accum, device = cfg.accum_steps, info.device
    sums = [0.0, 0.0, 0.0]  # loss * n, correct, n
    steps_left = min(len(loader) // accum, total_steps - state.step)
    bar = tqdm(total=steps_left, desc=f"epoch {state.epoch}", leave=False,
               disable=not info.is_main or not sys.stderr.isatty())
    start, lr = time.perf_counter(), cfg.lr
    for i, (x, y) in enumerate(loader):
        if state.step >= total_steps:
            break
        if i % accum == 0:
            lr = lr_at(state.step, total_steps, warmup_steps, cfg.lr, cfg.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        target = y
        if mixup is not None:
            x, target = mix_batch(mixup, x, y)
        last_micro = (i + 1) % accum == 0
        sync = contextlib.nullcontext() if last_micro or not info.distributed else model.no_sync()
        with sync:
            with autocast(device, cfg.amp):
                logits = model(x)
                loss = criterion(logits.float(), target)
            scaler.scale(loss / accum).backward()
        value = loss.item()
        if guard is None or guard.note(value):  # a non-finite loss stays out of the averages
            sums[0] += value * len(y)
            sums[1] += (logits.argmax(-1) == y).sum().item()
            sums[2] += len(y)
        if not last_micro:
            continue
        stepped = guard is None or guard.step_ok(state.step, state.epoch)
        if stepped:
            if cfg.clip_grad is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.batch += 1
        if ema is not None and stepped:
            ema.update(unwrap(model), step=state.step)
        if state.step % cfg.log_every == 0 or state.step >= total_steps:
            n = max(sums[2], 1.0)  # 0 while every micro-batch so far had a skipped, non-finite loss
            bar.set_postfix(loss=f"{sums[0] / n:.3f}", acc=f"{100 * sums[1] / n:.1f}",
                            img_s=f"{sums[2] * info.world_size / (time.perf_counter() - start):.0f}")
        bar.update(1)
        if on_step is not None:
            on_step()
    bar.close()
    elapsed = time.perf_counter() - start
    loss_sum, correct, n = all_reduce_sum(sums, info)
    n = max(n, 1.0)
    return {"loss": loss_sum / n, "acc": 100.0 * correct / n, "img_s": n / max(elapsed, 1e-9), "lr": lr}


@torch.no_grad()
def evaluate(model: nn.Module, loader, info: DistInfo = DistInfo(), amp: str = "none",
             max_batches: int | None = None) -> dict:
    """-> {loss, top1, top5 (None below 5 classes), images, img_per_s, tokens_per_stage} over all ranks.

    tokens_per_stage is [N, k_1, k_2, ...] from forward_features_with_info on the first batch. Top-1/5 in %.
    """
    model = unwrap(model)
    model.eval()
    device, num_classes = info.device, model.cfg.num_classes
    sums = [0.0, 0.0, 0.0, 0.0]  # loss, top1, top5, n
    tokens = None
    start = time.perf_counter()
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            feats, feat_info = model.forward_features_with_info(x)
            logits = model.forward_head(feats).float()
        if tokens is None:
            tokens = [feat_info["num_tokens"]] + [p.shape[1] for p in feat_info["positions"]]
        top = logits.topk(min(5, num_classes), dim=-1).indices
        sums[0] += F.cross_entropy(logits, y, reduction="sum").item()
        sums[1] += (top[:, 0] == y).sum().item()
        sums[2] += (top == y[:, None]).any(-1).sum().item()
        sums[3] += len(y)
    elapsed = time.perf_counter() - start
    loss, c1, c5, n, elapsed_sum = all_reduce_sum(sums + [elapsed], info)
    n = max(n, 1.0)
    return {"loss": loss / n, "top1": 100.0 * c1 / n, "top5": 100.0 * c5 / n if num_classes >= 5 else None,
            "images": int(n), "img_per_s": n / max(elapsed_sum / info.world_size, 1e-9),
            "tokens_per_stage": tokens}


# ---------------------------------------------------------------- checkpoints


def trainer_state(state: RunState, optimizer, scaler, cfg: TrainConfig, info: DistInfo) -> dict:
    """Everything but the weights; gathers every rank's RNG state (call on all ranks)."""
    return {"epoch": state.epoch, "batch": state.batch, "step": state.step, "best_top1": state.best_top1,
            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "rng": all_gather_objects(rng_state(), info), "world_size": info.world_size,
            "config": cfg.to_dict()}


def save(dest: Path, model, ema, state, optimizer, scaler, cfg: TrainConfig, info: DistInfo) -> None:
    """Checkpoint to dest on rank 0 (every rank joins the RNG gather); never from NaN/inf weights."""
    check_weights_before_save(unwrap(model), dest, state.step)
    ts = trainer_state(state, optimizer, scaler, cfg, info)
    if info.is_main:
        ckpt.save_checkpoint(dest, unwrap(model), cfg.model, ts, ema.module if ema is not None else None)


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


def restore(path: Path, model, ema, optimizer, scaler, cfg: TrainConfig, info: DistInfo) -> RunState:
    """Load weights, optimizer, counters and this rank's RNG state (the last thing before training)."""
    ckpt.load_weights(path, unwrap(model))
    if ema is not None:
        ckpt.load_weights(path, ema.module, ckpt.EMA_FILE)
    ts = ckpt.load_trainer_state(path)
    optimizer.load_state_dict(ts["optimizer"])
    scaler.load_state_dict(ts["scaler"])
    changed = {k: v for k, v in cfg.to_dict().items() if ts["config"].get(k) != v and k != "resume"}
    log(f"resuming from {path} at epoch {ts['epoch']} step {ts['step']}"
        + (f"; changed options: {changed}" if changed else ""), info.is_main)
    if ts["world_size"] == info.world_size:
        set_rng_state(ts["rng"][info.rank])
    else:
        log(f"checkpoint was written by {ts['world_size']} processes, now {info.world_size}: RNG states "
            f"re-seeded, the run continues but not bit-exactly", info.is_main)
        seed_everything(cfg.seed + info.rank + 7919 * ts["step"])
    return RunState(ts["epoch"], ts["batch"], ts["step"], ts["best_top1"])


# ---------------------------------------------------------------- main


def main(cfg: TrainConfig) -> dict:
    """Train (and evaluate) as cfg says; -> {"model", "ema", "metrics" (last row), "best_top1", "run_dir"}."""
    info = init_distributed(cfg.device)
    try:
        with StopOnSignal() as stop:  # SIGINT/SIGTERM: finish the step, save last/, TrainingInterrupted
            return run(cfg, info, stop)
    finally:
        cleanup(info)


def run(cfg: TrainConfig, info: DistInfo, stop: StopOnSignal | None = None) -> dict:
    from timm.loss import SoftTargetCrossEntropy
    from timm.utils import ModelEmaV3

    from smolmamba.data import make_mixup

    if cfg.amp == "fp16" and info.device.type != "cuda":
        raise ValueError("amp=fp16 needs CUDA (it uses a GradScaler); on CPU use amp=bf16 or amp=none")
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    check_names(cfg)
    run_dir = Path(cfg.output)
    if info.is_main:  # before anything slow: a bad output folder fails now, not at the first save
        log(f"output: {ckpt.check_output_dir(run_dir, MIN_FREE_BYTES)}; data: "
            f"{Path(cfg.data_root).expanduser().resolve() if cfg.data_root else f'embedded ({cfg.dataset})'}")
    start_from = resume_path(cfg)
    seed_everything(cfg.seed + info.rank)
    model, train_set, test_set = build_model_and_data(cfg)
    if info.is_main:  # last/ (old and new during a save) and best/
        ckpt.check_output_dir(run_dir, 3 * ckpt.checkpoint_bytes(model, cfg.ema))
    ddp_model = wrap_model(model.to(info.device), info, cfg.sync_bn)  # DDP copies rank 0's weights
    model = unwrap(ddp_model)
    ema = ModelEmaV3(model, decay=cfg.ema_decay) if cfg.ema else None
    optimizer = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(info.device.type, enabled=cfg.amp == "fp16")
    mixup = make_mixup(model.cfg.num_classes, cfg.mixup, cfg.cutmix, cfg.label_smoothing)
    criterion = SoftTargetCrossEntropy() if mixup is not None else nn.CrossEntropyLoss(
        label_smoothing=cfg.label_smoothing)
    global_batch = cfg.batch_size * info.world_size * cfg.accum_steps
    steps_per_epoch = len(train_set) // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set)} training samples make no full global batch of {global_batch} "
                         f"(batch_size x world_size x accum_steps); lower batch_size")
    total = cfg.epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    test_dl = eval_loader(test_set, cfg.batch_size, cfg.workers, info)
    state = RunState()
    if start_from is not None:
        state = restore(start_from, ddp_model, ema, optimizer, scaler, cfg, info)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    logger = MetricsLogger(run_dir, state.epoch if start_from else None, cfg.tensorboard) if info.is_main else None
    log(f"{cfg.model} on {cfg.dataset}: {len(train_set)} train / {len(test_set)} test samples, "
        f"global batch {global_batch} ({info.world_size} process(es) on {info.device}), "
        f"{steps_per_epoch} steps/epoch, {total} steps", info.is_main)

    stop = stop or StopOnSignal()  # not entered: never requested
    guard = NonFiniteGuard(cfg.on_nonfinite, cfg.max_nonfinite_skips, run_dir, info)

    def interrupted(signum: int):
        if logger is not None:
            logger.close()
        raise TrainingInterrupted(run_dir / "last", signum)

    def save_every_steps():  # mid-epoch saves; the epoch-end save follows the last step anyway
        mid_epoch = state.batch < steps_per_epoch
        saved = bool(cfg.save_every) and state.step % cfg.save_every == 0 and mid_epoch
        if saved:
            save(run_dir / "last", ddp_model, ema, state, optimizer, scaler, cfg, info)
        signum = stop.requested(info) if mid_epoch else None  # at an epoch end: after its eval and save
        if signum:
            if not saved:
                save(run_dir / "last", ddp_model, ema, state, optimizer, scaler, cfg, info)
            interrupted(signum)

    row = {}
    while state.step < total:
        t0 = time.perf_counter()
        loader = train_loader(train_set, cfg, info, state.epoch, state.batch)
        stats = train_one_epoch(ddp_model, criterion, optimizer, loader, cfg, info, state, total, warmup,
                                scaler, ema, mixup, save_every_steps, guard)
        done = state.step >= total
        for module in (model, ema.module if ema is not None else None):
            if module is not None:
                broadcast_buffers(module, info)  # every rank evaluates (and ends with) rank 0's statistics
        epoch = state.epoch
        if state.batch >= steps_per_epoch:
            state.epoch, state.batch = state.epoch + 1, 0
        row = {"epoch": epoch, "step": state.step, "lr": stats["lr"], "train_loss": stats["loss"],
               "train_acc": stats["acc"], "train_img_s": stats["img_s"], "skipped_steps": guard.skipped}
        improved = False
        if done or (epoch + 1) % cfg.eval_every == 0:
            row.update(eval_row(ddp_model, ema, test_dl, info, cfg))
            improved = row["test_top1"] > state.best_top1
            state.best_top1 = max(state.best_top1, row["test_top1"])
        row.update(best_top1=state.best_top1 if state.best_top1 >= 0 else None, epoch_s=time.perf_counter() - t0)
        if logger is not None:  # before saving: a resume re-runs (and re-logs) an epoch not saved
            logger.write(row)
            log(summary(row))
        if improved:
            save(run_dir / "best", ddp_model, ema, state, optimizer, scaler, cfg, info)
        save(run_dir / "last", ddp_model, ema, state, optimizer, scaler, cfg, info)
        signum = stop.requested(info)
        if signum and state.step < total:
            interrupted(signum)
    if logger is not None:
        logger.close()
    return {"model": model, "ema": ema.module if ema is not None else None, "metrics": row,
            "best_top1": state.best_top1, "run_dir": run_dir}


def eval_row(model, ema, loader, info: DistInfo, cfg: TrainConfig) -> dict:
    res = evaluate(model, loader, info, cfg.amp)
    row = {"test_loss": res["loss"], "test_top1": res["top1"], "test_top5": res["top5"]}
    if ema is not None:
        res = evaluate(ema.module, loader, info, cfg.amp)
        row.update(ema_top1=res["top1"], ema_top5=res["top5"])
    return row


def summary(row: dict) -> str:
    text = (f"epoch {row['epoch']} step {row['step']}: train loss {row['train_loss']:.4f} "
            f"acc {row['train_acc']:.2f}% ({row['train_img_s']:.0f} img/s)")
    if "test_top1" in row:
        text += f", test loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2f}%"
        if row.get("ema_top1") is not None:
            text += f" (ema {row['ema_top1']:.2f}%)"
    return text + f", {row['epoch_s']:.1f} s"
