"""The `smolmamba bench` suite: which models, batches and modes; runs them; writes JSON and Markdown.

Groups of cases that are compared with each other (same input size, batch and mode) are timed in
one fresh process, round-robin (`interleaved_times`); each case's peak memory comes from another
fresh process (`worker.py`). The profile runs last, in this process.
Operation counts (EnergyMeter's dense totals) give the speed-up the pruning should buy.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from smolmamba.bench.cases import Case, build_inputs
from smolmamba.bench.measure import summarise_times
from smolmamba.bench.plan import CIFAR, IMAGENET, QUICK, headline_batch, suite_models
from smolmamba.bench.profile import component_breakdown
from smolmamba.bench.report import evaluate_targets, render_markdown
from smolmamba.io import write_json_atomic, write_text_atomic
from smolmamba.runtime import tune_cpu_allocator


@dataclass
class BenchConfig:
    """What to run. `quick` swaps in the tiny models and small batches (a smoke run for tests and CI)."""

    quick: bool = False
    device: str = "cpu"
    dtype: str = "float32"  # on CUDA the default becomes bfloat16 autocast (see resolved())
    threads: int = 2
    rounds: int = 5  # timed calls per case (median reported), after one warm-up
    imagenet: bool = True
    train: bool = True
    profile: bool = True
    memory: bool = True
    levers_only: bool = False  # only the training-step levers of the tiny models (bench/levers.py)
    groups: list = field(default_factory=list)  # filled by resolved()

    def resolved(self) -> "BenchConfig":
        """Fill in the groups: (label, models, batch, mode)."""
        if self.device.startswith("cuda") and self.dtype == "float32":
            self.dtype = "bfloat16"
        if self.levers_only:
            self.groups, self.profile, self.train = [], False, True
            return self
        if self.quick:
            batch = headline_batch(True)
            self.groups = [("tiny", QUICK, b, "inference") for b in (1, batch)]
            self.groups += [("tiny", QUICK, batch, "train")] if self.train else []
            return self
        groups = [("cifar", CIFAR, b, "inference") for b in (1, 16, 64)]
        if self.imagenet:
            groups += [("imagenet", IMAGENET, b, "inference") for b in (8, 32)]
        if self.train:
            groups += [("cifar", CIFAR[:4], b, "train") for b in (16, 64)]
            if self.imagenet:
                groups += [("imagenet", IMAGENET, 8, "train")]
        self.groups = groups
        return self


def machine_info(threads: int) -> dict:
    """Where and with what the figures were measured."""
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "processor": _cpu_name(), "cpu_count": os.cpu_count(), "threads": threads,
            "allocator_tuned": tune_cpu_allocator(), "load_average_start": os.getloadavg()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def dense_ops_per_image(model_name: str) -> float:
    """Operations per image if every input were active (EnergyMeter's dense total, strict): what a
    CPU or GPU executes, since dense kernels skip no zero spike."""
    from smolmamba.energy import EnergyMeter

    model, x, _ = build_inputs(Case(model_name, 2))
    model.eval()
    with EnergyMeter(model) as meter, torch.inference_mode():
        model(x)
    return meter.report("strict").totals["dense"]


def run_worker(args: list[str]) -> dict:
    """Run `python -m smolmamba.bench.worker ARGS` and parse its JSON line."""
    cmd = [sys.executable, "-m", "smolmamba.bench.worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"bench worker {args[0]} failed (exit {out.returncode}; -9 is usually out of memory): "
                           f"{out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_group(label: str, models, batch: int, mode: str, cfg: BenchConfig, log) -> list[dict]:
    """Time `models` round-robin at one batch and mode in a fresh process; then each one's peak memory,
    one fresh process per case (one process at a time: the machine holds a single big heap)."""
    cases = [Case(m, batch, mode, cfg.device, cfg.dtype) for m in models]
    payload = json.dumps([c.as_dict() for c in cases])
    seconds = run_worker(["time", payload, str(cfg.threads), str(cfg.rounds)])["seconds"]
    rows = []
    for case in cases:
        row = {"group": label, **case.as_dict(), **summarise_times(seconds[case.model], batch)}
        row["peak_mib"] = (run_worker(["memory", json.dumps(case.as_dict()), str(cfg.threads)])["peak_mib"]
                           if cfg.memory else None)
        rows.append(row)
        log(f"  {mode:9s} {label:8s} batch {batch:3d} {case.model:24s} {row['ms']:9.1f} ms "
            f"{row['img_per_s']:8.1f} img/s" + (f" {row['peak_mib']:8.1f} MiB" if row["peak_mib"] is not None else ""))
    return rows


def run_bench(cfg: BenchConfig, out_dir: Path, log=print) -> dict:
    """Run the suite; write bench.json and bench.md into out_dir; return the results."""
    cfg = cfg.resolved()
    torch.set_num_threads(cfg.threads)
    started = time.time()
    results = {"config": {k: v for k, v in asdict(cfg).items() if k != "groups"},
               "machine": machine_info(cfg.threads), "rows": [], "ops": {}, "profiles": {}}
    models = sorted({m for _, ms, _, _ in cfg.groups for m in ms})
    results["ops"] = {m: dense_ops_per_image(m) for m in models}
    for label, group_models, batch, mode in cfg.groups:
        results["rows"] += run_group(label, group_models, batch, mode, cfg, log)
    if cfg.train and cfg.device == "cpu" and (cfg.levers_only or not cfg.quick):  # numba: CPU kernels
        from smolmamba.bench.levers import run_levers

        ops = {m: results["ops"].get(m) or dense_ops_per_image(m) for m in QUICK}
        results["levers"] = run_levers(QUICK, cfg, ops, run_worker, log, cifar_models=CIFAR[:4])
    if cfg.profile and cfg.device == "cpu":  # CPU-side ranges: on a GPU they would time kernel launches
        prof_batch = headline_batch(cfg.quick)
        for m in suite_models(cfg.quick)[:2]:
            model, x, _ = build_inputs(Case(m, prof_batch, "inference", cfg.device, cfg.dtype))
            results["profiles"][m] = {"batch": prof_batch, **component_breakdown(model, x)}
            log(f"  profile {m}: {results['profiles'][m]['total_ms']:.1f} ms")
    results["machine"]["load_average_end"] = os.getloadavg()
    results["seconds"] = time.time() - started
    results["targets"] = evaluate_targets(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "bench.json", results)
    write_text_atomic(out_dir / "bench.md", render_markdown(results))
    return results
