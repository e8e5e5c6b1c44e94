"""The papers' testable claims set beside what `compare` and `ablate` measured, each with its verdict and
what limits it (too wide an interval, models measured before their plateau).

Sources: Vision SmolMamba (arXiv 2604.25570) claims >= 1.5x lower energy than the spiking Transformer and
a Spiking Mamba variant at equal or better accuracy; "Exploring Token Pruning in Vision State Space
Models" (NeurIPS 2024, arXiv 2409.18962) claims that hidden-state alignment beats naive pruning (its
Fig. 2 zero-shot, its Table 4 after fine-tuning); SMixer with DSTSP (ICLR 2026) claims that pruning the
tokens of low Spike Intensity Value beats pruning the most active or random ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from smolmamba.experiments.ablation_tables import SPIKFORMER_REFERENCE, AblationRow, SettingSummary, seed_means
from smolmamba.experiments.plateau import check_runs
from smolmamba.experiments.records import Comparison, RunRow, SummaryRow
from smolmamba.experiments.stats import Interval, paired_difference, verdict

MARGIN = 1.0  # accuracy points: the non-inferiority margin; single-run ablation gaps below it are noise
ENERGY_FACTOR = 1.5  # "at least 1.5x lower energy" (SmolMamba paper)
PEER_LABELS = {"spikformer": "spiking Transformer", "spiking_mamba": "Spiking Mamba variant"}


@dataclass(frozen=True)
class Claim:
    """One claim on one data set (or ablation): `key` is what code matches claims by, the rest is shown."""

    key: str
    data: str
    text: str
    measured: str
    verdict: str
    caveat: str = ""  # what limits the verdict: too wide an interval, runs before their plateau ("" if nothing)

    def to_json(self) -> dict:
        return {"key": self.key, "data": self.data, "text": self.text, "measured": self.measured,
                "verdict": self.verdict, "caveat": self.caveat}


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("held" if ok else "did **not** hold")


def _better(diff: float) -> str:
    """Verdict for 'A is more accurate than B' from the gap in points (single-run ablations)."""
    if abs(diff) <= MARGIN:
        return f"not shown (gap within {MARGIN:g} point)"
    return _verdict(diff > 0)


def paired(a: SummaryRow, b: SummaryRow) -> Interval:
    """Per-seed paired difference of top-1 (a - b); rows without per-seed values give n = 1."""
    if a.top1_by_seed and b.top1_by_seed:
        return paired_difference(a.top1_by_seed, b.top1_by_seed)
    d = a.top1_mean - b.top1_mean
    return Interval(d, d, d, 1)


def _diff_text(d: Interval) -> str:
    if d.n < 2:
        return f"{d.mean:+.2f} points (1 seed: no interval)"
    return f"{d.mean:+.2f} points, 95 % interval {d.lo:+.2f} to {d.hi:+.2f} over {d.n} paired seeds"


def before_plateau(runs: list[RunRow], window: int) -> str:
    """'k of n runs ... had not reached their plateau' for the given runs ('' when every one had)."""
    checks = check_runs(runs, window)
    climbing = [c for c in checks if c.reached(MARGIN) is False]
    unchecked = [c for c in checks if c.reached(MARGIN) is None]
    parts = []
    if climbing:
        parts.append(f"{len(climbing)} of {len(checks)} runs of these models had not reached their plateau "
                     f"(validation top-1 still rising by more than {MARGIN:g} point over the last {window} "
                     "epochs at the epoch cap)")
    if unchecked:
        parts.append(f"{len(unchecked)} of {len(checks)} runs have too short a validation curve to check a plateau")
    return "; ".join(parts)


def accuracy_caveat(diff: Interval, outcome: str, runs: list[RunRow], window: int) -> str:
    """What limits an accuracy verdict: (when not resolved) too few seeds or too wide an interval; runs
    measured before their plateau, whose gap may still change."""
    reasons = []
    if outcome == "not resolved" and diff.n < 2:
        reasons.append("one seed: no interval")
    elif outcome == "not resolved" and diff.half_width > MARGIN:
        reasons.append(f"the 95 % interval of the paired difference is ±{diff.half_width:.2f} points over {diff.n} "
                       f"seeds, wider than the {MARGIN:g}-point margin")
    reasons.append(before_plateau(runs, window))
    return "; ".join(r for r in reasons if r)


def comparison_claims(comparison: Comparison, runs: list[RunRow] = (), windows: dict[str, int] | None = None
                      ) -> list[Claim]:
    """SmolMamba against its peers on each data set; `runs` and the patience `windows` per data set tell
    which claims were measured before the models' plateau."""
    claims = []
    for dataset in comparison.datasets():
        window = (windows or {}).get(dataset, 0)
        smol = comparison.find(dataset, "smolmamba")
        if smol is None:
            continue
        runs_of = lambda *roles: [r for r in runs if r.dataset == dataset and r.role in roles]  # noqa: E731
        for peer, label in PEER_LABELS.items():
            other = comparison.find(dataset, peer)
            if other is None:
                continue
            strict, paper = (comparison.energy_ratio(smol, peer, c) for c in ("strict", "paper"))
            early = before_plateau(runs_of("smolmamba", peer), window)
            claims.append(Claim(
                f"energy_vs_{peer}", dataset, f">= {ENERGY_FACTOR:g}x lower energy than the {label} (Vision SmolMamba)",
                f"{strict:.2f}x strict, {paper:.2f}x paper convention",
                f"strict: {_verdict(strict >= ENERGY_FACTOR)}; paper: {_verdict(paper >= ENERGY_FACTOR)}",
                f"measured before the plateau (firing rates, hence ACs, still change in training): {early}"
                if early else ""))
            diff = paired(smol, other)  # non-inferiority: held when the interval excludes -MARGIN
            outcome = verdict(diff, -MARGIN)
            claims.append(Claim(
                f"accuracy_vs_{peer}", dataset,
                f"equal or better accuracy than the {label} (Vision SmolMamba; within {MARGIN:g} point)",
                f"{smol.top1_mean:.2f}% vs {other.top1_mean:.2f}% ({_diff_text(diff)})", outcome,
                accuracy_caveat(diff, outcome, runs_of("smolmamba", peer), window)))
        naive = comparison.find(dataset, "smolmamba_naive")
        if naive is not None:
            diff = paired(smol, naive)
            outcome = verdict(diff)
            claims.append(Claim(
                "alignment_after_training", dataset,
                "alignment beats naive pruning after training (Exploring Token Pruning in Vision SSMs, Table 4)",
                f"{smol.top1_mean:.2f}% vs {naive.top1_mean:.2f}% ({_diff_text(diff)})", outcome,
                accuracy_caveat(diff, outcome, runs_of("smolmamba", "smolmamba_naive"), window)))
    return claims


def ablation_claims(ablations: list[AblationRow], finetune_epochs: int | None = None) -> list[Claim]:
    """The claims the ablate studies test (rows looked up by study and key)."""
    claims = []
    rows = {(r.study, r.key): r for r in ablations}
    aligned, naive = rows.get(("alignment", "aligned_zero_shot")), rows.get(("alignment", "naive_zero_shot"))
    if aligned and naive:
        claims.append(Claim("alignment_zero_shot", "ablation",
                            "alignment rescues zero-shot pruning (Exploring Token Pruning in Vision SSMs, Fig. 2)",
                            f"{aligned.top1:.2f}% aligned vs {naive.top1:.2f}% naive", _better(aligned.top1 - naive.top1)))
    aligned, naive = rows.get(("alignment", "aligned_finetuned")), rows.get(("alignment", "naive_finetuned"))
    if aligned and naive:
        claims.append(Claim("alignment_finetuned", "ablation",
                            f"alignment beats naive pruning after fine-tuning {finetune_epochs} epoch(s) "
                            "(Exploring Token Pruning in Vision SSMs, Table 4)",
                            f"{aligned.top1:.2f}% aligned vs {naive.top1:.2f}% naive", _better(aligned.top1 - naive.top1)))
    siv, high, rnd = (rows.get(("pruner", n)) for n in ("siv", "high_siv", "random"))
    if siv and high and rnd:
        ok = siv.top1 > high.top1 + MARGIN and siv.top1 > rnd.top1 + MARGIN
        claims.append(Claim("siv_pruner", "ablation",
                            "pruning low-SIV tokens beats high-SIV and random (SMixer + DSTSP, ICLR 2026)",
                            f"SIV {siv.top1:.2f}%, least-active kept {high.top1:.2f}%, random {rnd.top1:.2f}%",
                            _verdict(ok)))
    state = seed_means([r for r in ablations if r.study == "state"])
    reference = next((r for r in state if r.key == SPIKFORMER_REFERENCE), None)
    if reference is not None:
        claims.append(equal_accuracy_claim([r for r in state if r is not reference], reference))
    return claims


def equal_accuracy_claim(settings: list[SettingSummary], reference: SettingSummary) -> Claim:
    """The state study's claim: the lowest-strict-energy SmolMamba setting within MARGIN of Spikformer's top-1."""
    text = (f">= {ENERGY_FACTOR:g}x lower strict energy than the spiking Transformer at equal accuracy (Vision SmolMamba; "
            f"within {MARGIN:g} point; {reference.seeds} seed(s), same recipe)")
    equal = [r for r in settings if r.top1 >= reference.top1 - MARGIN]
    if not equal:
        best = max(settings, key=lambda r: r.top1)
        return Claim("energy_at_equal_accuracy", "state ablation", text,
                     f"no setting within {MARGIN:g} point of Spikformer's {reference.top1:.2f}% (best "
                     f"{best.setting}: {best.top1:.2f}%)", "did **not** hold")
    best = min(equal, key=lambda r: r.energy_uj)
    strict, paper = reference.energy_uj / best.energy_uj, reference.energy_uj_paper / best.energy_uj_paper
    return Claim("energy_at_equal_accuracy", "state ablation", text,
                 f"{best.setting}: {best.top1:.2f}% vs {reference.top1:.2f}%, {strict:.2f}x strict "
                 f"({paper:.2f}x paper)",
                 f"strict: {_verdict(strict >= ENERGY_FACTOR)}; paper: {_verdict(paper >= ENERGY_FACTOR)}")


def claims_table(claims: list[Claim], reference: dict[tuple[str, str], str] | None = None) -> list[str]:
    """Markdown rows; with `reference` ({(key, data): verdict} of the full protocol) a column sets each
    verdict beside the decisive run's and says where they differ; a last column says what limits a
    verdict (only when one is limited)."""
    why = any(c.caveat for c in claims)
    head = "| claim | data | measured | verdict |"
    head += " full protocol | agrees |" if reference is not None else ""
    head += " what limits this verdict |" if why else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in claims:
        line = f"| {c.text} | {c.data} | {c.measured} | {c.verdict} |"
        if reference is not None:
            full = reference.get((c.key, c.data))
            agrees = "-" if full is None else ("yes" if full == c.verdict else "**no**")
            line += f" {full or 'not in the reference'} | {agrees} |"
        lines.append(line + (f" {c.caveat or '-'} |" if why else ""))
    return lines


def write_reference(claims: list[Claim], comparison: Comparison, source: str, path: Path) -> Path:
    """The full protocol's verdicts and plateau top-1 per model, as the quick `compare` reads them back."""
    from smolmamba.io import write_json_atomic

    write_json_atomic(path, {"source": source, "claims": [c.to_json() for c in claims],
                             "top1": {f"{r.dataset}/{r.role}": r.top1_mean for r in comparison.rows}})
    return path


def read_reference(path: Path) -> tuple[dict[tuple[str, str], str], dict[str, float], str]:
    """-> ({(key, data): verdict}, {"dataset/role": plateau top-1}, source) of a file write_reference wrote."""
    data = json.loads(Path(path).read_text())
    return ({(c["key"], c["data"]): c["verdict"] for c in data["claims"]}, data["top1"], data["source"])
