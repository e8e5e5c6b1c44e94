"""Two compare runs of the same protocol, set against each other seed by seed: `smolmamba paired BASE OTHER`.

For every (data set, role) both ran, OTHER's test top-1 minus BASE's on the seeds both have (each seed shares
its initialisation and data order, so the difference is paired) with its 95 % Student-t interval, and the
training-time ratio; then every shared (data set, role, seed) pooled, the average effect over the models.
"Not worse by more than `margin` points" holds when the whole interval lies above -margin. Made for the bf16
check (issue 29: bf16 vs float32 training, same seeds, same lr).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from smolmamba.experiments.records import CompareResults
from smolmamba.experiments.stats import Interval, paired_difference


@dataclass(frozen=True)
class PairedRow:
    """OTHER - BASE for one (data set, role) over their shared seeds."""

    dataset: str
    role: str
    base_top1: tuple[float, ...]  # per shared seed, in seed order
    other_top1: tuple[float, ...]
    difference: Interval
    train_s_ratio: float  # OTHER's mean training time / BASE's

    def not_worse_by(self, margin: float) -> str:
        """'held' when the interval lies above -margin, 'not held' when below, else 'not resolved'."""
        if self.difference.n < 2:
            return "not resolved"
        if self.difference.lo > -margin:
            return "held"
        return "not held" if self.difference.hi < -margin else "not resolved"


def paired_rows(base: CompareResults, other: CompareResults) -> list[PairedRow]:
    """One PairedRow per (data set, role) both folders ran, in BASE's order."""
    def by_key(results: CompareResults) -> dict[tuple[str, str], dict[int, tuple[float, float]]]:
        out: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
        for run in results.runs:
            out.setdefault((run.dataset, run.role), {})[run.seed] = (run.top1, run.train_s)
        return out

    a, b = by_key(base), by_key(other)
    rows = []
    for key in (k for k in a if k in b):
        seeds = sorted(set(a[key]) & set(b[key]))
        if not seeds:
            continue
        top_a, top_b = ({s: runs[s][0] for s in seeds} for runs in (a[key], b[key]))
        time_a, time_b = (statistics.fmean(runs[s][1] for s in seeds) for runs in (a[key], b[key]))
        rows.append(PairedRow(key[0], key[1], tuple(top_a.values()), tuple(top_b.values()),
                              paired_difference(top_b, top_a), time_b / time_a if time_a else float("nan")))
    if not rows:
        raise ValueError("the two compare folders share no (data set, model, seed) run; pair runs of the same "
                         "protocol, e.g. `compare --lr-from BASE --amp bf16` against BASE")
    return rows


def pooled(rows: list[PairedRow]) -> PairedRow:
    """Every pair of `rows` in one interval (data set and role "all"): the average effect over the models."""
    base = tuple(v for r in rows for v in r.base_top1)
    other = tuple(v for r in rows for v in r.other_top1)
    difference = paired_difference(dict(enumerate(other)), dict(enumerate(base)))
    return PairedRow("all", "all", base, other, difference, statistics.fmean(r.train_s_ratio for r in rows))


def paired_markdown(base: Path, other: Path, margin: float = 0.5) -> str:
    """The paired table of OTHER against BASE (folders written by `smolmamba compare`)."""
    rows = paired_rows(CompareResults.read(base), CompareResults.read(other))
    lines = [f"Paired per seed: `{other}` minus `{base}` (test top-1, points; 95 % Student-t interval over the shared "
             f"seeds; the last row pools every pair). 'Not worse by more than {margin:g}' holds when the whole interval "
             f"lies above -{margin:g}.", "",
             "| data set | model | base top-1 per seed | other top-1 per seed | difference [95 % interval] | "
             f"not worse by more than {margin:g} | training time other / base |",
             "|---|---|---|---|---|---|---|"]
    for r in rows + [pooled(rows)]:
        d = r.difference
        values = (f"{statistics.fmean(r.base_top1):.2f} (mean of {d.n})", f"{statistics.fmean(r.other_top1):.2f}") \
            if r.role == "all" else (" / ".join(f"{v:.2f}" for v in top1) for top1 in (r.base_top1, r.other_top1))
        lines.append(f"| {r.dataset} | {r.role} | {' | '.join(values)} | {d.mean:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}] | "
                     f"{r.not_worse_by(margin)} | {r.train_s_ratio:.2f} |")
    return "\n".join(lines) + "\n"
