import json

import pytest

from smolmamba.cli import main
from smolmamba.experiments.compare import markdown_table
from smolmamba.experiments.records import RunRow, summarise


def fake_row(role, dataset, seed, top1, energy):
    return {"dataset": dataset, "role": role, "model": role, "seed": seed, "top1": top1, "params": 1000,
            "mean_firing_rate": 0.1, "tokens_per_stage": [64, 32], "macs": 1e6, "acs": 2e6,
            "energy_uj": energy, "energy_uj_paper": energy / 2, "img_per_s": 10.0, "train_s": 1.0,
            "lr": 5e-3, "epochs_run": 3, "best_val_top1": top1 + 1.0, "early_stopped": True}


def test_summary_means_spreads_and_energy_ratios():
    rows = [fake_row("smolmamba", "d", s, acc, 2.0) for s, acc in enumerate((90.0, 92.0))]
    rows += [fake_row("spikformer", "d", 0, 91.0, 5.0), fake_row("spiking_mamba", "d", 0, 89.0, 3.0)]
    comparison = summarise([RunRow.from_json(r) for r in rows])
    summary = {r.role: r for r in comparison.rows}
    smol = summary["smolmamba"]
    assert smol.top1_mean == pytest.approx(91.0) and smol.top1_std == pytest.approx(2 ** 0.5)
    assert comparison.energy_ratio(smol, "spikformer") == pytest.approx(2.5)
    assert comparison.energy_ratio(smol, "spiking_mamba") == pytest.approx(1.5)
    assert comparison.energy_ratio(summary["spikformer"], "spikformer") == pytest.approx(1.0)
    assert "| d | smolmamba |" in markdown_table(comparison)


@pytest.mark.slow
def test_compare_ablate_and_report_end_to_end(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["compare", "--models", "smolmamba", "spiking_mamba", "spikformer", "--datasets", "digits",
                 "--epochs", "1", "--seeds", "1", "--train-subset", "128", "--test-subset", "64", "--output", str(out)])
    assert code == 0
    (folder,) = out.iterdir()
    data = json.loads((folder / "results.json").read_text())
    assert {r["role"] for r in data["summary"]} == {"smolmamba", "spiking_mamba", "spikformer"}
    smol = next(r for r in data["summary"] if r["role"] == "smolmamba")
    assert smol["tokens_per_stage"] == [64, 51, 38, 32, 26]
    assert smol["energy_ratio_vs_spikformer"] > 0 and smol["energy_uj"] > 0
    assert data["complete"] and smol["epochs_run"] == [1] and 0 <= smol["val_top1_mean"] <= 100
    assert len(data["keep_ratio_sweep"]) == 6
    for name in ("results.csv", "results.md", "claims.md", "accuracy_vs_energy.png", "keep_ratio_sweep.png",
                 "pruning_masks_digits.png"):
        assert (folder / name).stat().st_size > 0, name

    # the same weights measured again give the same figures, also from a file without run_dir (older versions)
    for run in data["runs"]:
        del run["run_dir"]
    (folder / "results.json").write_text(json.dumps(data))
    assert main(["remeasure", str(folder), "--reason", "test"]) == 0
    again = json.loads((folder / "results.json").read_text())
    assert again["remeasured"].endswith(": test") and [r["run_dir"] for r in again["runs"]] == [
        "runs/digits/smolmamba_tiny/seed0", "runs/digits/spiking_mamba_tiny/seed0", "runs/digits/spikformer_tiny/seed0"]
    for before, after in zip(data["runs"], again["runs"]):
        assert (after["top1"], after["energy_uj"]) == pytest.approx((before["top1"], before["energy_uj"]))
    assert again["keep_ratio_sweep"] == data["keep_ratio_sweep"]

    ab_out = tmp_path / "ablate"
    code = main(["ablate", "--studies", "alignment", "pruner", "deep", "--epochs", "1", "--train-subset", "128",
                 "--test-subset", "64", "--output", str(ab_out)])
    assert code == 0
    (ab_folder,) = ab_out.iterdir()
    rows = json.loads((ab_folder / "ablations.json").read_text())["rows"]
    assert {r["study"] for r in rows} == {"alignment", "pruner", "deep"}
    assert len([r for r in rows if r["study"] == "pruner"]) == 6
    by = {(r["study"], r["setting"]): r for r in rows}
    assert by[("alignment", "dense (no pruning)")]["tokens_per_stage"] == [64]
    assert by[("alignment", "aligned, zero-shot")]["tokens_per_stage"] == [64, 51, 38, 32, 26]
    assert by[("deep", "keep 0.4->0.2")]["tokens_per_stage"][-1] == 13
    assert [r["key"] for r in rows if r["study"] == "alignment"] == [
        "dense", "aligned_zero_shot", "aligned_finetuned", "naive_zero_shot", "naive_finetuned"]

    page = tmp_path / "RESULTS.md"
    assert main(["report", str(folder), "--ablations", str(ab_folder), "--out", str(page)]) == 0
    text = page.read_text()
    assert "lower energy than the spiking Transformer" in text and "## Ablations" in text


@pytest.mark.slow
def test_state_study_sets_smolmamba_sizes_beside_a_spikformer_trained_alike(tmp_path):
    assert main(["ablate", "--studies", "state", "--epochs", "1", "--train-subset", "64", "--test-subset", "32",
                 "--output", str(tmp_path)]) == 0
    (folder,) = tmp_path.iterdir()
    rows = {r["key"]: r for r in json.loads((folder / "ablations.json").read_text())["rows"]}
    assert len(rows) == 11 and rows["spikformer_reference"]["scan_share_strict"] == 0.0
    assert 0 < rows["n1_e1"]["scan_share_strict"] < rows["n16_e1"]["scan_share_strict"] < 1
    assert rows["n16_e2"]["params"] > rows["n16_e1"]["params"] > rows["n1_e1"]["params"]
    assert rows["n16_e1"]["energy_uj"] > rows["n1_e1"]["energy_uj"]


@pytest.mark.parametrize("name", ["smolmamba_tiny", "smolmamba_tiny_events"])
def test_measurement_batches_match_training_preprocessing(name):
    """Regression: measuring on data resized differently from training (area-mean vs the dataset's
    own event-count resize) once made every event model look like chance."""
    import torch

    from smolmamba.data import build_dataset
    from smolmamba.data.model_input import embedded_dataset_name, model_batches
    from smolmamba.models import model_cfg

    cfg = model_cfg(name)
    x, y = next(model_batches(cfg, batches=1, batch_size=4))
    inp = cfg.input
    ds, _ = build_dataset(embedded_dataset_name(cfg), split="test", T=inp.time_steps if inp.events else None,
                          img_size=inp.img_size)
    assert torch.equal(x[0], ds[0][0].float()) and int(y[0]) == int(ds[0][1])


def test_keep_ratio_sweep_matches_a_full_measurement_of_each_setting():
    """The sweep meters each rebuilt model without timing it and takes the x1 point from the trained model's
    own measurement; every point must equal measure() of the same setting (the obvious reference)."""
    import dataclasses

    import torch

    from smolmamba.experiments.compare import SWEEP_SCALES, keep_ratio_sweep, test_batches
    from smolmamba.experiments.config import CompareConfig
    from smolmamba.experiments.measure import measure
    from smolmamba.models import create_model, rebuild

    torch.manual_seed(0)
    model = create_model("smolmamba_tiny").eval()
    cfg = dataclasses.replace(CompareConfig(), test_subset=16)
    batches = test_batches(model, "digits", cfg)
    measured = measure(model, batches)
    points = keep_ratio_sweep(model, "smolmamba_tiny", "digits", batches, measured)
    assert [p.setting for p in points] == ["off"] + [f"x{s:g}" for s in SWEEP_SCALES]
    base = model.cfg.pruning.keep_ratios
    for point in points:
        if point.setting == "off":
            reference = measure(rebuild(model, "smolmamba_tiny", pruning_mode="off"), batches)
        else:
            scale = float(point.setting[1:])
            ratios = tuple(min(1.0, r * scale) for r in base)
            assert point.keep_ratios == ratios
            reference = measure(rebuild(model, "smolmamba_tiny", keep_ratios=ratios), batches)
        got = (point.top1, point.energy_uj, point.energy_uj_paper)
        assert got == pytest.approx((reference.top1, reference.energy_uj, reference.energy_uj_paper), rel=1e-9)
        assert point.tokens_per_stage == reference.tokens_per_stage, point.setting
    assert points[2].tokens_per_stage == measured.tokens_per_stage and points[0].tokens_per_stage[-1] == 64


@pytest.mark.parametrize("name", ["smolmamba_tiny", "smixer_tiny", "smolmamba_naive_tiny"])
def test_kept_tokens_from_two_images_equal_a_full_batch_count(name):
    """measure() reads the kept-token counts from two images; a pruner whose count followed the input
    would make that differ from the count over a whole test batch (the obvious reference)."""
    import torch

    from smolmamba.experiments.measure import TOKEN_PROBE_BATCH, kept_tokens
    from smolmamba.models import create_model, tokens_per_stage
    from smolmamba.models.summary import example_input

    torch.manual_seed(0)
    model = create_model(name).eval()
    x = example_input(model.cfg, 32)
    probe = kept_tokens(model, x)
    assert TOKEN_PROBE_BATCH < len(x) and probe == tuple(tokens_per_stage(model, x))
    assert probe[-1] < probe[0]  # each of these models prunes
