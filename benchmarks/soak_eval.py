"""Memory soak: evaluate a long stream of small batches, plain and with an EnergyMeter attached, and
check that RSS stays flat (growth after warm-up < 5 %): no leak from hooks or spike recorders.

    OMP_NUM_THREADS=1 python benchmarks/soak_eval.py --batches 10000 --batch-size 2

Prints a table and writes benchmarks/out/soak_eval.json. RSS is VmRSS of /proc/self/status (Linux).
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from pathlib import Path

import torch

from smolmamba.energy import EnergyMeter
from smolmamba.models import create_model


def rss_mib() -> float:
    """Resident set size of this process in MiB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def soak(mode: str, batches: int, batch_size: int = 2, warmup: int = 200, model_name: str = "smolmamba_tiny",
         samples: int = 20, seed: int = 0, **overrides) -> dict:
    """Run `batches` eval forwards (mode "plain" or "energy"); -> RSS after warm-up, at the end, growth %."""
    if mode not in ("plain", "energy"):
        raise ValueError(f"mode={mode!r}; expected 'plain' or 'energy'")
    torch.manual_seed(seed)
    model = create_model(model_name, **overrides).eval()
    inp = model.cfg.input
    c, s = inp.in_chans, inp.img_size
    shape = (batch_size, inp.time_steps, 2, s, s) if inp.events else (batch_size, c, s, s)
    meter = EnergyMeter(model) if mode == "energy" else None
    trace = []
    start = time.perf_counter()
    with torch.no_grad(), (meter if meter is not None else torch.no_grad()):
        for i in range(warmup + batches):
            model(torch.rand(shape))  # a fresh batch each time, as a data loader gives
            done = i + 1 - warmup
            if done == 0 or (done > 0 and done % max(1, batches // samples) == 0):
                gc.collect()
                trace.append((done, rss_mib()))
    elapsed = time.perf_counter() - start
    base, end = trace[0][1], trace[-1][1]
    out = {"mode": mode, "model": model_name, "overrides": overrides, "batches": batches,
           "batch_size": batch_size, "warmup": warmup,
           "rss_after_warmup_mib": base, "rss_end_mib": end, "rss_max_mib": max(r for _, r in trace),
           "growth_pct": 100.0 * (end - base) / base, "seconds": elapsed, "trace": trace}
    if meter is not None:
        out["energy_images"] = meter.report("strict").images
    return out


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--model", default="smolmamba_tiny")
    p.add_argument("--json", default=str(Path(__file__).parent / "out" / "soak_eval.json"))
    args = p.parse_args(argv)
    rows = [soak(mode, args.batches, args.batch_size, args.warmup, args.model) for mode in ("plain", "energy")]
    print(f"{'mode':8s} {'batches':>8s} {'RSS warm MiB':>13s} {'RSS end MiB':>12s} {'max MiB':>8s} "
          f"{'growth %':>9s} {'s':>7s}")
    for r in rows:
        print(f"{r['mode']:8s} {r['batches']:8d} {r['rss_after_warmup_mib']:13.1f} {r['rss_end_mib']:12.1f} "
              f"{r['rss_max_mib']:8.1f} {r['growth_pct']:9.2f} {r['seconds']:7.1f}")
    from smolmamba.io import write_json_atomic

    write_json_atomic(args.json, {"rows": rows, "torch": torch.__version__, "python": platform.python_version(),
                                  "threads": torch.get_num_threads()})
    print(f"wrote {args.json}")
    return rows


if __name__ == "__main__":
    main()
