import json
from pathlib import Path

import pytest

from smolmamba.experiments import compare
from smolmamba.experiments.claims import comparison_claims, read_reference
from smolmamba.experiments.records import CompareResults, RunRow, summarise
from smolmamba.experiments.report import write_results_page

OLD_RESULTS = Path(__file__).parents[1] / "docs/results/compare-full-digits-30epochs-20261204"


def test_a_results_file_of_an_earlier_version_reads_back_with_its_recorded_ratios():
    raw = json.loads((OLD_RESULTS / "results.json").read_text())
    results = CompareResults.read(OLD_RESULTS)
    assert len(results.runs) == len(raw["runs"]) == 15 and len(results.comparison.rows) == 5
    for row, recorded in zip(results.comparison.rows, raw["summary"]):
        for peer in ("spikformer", "spiking_mamba"):
            assert results.comparison.energy_ratio(row, peer) == pytest.approx(recorded[f"energy_ratio_vs_{peer}"])
            assert results.comparison.energy_ratio(row, peer, "paper") == pytest.approx(
                recorded[f"energy_ratio_vs_{peer}_paper"])
    assert results.config.patience_from == 0.5 and results.config.lr_from == "compare-full-digits-20261202"
    assert CompareResults.from_json(json.loads(json.dumps(results.to_json()))) == results


def run(role, seed, top1, curve, energy=2.0):
    return RunRow.from_json({"dataset": "digits", "role": role, "model": role, "seed": seed, "lr": 5e-3,
                             "train_s": 1.0, "epochs_run": len(curve), "best_val_top1": max(curve),
                             "early_stopped": False, "val_curve": curve, "top1": top1, "params": 1000,
                             "mean_firing_rate": 0.1, "tokens_per_stage": [64], "macs": 1.0, "acs": 1.0,
                             "energy_uj": energy, "energy_uj_paper": energy, "img_per_s": 1.0})


def quick_results(tmp_path, smol_top1):
    """Three seeds of SmolMamba and Spikformer after 3 epochs whose validation still climbs 10 points."""
    climbing = [10.0, 70.0, 80.0]
    runs = [run("smolmamba", s, t, climbing, 2.0) for s, t in enumerate(smol_top1)]
    runs += [run("spikformer", s, t, climbing, 2.8) for s, t in enumerate((90.0, 91.0, 92.0))]
    return CompareResults(compare.CompareConfig(patience=2), True, tuple(runs), summarise(runs), (), (), 1.0,
                          (4.6, 0.9), "x")


def test_an_undecided_accuracy_claim_says_its_interval_is_too_wide_and_its_runs_still_climb(tmp_path):
    results = quick_results(tmp_path, (85.0, 91.0, 97.0))
    claims = {c.key: c for c in comparison_claims(results.comparison, list(results.runs), {"digits": 2})}
    accuracy = claims["accuracy_vs_spikformer"]
    assert accuracy.verdict == "not resolved"
    assert "wider than the 1-point margin" in accuracy.caveat
    assert "6 of 6 runs of these models had not reached their plateau" in accuracy.caveat
    assert claims["energy_vs_spikformer"].verdict.startswith("strict: did **not** hold")
    assert "measured before the plateau" in claims["energy_vs_spikformer"].caveat
    decided = quick_results(tmp_path, (95.0, 96.0, 97.0))  # +5 points on every seed: held despite the climb
    (accuracy,) = [c for c in comparison_claims(decided.comparison, list(decided.runs), {"digits": 2})
                   if c.key == "accuracy_vs_spikformer"]
    assert accuracy.verdict == "held" and accuracy.caveat.startswith("6 of 6 runs of these models had not reached")


def test_compare_sets_each_verdict_beside_the_full_protocols_and_names_each_models_gap(tmp_path, monkeypatch):
    results = quick_results(tmp_path, (85.0, 91.0, 97.0))
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"source": "smolmamba report full-run", "top1": {"digits/smolmamba": 98.0},
                                     "claims": [{"key": "accuracy_vs_spikformer", "data": "digits", "verdict": "held"},
                                                {"key": "energy_vs_spikformer", "data": "digits",
                                                 "verdict": "strict: did **not** hold; paper: did **not** hold"}]}))
    monkeypatch.setattr(compare, "REFERENCE", reference)
    text = compare.claims_section(results)
    energy, accuracy = (line for line in text.splitlines() if "(Vision SmolMamba" in line)
    assert "| strict: did **not** hold; paper: did **not** hold | yes |" in energy
    assert "| not resolved | held | **no** | the 95 % interval" in accuracy
    assert "| digits | smolmamba | 91.00 | 98.00 | -7.00 |" in text
    assert "| digits | spikformer | 91.00 | - | - |" in text
    monkeypatch.setattr(compare, "REFERENCE", tmp_path / "absent.json")
    assert "No full-protocol reference is shipped" in compare.claims_section(results)


def test_report_writes_the_reference_that_compare_reads(tmp_path):
    out = tmp_path / "reference.json"
    page = write_results_page([OLD_RESULTS], [], tmp_path / "RESULTS.md", reference_out=out, note="digits is old")
    assert "**Note:** digits is old" in page.read_text() and "--note 'digits is old'" in page.read_text()
    verdicts, top1, source = read_reference(out)
    assert verdicts[("energy_vs_spikformer", "digits")] == "strict: did **not** hold; paper: did **not** hold"
    assert verdicts[("accuracy_vs_spikformer", "digits")] == "not resolved"
    assert top1["digits/smolmamba"] == pytest.approx(98.96, abs=0.01) and source.startswith("smolmamba report ")


def test_the_shipped_reference_names_every_role_of_the_quick_compare():
    if not compare.REFERENCE.is_file():
        pytest.fail(f"{compare.REFERENCE} is missing: regenerate it with `smolmamba report ... --reference-out`")
    _, top1, _ = read_reference(compare.REFERENCE)
    assert {f"digits/{role}" for role in compare.CompareConfig().roles} <= set(top1)
