"""Whether a training run reached its plateau, judged from its validation curve.

A run that early-stopped met the patience rule. A run that hit the epoch cap is checked on its curve:
it is *at its plateau within the margin* when the best validation top-1 of its last `window` epochs
is at most `margin` points above the best before them (the learning-rate schedule ends at the cap,
so the last epochs are where a run still climbing shows it).
"""

from __future__ import annotations

from dataclasses import dataclass

from smolmamba.experiments.records import RunRow


@dataclass(frozen=True)
class PlateauCheck:
    """One run's plateau verdict."""

    label: str  # "<model> seed <n>"
    early_stopped: bool
    last_gain: float | None  # best of the last `window` epochs - best before them; None: curve too short/absent

    def reached(self, margin: float) -> bool | None:
        if self.early_stopped:
            return True
        return None if self.last_gain is None else self.last_gain <= margin


def last_gain(curve: list[float], window: int) -> float | None:
    """Best of the last `window` values minus the best before them (None when there is no 'before')."""
    if window < 1 or len(curve) <= window:
        return None
    return max(curve[-window:]) - max(curve[:-window])


def check_runs(runs: list[RunRow], window: int) -> list[PlateauCheck]:
    """One check per compare run."""
    return [PlateauCheck(r.label(), r.early_stopped, last_gain(list(r.val_curve), window)) for r in runs]


def plateau_lines(runs: list[RunRow], window: int, margin: float) -> list[str]:
    """Markdown sentences: how many runs reached their plateau, and which did not (with their late gain)."""
    checks = check_runs(runs, window)
    stopped = [c for c in checks if c.early_stopped]
    flat = [c for c in checks if not c.early_stopped and c.reached(margin)]
    climbing = [c for c in checks if c.reached(margin) is False]
    unknown = [c for c in checks if c.reached(margin) is None]
    lines = [f"Plateau: {len(stopped)} of {len(checks)} runs stopped on the patience rule; {len(flat)} hit the "
             f"epoch cap but gained at most {margin:g} point in validation top-1 over their last {window} epochs "
             "(at their plateau within the margin)."]
    if climbing:
        lines.append("**Still climbing at the cap** (gain over the last epochs): "
                     + ", ".join(f"{c.label} (+{c.last_gain:.2f})" for c in climbing) + ".")
    if unknown:
        lines.append("No validation curve recorded for: " + ", ".join(c.label for c in unknown) + ".")
    return lines
