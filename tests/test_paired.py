"""`smolmamba paired`: two compare folders set against each other seed by seed."""

import dataclasses
import json
from pathlib import Path

import pytest

from smolmamba.cli import main
from smolmamba.experiments.paired import paired_rows, pooled
from smolmamba.experiments.records import CompareResults

DIGITS = Path(__file__).resolve().parent.parent / "docs/results/compare-full-digits-initfix-20261206"


def shifted(results: CompareResults, role: str, points: dict[int, float], slower: float) -> CompareResults:
    """A copy whose `role` runs score `points[seed]` more and train `slower` times as long."""
    runs = tuple(dataclasses.replace(r, measured=dataclasses.replace(r.measured, top1=r.top1 + points[r.seed]),
                                     train_s=r.train_s * slower) if r.role == role else r for r in results.runs)
    return dataclasses.replace(results, runs=runs)


def test_a_folder_against_itself_differs_by_nothing():
    base = CompareResults.read(DIGITS)
    rows = paired_rows(base, base)
    assert len(rows) == 5 and all(r.difference.mean == r.difference.lo == r.difference.hi == 0 for r in rows)
    assert all(r.not_worse_by(0.5) == "held" and r.train_s_ratio == 1 for r in rows)


def test_the_difference_is_paired_per_seed_with_a_t_interval():
    base = CompareResults.read(DIGITS)
    other = shifted(base, "smolmamba", {0: -1.0, 1: -2.0, 2: -3.0}, slower=0.5)
    row = next(r for r in paired_rows(base, other) if r.role == "smolmamba")
    assert row.difference.mean == pytest.approx(-2.0)
    assert row.difference.lo == pytest.approx(-2.0 - 4.303 * 1.0 / 3**0.5, abs=1e-3)  # t(0.975, 2), sd 1
    assert row.not_worse_by(0.5) == "not resolved" and row.train_s_ratio == pytest.approx(0.5)
    worse = next(r for r in paired_rows(base, shifted(base, "smolmamba", {0: -2, 1: -2.1, 2: -1.9}, 1.0))
                 if r.role == "smolmamba")
    assert worse.not_worse_by(0.5) == "not held"


def test_the_pooled_row_takes_every_pair():
    base = CompareResults.read(DIGITS)
    other = shifted(shifted(base, "smolmamba", {0: -1.0, 1: -1.0, 2: -1.0}, 1.0), "spikformer", {0: 1, 1: 1, 2: 1}, 1.0)
    everything = pooled(paired_rows(base, other))
    assert everything.difference.n == 15 and everything.difference.mean == pytest.approx(0.0, abs=1e-12)
    assert everything.not_worse_by(0.5) == "held" and everything.role == "all"


def test_cli_writes_the_table(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    base = CompareResults.read(DIGITS)
    data = shifted(base, "spikformer", {0: 0.5, 1: 0.5, 2: 0.5}, 1.0).to_json()
    (other / "results.json").write_text(json.dumps(data))
    assert main(["paired", str(DIGITS), str(other), "--out", str(tmp_path / "paired.md")]) == 0
    text = (tmp_path / "paired.md").read_text()
    assert text == capsys.readouterr().out
    assert "| digits | spikformer |" in text and "+0.50 [+0.50, +0.50] | held |" in text
    assert "| all | all |" in text


def test_folders_without_a_shared_run_are_an_error(tmp_path):
    base = CompareResults.read(DIGITS)
    other = dataclasses.replace(base, runs=tuple(dataclasses.replace(r, dataset="nmnist_digits") for r in base.runs))
    with pytest.raises(ValueError, match="share no"):
        paired_rows(base, other)
