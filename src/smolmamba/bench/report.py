"""Bench results -> target checks and Markdown (bench.md, and the generated part of docs/PERFORMANCE.md)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from smolmamba.bench.float32_parts import bf16_bound, bf16_floor_ms
from smolmamba.bench.profile import COMPONENTS
from smolmamba.bench.plan import headline_batch, suite_models
from smolmamba.io import write_text_atomic

BEGIN, END = "<!-- smolmamba bench: begin -->", "<!-- smolmamba bench: end -->"


def _row(results: dict, model: str, batch: int, mode: str) -> dict | None:
    for r in results["rows"]:
        if r["model"] == model and r["batch"] == batch and r["mode"] == mode:
            return r
    return None


@dataclass(frozen=True)
class Target:
    """One performance target as measured: `key` is what code looks it up by, `target` the label shown."""

    key: str
    target: str
    measured: float | None
    threshold: str
    met: bool | None
    detail: str


def _target(key: str, name: str, measured: float | None, threshold: str, met: bool | None, detail: str) -> dict:
    return asdict(Target(key, name, measured, threshold, met, detail))


def evaluate_targets(results: dict) -> list[dict]:
    """Issue 8's targets, each from figures of this one run (None where the suite lacked the cases)."""
    quick = results["config"]["quick"]
    pruned, dense, naive = suite_models(quick)[:3]
    batch = headline_batch(quick)
    out = []
    p, d, n = (_row(results, m, batch, "inference") for m in (pruned, dense, naive))
    if p and d:
        measured = p["img_per_s"] / d["img_per_s"]
        predicted = results["ops"][dense] / results["ops"][pruned]
        out.append(_target(
            "pruned_vs_dense_share_of_prediction",
            f"pruned vs dense speed-up, share of the op-count prediction (batch {batch})",
            measured / predicted, ">= 0.90 (aim 0.95)", measured / predicted >= 0.9,
            f"measured {measured:.2f}x, op counts predict {predicted:.2f}x"))
        out.append(_target(
            "pruned_vs_dense_speedup", f"pruned vs dense absolute speed-up (batch {batch})", measured, "aim >= 1.5x",
            measured >= 1.5, f"{p['img_per_s']:.1f} vs {d['img_per_s']:.1f} img/s"))
    if p and n:
        cost = 1.0 - p["img_per_s"] / n["img_per_s"]
        out.append(_target(
            "alignment_cost", f"alignment cost vs naive pruning (batch {batch})", cost, "<= 0.03", cost <= 0.03,
            f"{p['img_per_s']:.1f} aligned vs {n['img_per_s']:.1f} naive img/s"))
    prof = results["profiles"].get(pruned)
    if prof:
        share = prof["pruner_share_of_block"]
        out.append(_target(
            "pruner_share", "pruner cost, share of a pruning block's time", share, "<= 0.05", share <= 0.05,
            f"{prof['pruner_ms_per_call']:.1f} ms per pruner call, "
            f"{prof['block_ms_mean']:.1f} ms per block (profiled, batch {prof['batch']})"))
    s, t = _row(results, "smolmamba_imagenet", 32, "inference"), _row(results, "spikformer_8_512", 32, "inference")
    if s and t:
        faster = s["img_per_s"] / t["img_per_s"]
        mem = (s["peak_mib"] / t["peak_mib"]) if s["peak_mib"] and t["peak_mib"] else None
        met = faster > 1.0 and (mem is None or mem < 1.0)
        out.append(_target(
            "imagenet_vs_spikformer", "smolmamba_imagenet vs spikformer_8_512 at batch 32: speed (memory)",
            faster,
            "> 1.0x, with less peak memory", met,
            f"{faster:.2f}x throughput, peak memory ratio "
            + (f"{mem:.2f}" if mem is not None else "not measured")))
    tp, td = _row(results, pruned, batch, "train"), _row(results, dense, batch, "train")
    if tp and td:
        speed = td["ms"] / tp["ms"]
        mem = td["peak_mib"] / tp["peak_mib"] if tp["peak_mib"] and td["peak_mib"] else None
        out.append(_target(
            "train_dense_vs_pruned", f"training step: dense / pruned time (batch {batch})", speed,
            "> 1.0 (and less memory)", speed > 1.0 and (mem is None or mem > 1.0),
            f"{tp['ms']:.0f} vs {td['ms']:.0f} ms per step; dense / pruned peak memory "
            + (f"{mem:.2f}x" if mem is not None else "not measured")))
    return out + lever_targets(results.get("levers"))


def lever_targets(levers: dict | None) -> list[dict]:
    """Per tiny model: the default training step >= 5x faster than the baseline kernels (issue 14), and the bf16
    path >= 2x faster than the float32 default (issue 29), each with the floor that bounds it."""
    out = []
    for model in dict.fromkeys(r["model"] for r in levers["rows"]) if levers else ():
        rows = {r["variant"]: r for r in levers["rows"] if r["model"] == model}
        if "default" in rows and "baseline" in rows:
            base, fast = rows["baseline"], rows["default"]
            speed = base["ms"] / fast["ms"]
            out.append(_target(
                f"train_step_speedup_{model}", f"training step, default vs baseline kernels: {model}", speed,
                ">= 5x", speed >= 5.0,
                f"{fast['ms']:.0f} vs {base['ms']:.0f} ms; the weight-layer floor ({base['layer_floor_ms']:.0f} ms) "
                f"allows at most {base['ms'] / base['layer_floor_ms']:.1f}x"))
        floors = levers.get("bf16_floors", {}).get(model)
        if "default" in rows and "bf16" in rows and floors:
            f32, bf16 = rows["default"], rows["bf16"]
            speed = f32["ms"] / bf16["ms"]
            floor = bf16_floor_ms(floors)
            layers = floors["float32_layer_floor_ms"] / floors["layer_floor_ms"]
            out.append(_target(
                f"bf16_step_speedup_{model}", f"training step, bf16 path vs float32 default: {model}", speed,
                ">= 2x", speed >= 2.0,
                f"{bf16['ms']:.0f} vs {f32['ms']:.0f} ms; the bf16 layer floor plus what stays float32 ({floor:.0f} "
                f"ms) allows at most {f32['ms'] / floor:.2f}x; the layers themselves gain {layers:.2f}x, so even with "
                f"all the rest twice as fast a bf16 path gives at most "
                f"{bf16_bound(f32['ms'], floors):.2f}x"))
    return out


def _fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def render_markdown(results: dict) -> str:
    """Machine, throughput/memory tables per group, training table, profile, targets."""
    m, c = results["machine"], results["config"]
    lines = [f"Measured by `smolmamba bench{' --quick' if c['quick'] else ''}` in {results['seconds']:.0f} s on "
             f"{m['processor']} ({m['cpu_count']} CPUs, {m['threads']} threads), {m.get('cuda_device', 'no GPU')}, "
             f"torch {m['torch']}, Python {m['python']}, device {c['device']}, {c['dtype']}; allocator tuned: "
             f"{m['allocator_tuned']}; load average {m['load_average_start'][0]:.2f} at start, "
             f"{m['load_average_end'][0]:.2f} at end. Every case: one warm-up, then {c['rounds']} timed calls "
             f"round-robin with the other models of its table; median reported. Peak memory: extra resident "
             f"memory of the first call, each case in a fresh process.", ""]
    groups = []
    for r in results["rows"]:
        key = (r["group"], r["mode"], r["batch"])
        if key not in groups:
            groups.append(key)
    for group, mode, batch in groups:
        rows = [r for r in results["rows"] if (r["group"], r["mode"], r["batch"]) == (group, mode, batch)]
        base = rows[1] if len(rows) > 1 else rows[0]  # the dense twin is listed second
        what = "inference throughput" if mode == "inference" else "training step (forward + backward + AdamW)"
        lines += [f"### {group}, {what}, batch {batch}", "",
                  "| model | ms per batch (min-max) | images/s | vs dense twin | peak MiB | op count (G/img) |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            ops = results["ops"].get(r["model"])
            lines.append(f"| {r['model']} | {r['ms']:.1f} ({r['ms_min']:.1f}-{r['ms_max']:.1f}) | "
                         f"{r['img_per_s']:.1f} | {r['img_per_s'] / base['img_per_s']:.2f}x | "
                         f"{_fmt(r['peak_mib'])} | {_fmt(ops / 1e9 if ops else None, '.3f')} |")
        lines.append("")
    if results.get("levers"):
        from smolmamba.bench.levers import levers_markdown

        lines += levers_markdown(results["levers"])
    for name, prof in results["profiles"].items():
        passes = ", ".join(f"{t:.0f}" for t in prof.get("totals_ms", [prof["total_ms"]]))
        lines += [f"### Where the time goes: {name}, inference, batch {prof['batch']} (torch.profiler, "
                  f"{prof['total_ms']:.0f} ms with profiler overhead; the median of passes of {passes} ms)", "",
                  "| component | ms | share |", "|---|---|---|"]
        for comp in COMPONENTS:
            lines.append(f"| {comp} | {prof['components'][comp]:.1f} | {100 * prof['share'][comp]:.1f} % |")
        lines.append("")
    lines += ["### Targets (ratios from this run)", "", "| target | measured | threshold | met | detail |",
              "|---|---|---|---|---|"]
    for t in results["targets"]:
        met = "yes" if t["met"] else "no"
        lines.append(f"| {t['target']} | {_fmt(t['measured'], '.3f')} | {t['threshold']} | {met} | {t['detail']} |")
    return "\n".join(lines) + "\n"


def update_doc(doc: Path, markdown: str, command: str) -> None:
    """Replace the generated part of `doc` (between the bench markers; appended if absent)."""
    block = f"{BEGIN}\n<!-- generated by `{command}`; edits inside these markers are overwritten -->\n\n" \
            f"{markdown}\n{END}"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Models: throughput, memory, training step, profile\n\n" + block + "\n"
    write_text_atomic(doc, text)
