"""An ablate run's rows (dicts of ablations.json, looked up by study and key) summarised over their seeds,
and the Markdown tables `ablate` writes and `report` embeds."""

from __future__ import annotations

import statistics

from smolmamba.experiments.stats import mean_interval, paired_difference

AVERAGED = ("energy_uj", "energy_uj_paper", "scan_share_strict")  # per-seed figures seed_means averages
SPIKFORMER_REFERENCE = "spikformer_reference"  # the state study's peer, trained with the same recipe and seeds


def seed_means(rows: list[dict]) -> list[dict]:
    """One row per setting key, in first-seen order: top-1 mean, sd and 95 % interval over its seeds,
    the means of the AVERAGED figures (a study without repeated seeds gives n = 1, no interval), and
    `vs_first`: the paired per-seed difference to the study's first setting with its interval."""
    by_key: dict[str, list[dict]] = {}
    for r in rows:
        by_key.setdefault(r["key"], []).append(r)
    first = top1_by_seed(next(iter(by_key.values()), []))
    out = []
    for i, group in enumerate(by_key.values()):
        top1 = mean_interval([r["top1"] for r in group])
        sd = statistics.stdev(r["top1"] for r in group) if len(group) > 1 else 0.0
        paired = "reference" if i == 0 else paired_text(top1_by_seed(group), first)
        means = {k: sum(r[k] for r in group) / len(group) for k in AVERAGED if k in group[0]}
        out.append({**group[0], **means, "top1": top1.mean, "top1_sd": sd, "seeds": len(group),
                    "interval": f"{top1.lo:.2f} to {top1.hi:.2f}" if top1.n > 1 else "-",
                    "vs_first": paired})
    return out


def top1_by_seed(rows: list[dict]) -> dict[int, float]:
    """seed -> top-1 of one setting's rows (a row without a seed is seed 0)."""
    return {r.get("seed", 0): r["top1"] for r in rows}


def paired_text(a: dict[int, float], b: dict[int, float]) -> str:
    """'+1.23 (-0.50 to +2.96)': mean paired difference a - b and its 95 % interval; '-' under 2 seeds."""
    if len(set(a) & set(b)) < 2:
        return "-"
    d = paired_difference(a, b)
    return f"{d.mean:+.2f} ({d.lo:+.2f} to {d.hi:+.2f})"


def ablations_markdown(rows: list[dict]) -> list[str]:
    """One table per study: each setting's seeds summarised, and its paired difference to the first."""
    lines = []
    for study in dict.fromkeys(r["study"] for r in rows):
        settings = seed_means([r for r in rows if r["study"] == study])
        lines += [f"### {study}", "", "| setting | top-1 % (mean ± sd, seeds) | 95 % interval | "
                  f"vs {settings[0]['setting']}, points (paired, 95 % interval) | energy µJ | tokens per stage |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['setting']} | {r['top1']:.2f} ± {r['top1_sd']:.2f} ({r['seeds']}) | {r['interval']} | "
                  f"{r['vs_first']} | {r['energy_uj']:.3f} | {r['tokens_per_stage']} |" for r in settings]
        lines.append("")
    return lines
