"""Seed statistics for `compare`: means with 95 % Student-t intervals, paired per-seed differences, and
the three-way verdict a claim gets from its interval ("held", "not held", "not resolved")."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# two-sided 95 % quantiles t_{0.975, df}, df = 1..30; above 30 the normal-based expansion below
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
_Z975 = 1.959964


def t975(df: int) -> float:
    """Two-sided 95 % Student-t quantile for df >= 1 (table to 30, Cornish-Fisher above: < 1e-3 off)."""
    if df < 1:
        raise ValueError(f"a t interval needs df >= 1 (two or more seeds), got df={df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Interval:
    """Mean of n values with its 95 % interval (lo = hi = mean when n == 1: no interval)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def mean_interval(values: list[float]) -> Interval:
    """Mean and 95 % Student-t interval of the values (one per seed)."""
    if not values:
        raise ValueError("mean_interval needs at least one value")
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Interval(mean, mean, mean, 1)
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, mean - half, mean + half, len(values))


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Interval:
    """Interval of a - b over the seeds both have (a paired comparison: each seed shares its data order)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("paired_difference: the two runs share no seed")
    return mean_interval([a[s] - b[s] for s in seeds])


def verdict(difference: Interval, margin: float = 0.0) -> str:
    """The claim "a - b > margin": held if the whole interval lies above it, not held if below,
    otherwise (or with a single seed) not resolved."""
    if difference.n < 2:
        return "not resolved"
    if difference.lo > margin:
        return "held"
    if difference.hi < margin:
        return "not held"
    return "not resolved"
