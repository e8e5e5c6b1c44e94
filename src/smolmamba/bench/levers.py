"""The training-step speed levers of the tiny models: each alone against the plain-torch baseline and the
float32 default, and the bf16 path (precision.py) with each of its levers switched alone.

Per model and variant (bench/cases.py VARIANTS): the step time (timed round-robin in one fresh
process), the aten operators one step dispatches, and the arithmetic floor: 3 x 2 x dense MACs per
image x batch / the measured sgemm rate (forward + backward ~ 3 forwards; what the step would take
if it ran at matrix-multiply speed), and the weight-layer floor (bench/layer_floor.py: the model's own
Linear/Conv calls timed alone at their shapes), whose ratio to the baseline caps any speed-up of the rest.
Per model also the bf16 floor: the bf16 weight-layer floor plus what the bf16 step still spends in float32
(bench/float32_parts.py), and, for the CIFAR models, the float32 default against the bf16 path.
"""

from __future__ import annotations

import json
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from smolmamba.bench.cases import VARIANTS, Case, build_step
from smolmamba.bench.float32_parts import bf16_bound, bf16_floor_ms, float32_parts
from smolmamba.bench.layer_floor import layer_floor, paired_layer_floors
from smolmamba.bench.measure import sgemm_gflops, summarise_times

LEVER_BATCH = 32  # the training batch of the embedded-data recipe
CIFAR_BATCH = 16  # the smaller training batch of the CIFAR table (bench/suite.py)


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


def run_levers(models, cfg, ops: dict, run_worker, log, cifar_models=()) -> dict:
    """-> {"rows": [...], "sgemm_gflops": g, "layer_floors": {model: ...}, "bf16_floors": {model: ...},
    "cifar_rows": [...]}: every (model, variant) timed, with op calls and the floors; the CIFAR models' float32
    default against the bf16 path."""
    torch.set_num_threads(cfg.threads)
    gflops = sgemm_gflops(torch.device(cfg.device))
    cases = [Case(m, LEVER_BATCH, "train", cfg.device, cfg.dtype, variant=v) for m in models for v in VARIANTS]
    payload = json.dumps([c.as_dict() for c in cases])
    seconds = run_worker(["time", payload, str(cfg.threads), str(cfg.rounds)])["seconds"]
    floors = {m: layer_floor(Case(m, LEVER_BATCH, "train", cfg.device, cfg.dtype, variant="baseline"), cfg.rounds)
              for m in models}
    bf16_floors = {}
    for m in models:
        bf16 = Case(m, LEVER_BATCH, "train", cfg.device, cfg.dtype, variant="bf16")
        paired = paired_layer_floors(bf16, cfg.rounds)
        bf16_floors[m] = {"layer_floor_ms": paired["low_ms"], "float32_layer_floor_ms": paired["float32_ms"],
                          **float32_parts(bf16)}
    rows = []
    for case in cases:
        floor_ms = 3 * 2 * ops[case.model] * LEVER_BATCH / (gflops * 1e9) * 1e3
        row = {"group": "levers", **case.as_dict(), **summarise_times(seconds[case.key], LEVER_BATCH),
               "aten_ops_per_step": ops_per_step(case), "floor_ms": floor_ms,
               "layer_floor_ms": floors[case.model]["floor_ms"]}
        rows.append(row)
        log(f"  levers {case.model:24s} {case.variant:22s} {row['ms']:8.1f} ms  {row['aten_ops_per_step']:6d} ops"
            f"  floor {floor_ms:.1f} ms, layer floor {row['layer_floor_ms']:.1f} ms")
    cifar_cases = [Case(m, CIFAR_BATCH, "train", cfg.device, cfg.dtype, variant=v)
                   for m in cifar_models for v in ("default", "bf16")]
    cifar_rows = []
    if cifar_cases:
        cifar_seconds = run_worker(["time", json.dumps([c.as_dict() for c in cifar_cases]), str(cfg.threads),
                                    str(cfg.rounds)])["seconds"]
        cifar_rows = [{**c.as_dict(), **summarise_times(cifar_seconds[c.key], CIFAR_BATCH)} for c in cifar_cases]
    return {"rows": rows, "sgemm_gflops": gflops, "layer_floors": floors, "bf16_floors": bf16_floors,
            "cifar_rows": cifar_rows}


def _row(rows: list[dict], model: str, variant: str) -> dict:
    return next(r for r in rows if r["model"] == model and r["variant"] == variant)


def levers_markdown(levers: dict) -> list[str]:
    """The levers table (per model, each variant's time, speed-up over the baseline and over the float32 default,
    ops and floors), the bf16 floor table and the CIFAR models' float32 vs bf16 table."""
    lines = [f"### Training-step levers, tiny models, batch {LEVER_BATCH} (sgemm {levers['sgemm_gflops']:.0f} "
             f"GFLOP/s measured)", "",
             "| model | variant | ms per step (min-max) | images/s | vs baseline | vs float32 default | "
             "aten ops per step | arithmetic floor ms | time / floor | layer floor ms | time / layer floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in levers["rows"]:
        base, default = _row(levers["rows"], r["model"], "baseline"), _row(levers["rows"], r["model"], "default")
        lines.append(f"| {r['model']} | {r['variant']} | {r['ms']:.1f} ({r['ms_min']:.1f}-{r['ms_max']:.1f}) | "
                     f"{r['img_per_s']:.1f} | {base['ms'] / r['ms']:.2f}x | {default['ms'] / r['ms']:.2f}x | "
                     f"{r['aten_ops_per_step']} | {r['floor_ms']:.1f} | {r['ms'] / r['floor_ms']:.0f}x | "
                     f"{r['layer_floor_ms']:.1f} | {r['ms'] / r['layer_floor_ms']:.1f}x |")
    lines += ["", "Layer floor: the model's Linear/Conv calls of one step, each timed alone at its input "
              "shape (forward + backward) and summed; a baseline's time / layer floor is the most a "
              "speed-up of everything else (LIF, norms, scan, optimizer) can give.", ""]
    lines += _bf16_floor_table(levers)
    if levers.get("cifar_rows"):
        lines += [f"### CIFAR models: float32 default vs the bf16 path, training step, batch {CIFAR_BATCH}", "",
                  "| model | float32 ms | bf16 ms | bf16 speed-up |", "|---|---|---|---|"]
        for model in dict.fromkeys(r["model"] for r in levers["cifar_rows"]):
            f32, bf16 = _row(levers["cifar_rows"], model, "default"), _row(levers["cifar_rows"], model, "bf16")
            lines.append(f"| {model} | {f32['ms']:.0f} | {bf16['ms']:.0f} | {f32['ms'] / bf16['ms']:.2f}x |")
        lines.append("")
    return lines


def _bf16_floor_table(levers: dict) -> list[str]:
    """Per model: the bf16 step, its weight-layer floor, what stays float32, and the speed-up that floor allows."""
    if not levers.get("bf16_floors"):
        return []
    lines = ["### The bf16 path's floor", "",
             "| model | float32 default ms | bf16 ms | speed-up | bf16 layer floor ms | scan ms | LIF ms | "
             "norms ms | optimizer ms | casts ms | floor ms | most speed-up the floor allows | float32 layer floor ms "
             "| the layers' own bf16 speed-up | most speed-up if all the rest halves |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, f in levers["bf16_floors"].items():
        default, bf16 = _row(levers["rows"], model, "default"), _row(levers["rows"], model, "bf16")
        floor = bf16_floor_ms(f)
        lines.append(f"| {model} | {default['ms']:.1f} | {bf16['ms']:.1f} | {default['ms'] / bf16['ms']:.2f}x | "
                     f"{f['layer_floor_ms']:.1f} | {f['scan']:.1f} | {f['lif']:.1f} | {f['norms']:.1f} | "
                     f"{f['optimizer']:.1f} | {f['casts']:.1f} | {floor:.1f} | {default['ms'] / floor:.2f}x | "
                     f"{f['float32_layer_floor_ms']:.1f} | {f['float32_layer_floor_ms'] / f['layer_floor_ms']:.2f}x | "
                     f"{bf16_bound(default['ms'], f):.2f}x |")
    return lines + ["", "The scan, LIF, norm, optimizer and cast times are self times in one profiled bf16 step "
                    "(bench/float32_parts.py); the floor is the bf16 layer floor plus the parts that stay float32 "
                    "by design (casts excluded: a better path could avoid them). The two layer floors of this table "
                    "are timed in pairs, each call in float32 and in bf16 alternately. The last column bounds any bf16 "
                    "path from the float32 side instead: the layers at their bf16 floor, the scan and LIF as they "
                    "are (float32 arithmetic), and everything else twice as fast, the most halving its bytes can "
                    "give (float32_parts.bf16_bound). With the layers' own speed-up below 2x, no path reaches 2x.",
                    ""]
