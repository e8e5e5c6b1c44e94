"""The training-step speed levers of the tiny models: each alone against the plain-torch baseline.

Per model and variant (bench/cases.py VARIANTS): the step time (timed round-robin in one fresh
process), the aten operators one step dispatches, and the arithmetic floor: 3 x 2 x dense MACs per
image x batch / the measured sgemm rate (forward + backward ~ 3 forwards; what the step would take
if it ran at matrix-multiply speed), and the weight-layer floor (bench/layer_floor.py: the model's own
Linear/Conv calls timed alone at their shapes), whose ratio to the baseline caps any speed-up of the rest.
"""

from __future__ import annotations

import json
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from smolmamba.bench.cases import VARIANTS, Case, build_step
from smolmamba.bench.layer_floor import layer_floor
from smolmamba.bench.measure import sgemm_gflops, summarise_times

LEVER_BATCH = 32  # the training batch of the embedded-data recipe


class _OpCounter(TorchDispatchMode):
    """Counts every aten operator dispatched while active."""

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def ops_per_step(case: Case) -> int:
    """aten operators one training step of `case` dispatches (after one warm-up step)."""
    step = build_step(case)
    step()
    with _OpCounter() as counter:
        step()
    return sum(counter.calls.values())


def run_levers(models, cfg, ops: dict, run_worker, log) -> dict:
    """-> {"rows": [...], "sgemm_gflops": g, "layer_floors": {model: ...}}: every (model, variant) timed,
    with op calls and both floors."""
    torch.set_num_threads(cfg.threads)
    gflops = sgemm_gflops(torch.device(cfg.device))
    cases = [Case(m, LEVER_BATCH, "train", cfg.device, cfg.dtype, variant=v) for m in models for v in VARIANTS]
    payload = json.dumps([c.as_dict() for c in cases])
    seconds = run_worker(["time", payload, str(cfg.threads), str(cfg.rounds)])["seconds"]
    floors = {m: layer_floor(Case(m, LEVER_BATCH, "train", cfg.device, cfg.dtype, variant="baseline"), cfg.rounds)
              for m in models}
    rows = []
    for case in cases:
        floor_ms = 3 * 2 * ops[case.model] * LEVER_BATCH / (gflops * 1e9) * 1e3
        row = {"group": "levers", **case.as_dict(), **summarise_times(seconds[case.key], LEVER_BATCH),
               "aten_ops_per_step": ops_per_step(case), "floor_ms": floor_ms,
               "layer_floor_ms": floors[case.model]["floor_ms"]}
        rows.append(row)
        log(f"  levers {case.model:24s} {case.variant:12s} {row['ms']:8.1f} ms  {row['aten_ops_per_step']:6d} ops"
            f"  floor {floor_ms:.1f} ms, layer floor {row['layer_floor_ms']:.1f} ms")
    return {"rows": rows, "sgemm_gflops": gflops, "layer_floors": floors}


def levers_markdown(levers: dict) -> list[str]:
    """The levers table: per model, each variant's time, speed-up over the baseline, ops and floor."""
    lines = [f"### Training-step levers, tiny models, batch {LEVER_BATCH} (sgemm {levers['sgemm_gflops']:.0f} "
             f"GFLOP/s measured)", "",
             "| model | variant | ms per step (min-max) | images/s | vs baseline | aten ops per step | "
             "arithmetic floor ms | time / floor | layer floor ms | time / layer floor |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in levers["rows"]:
        base = next(b for b in levers["rows"] if b["model"] == r["model"] and b["variant"] == "baseline")
        lines.append(f"| {r['model']} | {r['variant']} | {r['ms']:.1f} ({r['ms_min']:.1f}-{r['ms_max']:.1f}) | "
                     f"{r['img_per_s']:.1f} | {base['ms'] / r['ms']:.2f}x | {r['aten_ops_per_step']} | "
                     f"{r['floor_ms']:.1f} | {r['ms'] / r['floor_ms']:.0f}x | {r['layer_floor_ms']:.1f} | "
                     f"{r['ms'] / r['layer_floor_ms']:.1f}x |")
    return lines + ["", "Layer floor: the model's Linear/Conv calls of one step, each timed alone at its input "
                    "shape (forward + backward) and summed; a baseline's time / layer floor is the most a "
                    "speed-up of everything else (LIF, norms, scan, optimizer) can give.", ""]
