"""Training guards: a step whose loss is NaN/inf stops the run or is skipped (TrainConfig.on_nonfinite),
and a checkpoint is never written from non-finite weights, so <output>/last stays the last good one.

stop (default): NonFiniteError names the step and the checkpoint kept, before anything is stepped.
skip: the optimizer step (and EMA update) is dropped and logged; the step still counts (the
learning-rate schedule and exact resume follow the batches consumed); max_nonfinite_skips
consecutive skips stop the run with NonFiniteError. Under DDP the ranks agree (one all-reduce per step).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from smolmamba.train.config import ON_NONFINITE
from smolmamba.train.distributed import DistInfo, all_reduce_sum
from smolmamba.train.logger import log

FIXES = "lower lr, set amp=none, or set clip_grad (e.g. clip_grad=1.0)"


class NonFiniteError(RuntimeError):
    """Training met a NaN/inf loss (or weights) and stopped; <output>/last was not overwritten."""


def weights_finite(model: nn.Module) -> bool:
    """Whether every floating parameter and buffer of model is finite (one sync)."""
    flags = [torch.isfinite(t).all() for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def kept_checkpoint(run_dir: Path) -> str:
    """Where the last good checkpoint is, in words."""
    last = Path(run_dir) / "last"
    old = last.with_name("last.old")
    if (last / "manifest.json").is_file() or (old / "manifest.json").is_file():
        return f"the last good checkpoint is kept at {last}"
    return f"no checkpoint was saved yet ({last} does not exist)"


class NonFiniteGuard:
    """Watches the loss of each optimizer step: note(loss) per micro-batch, then step_ok(step, epoch)."""

    def __init__(self, mode: str, max_skips: int, run_dir: Path, info: DistInfo = DistInfo()):
        if mode not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite={mode!r}; choose one of {ON_NONFINITE}")
        self.mode, self.max_skips, self.run_dir, self.info = mode, max_skips, Path(run_dir), info
        self.bad_loss: float | None = None  # first non-finite loss of the current step
        self.consecutive = 0
        self.skipped = 0  # steps skipped in this run

    def note(self, loss: float) -> bool:
        """Record one micro-batch's loss; -> whether it is finite (count it in the averages)."""
        if math.isfinite(loss):
            return True
        if self.bad_loss is None:
            self.bad_loss = loss
        return False

    def step_ok(self, step: int, epoch: int) -> bool:
        """After the last micro-batch of optimizer step `step` (0-based): True to step, False to skip.
        Raises NonFiniteError in stop mode, or after max_skips consecutive skips."""
        bad, loss = self.bad_loss is not None, self.bad_loss
        self.bad_loss = None
        if self.info.distributed:  # every rank steps or skips: one rank's NaN poisons the all-reduced grads
            bad = all_reduce_sum([float(bad)], self.info)[0] > 0
        if not bad:
            self.consecutive = 0
            return True
        what = f"loss {loss}" if loss is not None else "the loss of another rank"
        where = f"step {step + 1} (epoch {epoch})"
        if self.mode == "stop":
            raise NonFiniteError(f"{what} is not finite at {where}; {kept_checkpoint(self.run_dir)}. "
                                 f"To continue: {FIXES}, then resume=auto; or on_nonfinite=skip")
        self.consecutive += 1
        self.skipped += 1
        if self.consecutive >= self.max_skips:
            raise NonFiniteError(f"{what} is not finite at {where}: {self.consecutive} consecutive steps "
                                 f"skipped (max_nonfinite_skips={self.max_skips}); "
                                 f"{kept_checkpoint(self.run_dir)}. To continue: {FIXES}, then resume=auto")
        log(f"skipping step {step + 1} (epoch {epoch}): {what} is not finite "
            f"({self.consecutive} in a row, {self.skipped} in this run; stop after {self.max_skips})",
            self.info.is_main)
        return False


def check_weights_before_save(model: nn.Module, dest: Path, step: int) -> None:
    """Refuse to write a checkpoint from non-finite weights (it would replace the last good one)."""
    if not weights_finite(model):
        raise NonFiniteError(f"the weights hold NaN/inf at step {step}: not saving {dest}; "
                             f"{kept_checkpoint(Path(dest).parent)}. To continue: {FIXES}, then resume=auto")
