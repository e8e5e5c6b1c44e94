"""One epoch of training and one pass of evaluation (torchvision references' train_one_epoch, evaluate)."""

from __future__ import annotations

import contextlib
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from smolmamba.precision import resolve_amp
from smolmamba.train.config import TrainConfig
from smolmamba.train.guards import NonFiniteGuard
from smolmamba.train.distributed import DistInfo, all_reduce_sum, unwrap
from smolmamba.train.setup import lr_at
from smolmamba.train.state import RunState


def autocast(device: torch.device, amp: str):
    """The autocast context of `amp` (precision.resolve_amp: auto is bf16 where it pays) on `device`."""
    amp = resolve_amp(amp, device)
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


def train_one_epoch(model, criterion, optimizer, loader, cfg: TrainConfig, info: DistInfo, state: RunState,
                    total_steps: int, warmup_steps: int, scaler, ema=None, mixup=None, on_step=None,
                    guard: NonFiniteGuard | None = None, before_update=None) -> dict:
    """Run the optimizer steps of one epoch (or until total_steps); -> {loss, acc, img_s, lr}.
    guard: skips or stops at a non-finite loss (train/guards.py); None steps regardless.
    before_update(step, loss): called once per step after the last micro-batch's backward, before the
    gradients are clipped and applied (state.step not yet counted); on_step(): after the step."""
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
        if before_update is not None:
            before_update(state.step, value)
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

    tokens_per_stage is [N, k_1, k_2, ...] from forward_features on the first batch. Top-1/5 in %.
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
            feats, trace = model.forward_features_with_info(x)
            logits = model.forward_head(feats).float()
        if tokens is None:
            tokens = trace.tokens_per_stage()
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


def eval_row(model, ema, loader, info: DistInfo, cfg: TrainConfig, split: str = "test") -> dict:
    """The eval columns of a metrics row ({split}_loss, _top1, _top5; ema_top1/5 with an EMA)."""
    res = evaluate(model, loader, info, cfg.amp)
    row = {f"{split}_loss": res["loss"], f"{split}_top1": res["top1"], f"{split}_top5": res["top5"]}
    if ema is not None:
        res = evaluate(ema.module, loader, info, cfg.amp)
        row.update(ema_top1=res["top1"], ema_top5=res["top5"])
    return row
