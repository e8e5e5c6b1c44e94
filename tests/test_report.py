import json

import pytest

from smolmamba.experiments.ablation_tables import AblationRow, ablations_markdown, seed_means
from smolmamba.experiments.claims import ablation_claims, claims_table
from smolmamba.experiments.plateau import PlateauCheck, check_runs, last_gain, plateau_lines
from smolmamba.experiments.protocol import validation_curve
from smolmamba.experiments.records import CompareResults, RunRow, summarise
from smolmamba.experiments.report import read_ablations, write_results_page
from smolmamba.train.logger import MetricsLogger


def test_last_gain_is_the_late_best_minus_the_early_best():
    assert last_gain([10.0, 50.0, 60.0, 61.0, 60.5], 2) == pytest.approx(1.0)
    assert last_gain([10.0, 50.0, 60.0, 58.0, 59.0], 2) == pytest.approx(-1.0)  # a late dip is a negative gain
    assert last_gain([10.0, 50.0], 2) is None  # nothing before the window
    assert last_gain([], 5) is None


def test_reached_uses_the_margin_and_trusts_early_stopping():
    assert PlateauCheck("a", True, None).reached(1.0) is True
    assert PlateauCheck("a", False, 1.0).reached(1.0) is True
    assert PlateauCheck("a", False, 1.5).reached(1.0) is False
    assert PlateauCheck("a", False, None).reached(1.0) is None


def run_row(model, seed, early_stopped, val_curve):
    return RunRow.from_json({"dataset": "d", "role": model, "model": model, "seed": seed, "early_stopped": early_stopped,
                             "val_curve": val_curve, "top1": 50.0, "params": 1, "mean_firing_rate": 0.1,
                             "tokens_per_stage": [4], "macs": 1.0, "acs": 1.0, "energy_uj": 1.0,
                             "energy_uj_paper": 1.0, "img_per_s": 1.0})


def test_plateau_lines_count_each_kind_and_name_the_climbers():
    runs = [run_row("m", 0, True, [1.0, 2.0]), run_row("m", 1, False, [50.0, 90.0, 90.5, 90.0]),
            run_row("p", 0, False, [50.0, 80.0, 85.0, 88.0]), run_row("p", 1, False, None)]
    assert [c.label for c in check_runs(runs, 2)] == ["m seed 0", "m seed 1", "p seed 0", "p seed 1"]
    first, climbing, unknown = plateau_lines(runs, 2, 1.0)
    assert "1 of 4 runs stopped" in first and "1 hit the epoch cap" in first
    assert climbing.endswith("p seed 0 (+8.00).")
    assert unknown == "No validation curve recorded for: p seed 1."


def test_validation_curve_reads_the_val_column_of_metrics_csv(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    for epoch, top1 in enumerate((12.5, 40.0, 55.25)):
        logger.write({"epoch": epoch, "step": epoch, "val_top1": top1})
    assert validation_curve(tmp_path) == [12.5, 40.0, 55.25]


def test_a_fresh_run_in_an_old_run_folder_starts_its_own_metrics(tmp_path):
    """A killed run's rows must not precede a new run's (compare reads the curve back from the file)."""
    old = MetricsLogger(tmp_path, tensorboard=False)
    old.write({"epoch": 0, "step": 1, "val_top1": 10.0})
    new = MetricsLogger(tmp_path, tensorboard=False)
    new.write({"epoch": 0, "step": 1, "val_top1": 70.0})
    assert validation_curve(tmp_path) == [70.0]
    resumed = MetricsLogger(tmp_path, resumed_epoch=1, tensorboard=False)
    resumed.write({"epoch": 1, "step": 2, "val_top1": 80.0})
    assert validation_curve(tmp_path) == [70.0, 80.0]


def fake_results(dataset, top1, complete=True):
    rows = [{"dataset": dataset, "role": role, "model": role, "seed": seed, "top1": top1 + seed, "params": 1000,
             "mean_firing_rate": 0.1, "tokens_per_stage": [64, 32], "macs": 1e6, "acs": 2e6,
             "energy_uj": energy, "energy_uj_paper": energy / 2, "img_per_s": 10.0, "train_s": 1.0, "lr": 5e-3,
             "epochs_run": 3, "best_val_top1": top1, "early_stopped": False, "test_images": 100,
             "val_curve": [10.0, top1 - 5, top1]}
            for role, energy in (("smolmamba", 2.0), ("spikformer", 3.0), ("spiking_mamba", 4.0))
            for seed in (0, 1)]
    config = {"protocol": "full", "datasets": ["digits", "nmnist_digits"], "seeds": 2, "batch_size": 8,
              "augment": False, "val_fraction": 0.15, "patience": 1, "epochs": 3, "lrs": [5e-3]}
    return {"config": config, "runs": rows, "summary": summarise([RunRow.from_json(r) for r in rows]).to_json(),
            "elapsed_s": 5.0, "torch": "x",
            "complete": complete, "energy_pj": {"mac": 4.6, "ac": 0.9}}


def test_report_joins_one_compare_folder_per_data_set(tmp_path):
    folders = []
    for dataset, top1, complete in (("digits", 90.0, False), ("nmnist_digits", 70.0, True)):
        folder = tmp_path / dataset
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(fake_results(dataset, top1, complete)))
        folders.append(folder)
    text = write_results_page(folders, [], tmp_path / "RESULTS.md").read_text()
    assert "protocol `full` on digits; " in text and "(nmnist_digits not run)" in text
    assert "protocol `full` on nmnist_digits; " in text
    assert text.count("**Still climbing at the cap**") == 2  # each folder's runs gained 5 points at the end
    assert "| digits | smolmamba |" in text and "| nmnist_digits | smolmamba |" in text
    claim_rows = [line for line in text.splitlines() if line.startswith("| >= 1.5x lower energy")]
    assert len(claim_rows) == 4  # two peers on each data set


def test_an_ablations_file_without_keys_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "ablations.json"
    path.write_text(json.dumps({"config": {}, "rows": [{"study": "alignment", "setting": "aligned, zero-shot"}]}))
    with pytest.raises(ValueError, match="rerun `smolmamba ablate`"):
        read_ablations(path)
    path.write_text(json.dumps({"config": {"finetune_epochs": 1}, "rows": [
        {"study": "alignment", "key": k, "setting": "shown label", "top1": t, "energy_uj": 1.0,
         "tokens_per_stage": [4]} for k, t in (("aligned_finetuned", 80.0), ("naive_finetuned", 70.0))]}))
    rows, cfg = read_ablations(path)
    (line,) = [x for x in claims_table(ablation_claims(rows, cfg["finetune_epochs"])) if "fine-tuning" in x]
    assert "80.00% aligned vs 70.00% naive | held |" in line  # found by key although the label says nothing


def ablation_rows(dicts):
    return [AblationRow.from_json(d) for d in dicts]


def test_seed_means_average_each_setting_over_its_seeds():
    rows = ablation_rows({"study": "block", "key": k, "setting": k.upper(), "top1": t, "energy_uj": e,
                          "tokens_per_stage": [4], "seed": s}
                         for k, t, e, s in (("a", 90.0, 1.0, 0), ("b", 50.0, 2.0, 0), ("a", 94.0, 3.0, 1)))
    a, b = seed_means(rows)
    assert (a.key, a.seeds, a.top1, a.energy_uj) == ("a", 2, pytest.approx(92.0), pytest.approx(2.0))
    assert a.top1_sd == pytest.approx(8 ** 0.5)
    assert a.interval_text() == f"{92 - 12.706 * 2:.2f} to {92 + 12.706 * 2:.2f}"  # t(1) = 12.706, sd / sqrt(2) = 2
    assert (b.seeds, b.interval_text(), b.top1_sd) == (1, "-", 0.0)
    assert a.vs_first_text() == "reference" and b.vs_first_text() == "-"  # b shares one seed with a


def test_each_setting_gets_its_paired_difference_to_the_first():
    rows = ablation_rows({"study": "block", "key": k, "setting": k, "top1": t, "energy_uj": 1.0,
                          "tokens_per_stage": [4], "seed": s}
                         for k, t, s in (("as_built", 80.0, 0), ("as_built", 90.0, 1), ("no_gate", 84.0, 0),
                                         ("no_gate", 92.0, 1)))
    _, no_gate = seed_means(rows)
    # differences +4 and +2: mean +3, sd sqrt(2), half width 12.706 * sqrt(2) / sqrt(2) = 12.706
    assert no_gate.vs_first_text() == f"+3.00 ({3 - 12.706:+.2f} to {3 + 12.706:+.2f})"
    text = "\n".join(ablations_markdown(rows))
    assert "| vs as_built, points (paired, 95 % interval) |" in text
    assert f"| no_gate | 88.00 ± {32 ** 0.5:.2f} (2) |" in text and "| as_built | 85.00" in text


def state_row(key, top1, strict, paper):
    return AblationRow.from_json({"study": "state", "key": key, "setting": key, "top1": top1, "energy_uj": strict,
                                  "energy_uj_paper": paper, "tokens_per_stage": [4], "seed": 0})


def test_energy_at_equal_accuracy_takes_the_cheapest_setting_within_the_margin():
    reference = state_row("spikformer_reference", 95.0, 18.0, 12.0)
    rows = [state_row("n1_e1", 90.0, 6.0, 3.0),  # cheapest, but 5 points worse: not at equal accuracy
            state_row("n2_e1", 94.5, 10.0, 7.0), state_row("n16_e2", 96.0, 40.0, 11.0), reference]
    (line,) = [x for x in claims_table(ablation_claims(rows)) if "at equal accuracy" in x]
    assert "n2_e1: 94.50% vs 95.00%, 1.80x strict (1.71x paper) | strict: held; paper: held |" in line
    rows[1] = state_row("n2_e1", 93.0, 10.0, 7.0)
    (line,) = [x for x in claims_table(ablation_claims(rows)) if "at equal accuracy" in x]
    assert "n16_e2: 96.00% vs 95.00%, 0.45x strict (1.09x paper) | strict: did **not** hold" in line
    (line,) = [x for x in claims_table(ablation_claims(rows[:2] + [reference])) if "at equal accuracy" in x]
    assert "no setting within 1 point" in line and line.endswith("did **not** hold |")


def write_ablate_folder(folder, rows, cfg):
    folder.mkdir()
    rows = [r.to_json() if isinstance(r, AblationRow) else r for r in rows]
    (folder / "ablations.json").write_text(json.dumps({"config": cfg, "rows": rows}))
    (folder / "ablations.md").write_text(f"### table of {folder.name}\n")
    return folder


def test_report_joins_ablate_folders_and_refuses_a_setting_measured_twice(tmp_path):
    compare = tmp_path / "digits"
    compare.mkdir()
    (compare / "results.json").write_text(json.dumps(fake_results("digits", 90.0, True)))
    alignment = write_ablate_folder(tmp_path / "alignment", [
        {"study": "alignment", "key": k, "setting": k, "top1": t, "energy_uj": 1.0, "tokens_per_stage": [4]}
        for k, t in (("aligned_finetuned", 80.0), ("naive_finetuned", 70.0))], {"finetune_epochs": 2})
    state = write_ablate_folder(tmp_path / "state", [
        state_row("n2_e1", 94.5, 10.0, 7.0), state_row("spikformer_reference", 95.0, 18.0, 12.0)],
        {"dataset": "digits", "epochs": 8, "seeds": 1, "finetune_epochs": 7})
    text = write_results_page([compare], [state, alignment], tmp_path / "RESULTS.md").read_text()
    assert "after fine-tuning 2 epoch(s)" in text  # from the folder that measured alignment, listed second
    assert "80.00% aligned vs 70.00% naive | held |" in text  # from the alignment folder
    assert "n2_e1: 94.50% vs 95.00%, 1.80x strict" in text  # from the state folder
    assert text.index("### table of state") < text.index("### table of alignment")
    assert "dataset digits, epochs 8, finetune_epochs 7, seeds 1" in text
    with pytest.raises(ValueError, match="measures \\('state', 'n2_e1'\\) again"):
        write_results_page([compare], [state, state], tmp_path / "RESULTS.md")


def test_the_setting_names_the_earlier_run_the_lrs_came_from():
    from smolmamba.experiments.report import setting_text

    data = fake_results("digits", 90.0)
    assert "lr 0.005; " in setting_text(CompareResults.from_json(data))
    data["config"]["lr_from"] = "compare-full-digits-20261202"
    text = setting_text(CompareResults.from_json(data))
    assert "lr as picked on validation in the earlier run `compare-full-digits-20261202`" in text
    assert "lr 0.005; " not in text


def test_the_setting_says_from_where_patience_counts():
    from smolmamba.experiments.report import setting_text

    data = fake_results("digits", 90.0)
    assert "counted from" not in setting_text(CompareResults.from_json(data))  # results written before patience_from existed
    data["config"]["patience_from"] = 0.5
    assert "1 epochs without a new best validation top-1 counted from 50% of its lr schedule" in setting_text(
        CompareResults.from_json(data))
