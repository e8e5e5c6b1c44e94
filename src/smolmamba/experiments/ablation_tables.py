"""An ablate run's rows as typed records, summarised over their seeds, and the Markdown tables `ablate`
writes and `report` embeds. Rows are looked up by (study, key), never by their display label."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from smolmamba.experiments.stats import Interval, mean_interval, paired_difference

SPIKFORMER_REFERENCE = "spikformer_reference"  # the state study's peer, trained with the same recipe and seeds


@dataclass(frozen=True)
class AblationRow:
    """One measured setting at one seed: `key` is what code looks rows up by, `setting` the label shown."""

    study: str
    key: str
    setting: str
    top1: float
    energy_uj: float  # strict convention
    tokens_per_stage: tuple[int, ...]
    seed: int = 0
    energy_uj_paper: float | None = None
    scan_share_strict: float | None = None  # the scan's share of the strict energy (state study)
    extra: dict = field(default_factory=dict)  # study-specific figures (curves, learned weights, sizes, ...)

    def to_json(self) -> dict:
        typed = {"study": self.study, "key": self.key, "setting": self.setting, "top1": self.top1,
                 "energy_uj": self.energy_uj, "tokens_per_stage": list(self.tokens_per_stage), "seed": self.seed}
        optional = {k: v for k, v in (("energy_uj_paper", self.energy_uj_paper),
                                      ("scan_share_strict", self.scan_share_strict)) if v is not None}
        return {**typed, **optional, **self.extra}

    @classmethod
    def from_json(cls, data: dict, source: str = "ablations.json") -> AblationRow:
        if "key" not in data:
            raise ValueError(f"{source} has rows without a 'key' ({data.get('setting')!r}, ...): it was written by "
                             "an older smolmamba; rerun `smolmamba ablate` for a results file the report can read")
        named = ("study", "key", "setting", "top1", "energy_uj", "tokens_per_stage", "seed", "energy_uj_paper",
                 "scan_share_strict")
        return cls(data["study"], data["key"], data["setting"], data["top1"], data["energy_uj"],
                   tuple(data["tokens_per_stage"]), data.get("seed", 0), data.get("energy_uj_paper"),
                   data.get("scan_share_strict"), {k: v for k, v in data.items() if k not in named})


@dataclass(frozen=True)
class SettingSummary:
    """One setting of a study over its seeds; vs_first: the paired difference to the study's first setting."""

    study: str
    key: str
    setting: str
    seeds: int
    top1: float  # mean over the seeds
    top1_sd: float
    top1_interval: Interval
    energy_uj: float
    energy_uj_paper: float | None
    scan_share_strict: float | None
    tokens_per_stage: tuple[int, ...]
    first: bool  # the study's first setting, which the others are compared with
    vs_first: Interval | None  # None for the first, or with fewer than 2 seeds shared with it

    def interval_text(self) -> str:
        i = self.top1_interval
        return f"{i.lo:.2f} to {i.hi:.2f}" if i.n > 1 else "-"

    def vs_first_text(self) -> str:
        """'reference', '-', or '+1.23 (-0.50 to +2.96)': mean paired difference and its 95 % interval."""
        if self.first:
            return "reference"
        d = self.vs_first
        return "-" if d is None else f"{d.mean:+.2f} ({d.lo:+.2f} to {d.hi:+.2f})"


def _mean(values: list[float | None]) -> float | None:
    return None if None in values else statistics.fmean(values)


def top1_by_seed(rows: list[AblationRow]) -> dict[int, float]:
    return {r.seed: r.top1 for r in rows}


def seed_means(rows: list[AblationRow]) -> list[SettingSummary]:
    """One summary per setting key, in first-seen order (a study without repeated seeds gives n = 1)."""
    by_key: dict[str, list[AblationRow]] = {}
    for r in rows:
        by_key.setdefault(r.key, []).append(r)
    first = top1_by_seed(next(iter(by_key.values()), []))
    out = []
    for i, group in enumerate(by_key.values()):
        accs = [r.top1 for r in group]
        seeds = top1_by_seed(group)
        paired = paired_difference(seeds, first) if i > 0 and len(set(seeds) & set(first)) >= 2 else None
        head = group[0]
        out.append(SettingSummary(
            head.study, head.key, head.setting, len(group), statistics.fmean(accs),
            statistics.stdev(accs) if len(accs) > 1 else 0.0, mean_interval(accs),
            statistics.fmean(r.energy_uj for r in group), _mean([r.energy_uj_paper for r in group]),
            _mean([r.scan_share_strict for r in group]), head.tokens_per_stage, i == 0, paired))
    return out


def ablations_markdown(rows: list[AblationRow]) -> list[str]:
    """One table per study: each setting's seeds summarised, and its paired difference to the first."""
    lines = []
    for study in dict.fromkeys(r.study for r in rows):
        settings = seed_means([r for r in rows if r.study == study])
        lines += [f"### {study}", "", "| setting | top-1 % (mean ± sd, seeds) | 95 % interval | "
                  f"vs {settings[0].setting}, points (paired, 95 % interval) | energy µJ | tokens per stage |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r.setting} | {r.top1:.2f} ± {r.top1_sd:.2f} ({r.seeds}) | {r.interval_text()} | "
                  f"{r.vs_first_text()} | {r.energy_uj:.3f} | {list(r.tokens_per_stage)} |" for r in settings]
        lines.append("")
    return lines
