"""Timing and peak-memory primitives for `smolmamba bench`.

Steps are closures: `inference_step` runs one forward under inference_mode, `train_step` one
forward + backward + AdamW step. `interleaved_times` runs several steps round-robin, so machine
noise hits every model alike and the ratios of one run stay meaningful.
Peak memory on CPU is process-wide (VmHWM), so it is measured in a fresh process per case
(`worker.py`); on CUDA it is torch.cuda.max_memory_allocated in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on CPU), so wall-clock time covers the step."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_for(device: torch.device, dtype: torch.dtype):
    """bf16/fp16 autocast (CPU or CUDA); float32 runs without a context."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def inference_step(model: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> Callable[[], None]:
    """One eval-mode forward of x under inference_mode."""
    model.eval()

    def step():
        with torch.inference_mode(), autocast_for(x.device, dtype):
            model(x)
    return step


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype = torch.float32,
               lr: float = 1e-3, fused: bool = True) -> Callable[[], None]:
    """One train-mode forward + cross-entropy backward + AdamW step (fused, as training, or the
    per-parameter loop)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, fused=fused)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast_for(x.device, dtype):
            loss = F.cross_entropy(model(x).float(), y)  # the loss in float32, as training computes it
        loss.backward()
        optimizer.step()
    return step


def interleaved_times(steps: dict[str, Callable[[], None]], device: torch.device, rounds: int,
                      warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each step, `rounds` calls each, run round-robin after `warmup` calls."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def median_ms(times: dict[str, list[float]]) -> dict[str, float]:
    """interleaved_times' seconds -> the median of each in milliseconds."""
    return {name: statistics.median(seconds) * 1e3 for name, seconds in times.items()}


def script_args(doc: str, rounds: int, out: str) -> argparse.Namespace:
    """A benchmark script's options --rounds, --threads (torch's CPU threads, set here) and --out (its JSON), with
    the first line of its docstring `doc` as description."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=out)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def write_rows_json(path: str | Path, threads: int, rows: list[dict]) -> Path:
    """A benchmark script's rows as JSON at `path` (folders made), with torch's version and the thread count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"torch": torch.__version__, "threads": threads, "rows": rows}, indent=2) + "\n")
    return path


def summarise_times(seconds: list[float], batch: int) -> dict:
    """Median milliseconds, spread and images per second of one step's timings."""
    med = statistics.median(seconds)
    return {"ms": med * 1e3, "ms_min": min(seconds) * 1e3, "ms_max": max(seconds) * 1e3,
            "runs": len(seconds), "img_per_s": batch / med}


def sgemm_gflops(device: torch.device, size: int = 1024, rounds: int = 5) -> float:
    """Measured float32 matrix-multiply rate (GFLOP/s) at size^3: the arithmetic floor's divisor."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


# ----------------------------------------------------------------------------- CPU peak memory
def _status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise OSError(f"/proc/self/status has no {key} line")


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark of this process (Linux: write 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def cpu_peak_extra_mib(step: Callable[[], None]) -> float:
    """Resident memory the first call of `step` adds at its peak (MiB), over what exists before it."""
    reset_peak_rss()
    before = _status_mib("VmRSS")
    step()
    return _status_mib("VmHWM") - before


def cuda_peak_extra_mib(step: Callable[[], None], device: torch.device) -> float:
    """Peak CUDA memory the first call of `step` allocates (MiB), over what exists before it."""
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step()
    synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20
