"""experiments/stats.py against hand-computed values."""

import math

import pytest

from smolmamba.experiments.stats import Interval, mean_interval, paired_difference, t975, verdict


def test_t_quantiles_table_and_expansion():
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(30) == 2.042
    assert abs(t975(40) - 2.021) < 1e-3 and abs(t975(120) - 1.980) < 1e-3  # published table values
    with pytest.raises(ValueError, match="two or more seeds"):
        t975(0)


def test_mean_interval_by_hand():
    iv = mean_interval([90.0, 92.0, 94.0])  # mean 92, sd 2, se 2/sqrt(3), t(2) = 4.303
    half = 4.303 * 2 / math.sqrt(3)
    assert iv.mean == 92.0 and iv.n == 3
    assert iv.lo == pytest.approx(92 - half) and iv.hi == pytest.approx(92 + half)
    assert mean_interval([5.0]) == Interval(5.0, 5.0, 5.0, 1)


def test_paired_difference_uses_shared_seeds_only():
    a = {0: 95.0, 1: 96.0, 2: 97.0, 3: 50.0}
    b = {0: 94.0, 1: 94.0, 2: 94.0}
    d = paired_difference(a, b)  # differences 1, 2, 3
    assert d.n == 3 and d.mean == 2.0
    with pytest.raises(ValueError, match="no seed"):
        paired_difference({0: 1.0}, {1: 1.0})


def test_verdict_three_ways():
    assert verdict(Interval(2.0, 0.5, 3.5, 3)) == "held"
    assert verdict(Interval(-2.0, -3.5, -0.5, 3)) == "not held"
    assert verdict(Interval(0.5, -1.0, 2.0, 3)) == "not resolved"
    assert verdict(Interval(5.0, 5.0, 5.0, 1)) == "not resolved"  # one seed: no interval
    assert verdict(Interval(2.0, 0.5, 3.5, 3), margin=1.0) == "not resolved"
