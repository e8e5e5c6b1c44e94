"""Per-epoch metrics: <run>/metrics.csv always, <run>/tb (TensorBoard) when tensorboard is installed."""

from __future__ import annotations

import csv
from pathlib import Path

from smolmamba.io import write_csv_atomic

COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_top1", "test_top5",
           "val_loss", "val_top1", "val_top5", "ema_top1", "ema_top5", "best_top1", "epoch_s", "train_img_s",
           "skipped_steps")  # test_* or val_* (with val_fraction > 0); best_top1 is on that split


def log(msg: str, enabled: bool = True) -> None:
    if enabled:
        print(msg, flush=True)


class MetricsLogger:
    """Append one row per epoch; on resume, rows of the resumed epoch and later are dropped first; a fresh
    run (resumed_epoch None) in a folder that holds an earlier run's metrics.csv starts it anew."""

    def __init__(self, run_dir: Path, resumed_epoch: int | None = None, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.csv"
        if self.path.exists():
            if resumed_epoch is None:
                log(f"a fresh run in {run_dir}: the earlier run's metrics.csv is replaced "
                    f"(resume=auto would have continued it)")
            self._truncate(resumed_epoch or 0)
        self.writer = self._tensorboard(run_dir) if tensorboard else None

    @staticmethod
    def _tensorboard(run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log("tensorboard is not installed: logging to metrics.csv only (pip install tensorboard)")
            return None
        return SummaryWriter(str(Path(run_dir) / "tb"))

    def _truncate(self, resumed_epoch: int) -> None:
        with open(self.path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < resumed_epoch]
        write_csv_atomic(self.path, rows, COLUMNS)  # a kill here keeps the old rows, not half of them

    def write(self, row: dict) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            if new:
                w.writeheader()
            w.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, row["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _fmt(v) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def summary(row: dict) -> str:
    """One line per epoch: train loss and accuracy, test or val loss and top-1 (EMA), seconds."""
    text = (f"epoch {row['epoch']} step {row['step']}: train loss {row['train_loss']:.4f} "
            f"acc {row['train_acc']:.2f}% ({row['train_img_s']:.0f} img/s)")
    for split in ("test", "val"):
        if f"{split}_top1" in row:
            text += f", {split} loss {row[f'{split}_loss']:.4f} top-1 {row[f'{split}_top1']:.2f}%"
    if row.get("ema_top1") is not None:
        text += f" (ema {row['ema_top1']:.2f}%)"
    return text + f", {row['epoch_s']:.1f} s"
