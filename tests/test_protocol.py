"""The comparison protocol: lr picked on validation by seed 0, reused; presets and overrides."""

import json
from pathlib import Path

import pytest

from smolmamba.experiments import protocol
from smolmamba.experiments.config import PROTOCOLS, CompareConfig, protocol_config


def fake_trainer(monkeypatch, val_by_lr):
    calls = []

    def train_one(role, dataset, seed, cfg, run_dir, lr=None, **_):
        calls.append((seed, lr, Path(run_dir).name))
        return protocol.TrainedRun(None, lr, seed, 1.0, 4, val_by_lr[lr] + seed, True, Path(run_dir))

    monkeypatch.setattr(protocol, "train_one", train_one)
    return calls


def test_seed0_picks_the_lr_on_validation_and_is_reused(monkeypatch, tmp_path):
    calls = fake_trainer(monkeypatch, {1e-3: 80.0, 5e-3: 90.0, 1e-2: 85.0})
    cfg = CompareConfig(lrs=(1e-3, 5e-3, 1e-2), picked_lrs={}, lr_from=None, seeds=3, workers=1)
    runs, search = protocol.tune_and_train("smolmamba", "digits", cfg, tmp_path, log=lambda _: None)
    assert [(r.seed, r.lr) for r in runs] == [(0, 5e-3), (1, 5e-3), (2, 5e-3)]
    assert calls == [(0, 1e-3, "lr0.001-seed0"), (0, 5e-3, "lr0.005-seed0"), (0, 1e-2, "lr0.01-seed0"),
                     (1, 5e-3, "seed1"), (2, 5e-3, "seed2")]
    assert [(r.lr, r.val_top1) for r in search] == [(1e-3, 80.0), (5e-3, 90.0), (1e-2, 85.0)]
    assert {r.model for r in search} == {"smolmamba_tiny"}


def test_a_tie_goes_to_the_smaller_lr(monkeypatch, tmp_path):
    fake_trainer(monkeypatch, {2e-3: 90.0, 1e-2: 90.0})
    cfg = CompareConfig(lrs=(1e-2, 2e-3), picked_lrs={}, lr_from=None, seeds=1, workers=1)
    runs, _ = protocol.tune_and_train("spikformer", "digits", cfg, tmp_path,
                                      log=lambda _: None)
    assert [r.lr for r in runs] == [2e-3]


def test_one_lr_means_no_search(monkeypatch, tmp_path):
    calls = fake_trainer(monkeypatch, {5e-3: 50.0})
    cfg = CompareConfig(picked_lrs={}, lr_from=None, seeds=2, workers=1)
    runs, search = protocol.tune_and_train("smixer_dstsp", "nmnist_digits", cfg, tmp_path)
    assert [c[2] for c in calls] == ["seed0", "seed1"] and len(search) == 1
    assert protocol.model_name("smixer_dstsp", "nmnist_digits") == "smixer_tiny_events"


def test_protocol_presets_and_overrides():
    full = protocol_config("full")
    assert (full.protocol, full.epochs, full.lrs, full.seeds) == ("full", PROTOCOLS["full"]["epochs"],
                                                                 PROTOCOLS["full"]["lrs"], 3)
    assert protocol_config("full", seeds=5, epochs=None).seeds == 5  # None = the preset's value
    # the full protocol's recorded runs (docs/results) trained at batch 32; a rerun with --lr-from must match
    assert (full.batch_size, CompareConfig().batch_size) == (32, 16)
    assert protocol_config("quick") == CompareConfig()
    with pytest.raises(ValueError, match="protocol 'long'; choose one of"):
        protocol_config("long")


def test_cli_flags_override_the_preset_and_defaults_keep_it(monkeypatch):
    from smolmamba import cli
    from smolmamba.experiments import compare

    seen = []
    monkeypatch.setattr(compare, "run_compare", seen.append)
    assert cli.main(["compare", "--protocol", "full"]) == 0
    assert seen[-1] == protocol_config("full")
    assert cli.main(["compare", "--protocol", "full", "--datasets", "digits", "--lr", "1e-3", "--patience", "0",
                     "--val-fraction", "0"]) == 0
    cfg = seen[-1]
    assert (cfg.datasets, cfg.lrs, cfg.patience, cfg.val_fraction, cfg.epochs) == (
        ("digits",), (1e-3,), 0, 0.0, PROTOCOLS["full"]["epochs"])
    assert cli.main(["compare"]) == 0 and seen[-1] == CompareConfig()


def write_results(folder: Path, summary: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({"summary": summary}))
    return folder


def test_lr_from_trains_each_model_at_the_lr_it_picked_before(monkeypatch, tmp_path):
    earlier = write_results(tmp_path / "earlier", [{"dataset": "digits", "model": "smolmamba_tiny", "lr": 1e-2},
                                                   {"dataset": "digits", "model": "spikformer_tiny", "lr": 2.5e-3}])
    picked = protocol.lrs_picked_in(earlier)
    assert picked == {"digits/smolmamba_tiny": 1e-2, "digits/spikformer_tiny": 2.5e-3}
    calls = fake_trainer(monkeypatch, {1e-2: 90.0, 2.5e-3: 80.0})
    cfg = CompareConfig(lrs=(1e-3, 5e-3), picked_lrs=picked, lr_from="earlier", seeds=2, workers=1)
    logged = []
    runs, search = protocol.tune_and_train("spikformer", "digits", cfg, tmp_path / "runs", log=logged.append)
    assert calls == [(0, 2.5e-3, "seed0"), (1, 2.5e-3, "seed1")]  # cfg.lrs ignored: no search
    assert [r.lr for r in search] == [2.5e-3] and "as picked in earlier" in logged[0]
    with pytest.raises(ValueError, match="no lr for digits/smixer_tiny"):
        protocol.tune_and_train("smixer_dstsp", "digits", cfg, tmp_path / "runs")


def test_lr_from_refuses_a_folder_without_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json there"):
        protocol.lrs_picked_in(tmp_path)
    with pytest.raises(ValueError, match="records no lr per model"):
        protocol.lrs_picked_in(write_results(tmp_path / "empty", []))


def test_cli_lr_from_records_the_folder_name_and_excludes_lr(monkeypatch, tmp_path, capsys):
    from smolmamba import cli
    from smolmamba.experiments import compare

    earlier = write_results(tmp_path / "20261202-190220", [{"dataset": "digits", "model": "smolmamba_tiny",
                                                            "lr": 1e-2}])
    seen = []
    monkeypatch.setattr(compare, "run_compare", seen.append)
    assert cli.main(["compare", "--datasets", "digits", "--lr-from", str(earlier)]) == 0
    assert (seen[-1].lr_from, seen[-1].picked_lrs) == ("20261202-190220", {"digits/smolmamba_tiny": 1e-2})
    assert cli.main(["compare", "--lr", "1e-3", "--lr-from", str(earlier)]) == 2  # a user error, as every other
    assert "smolmamba compare: error: give --lr or --lr-from, not both" in capsys.readouterr().err


@pytest.mark.slow
def test_worker_processes_train_the_jobs_in_order_and_hand_back_their_best_weights(tmp_path):
    """Two 1-thread processes (spawned) train two runs; the parent reads each run's best/ weights."""
    import torch

    from smolmamba.train import checkpoint as ckpt

    cfg = CompareConfig(epochs=1, train_subset=96, workers=2, seeds=2)
    jobs = [protocol.RunJob("smixer_dstsp", "digits", seed, 5e-3, tmp_path / f"seed{seed}") for seed in (0, 1)]
    runs = protocol.train_jobs(jobs, cfg)
    assert [(r.seed, r.run_dir) for r in runs] == [(0, tmp_path / "seed0"), (1, tmp_path / "seed1")]
    for run in runs:
        best, _ = ckpt.load_model(ckpt.resolve(run.run_dir / "best"))
        assert not run.model.training and run.best_val_top1 is not None and len(run.val_curve) == 1
        assert all(torch.equal(a, b) for a, b in zip(run.model.state_dict().values(), best.state_dict().values()))
    first, second = (next(iter(r.model.state_dict().values())) for r in runs)
    assert not torch.equal(first, second)  # seeds 0 and 1: two different runs


@pytest.mark.slow
def test_a_stopped_compare_resumes_in_its_folder_and_ends_as_an_uninterrupted_one(monkeypatch, tmp_path, capsys):
    """Cut after the first epoch's checkpoint, `compare --resume` finishes the run from it: the same
    validation curve and test top-1 as a run that was never stopped (exact resume on CPU)."""
    from smolmamba import cli
    from smolmamba.train import loop
    from smolmamba.train.signals import TrainingInterrupted

    options = ["compare", "--models", "smixer_dstsp", "--seeds", "1", "--epochs", "2", "--train-subset", "64",
               "--test-subset", "32", "--no-sweep", "--no-masks"]
    assert cli.main(options + ["--output", str(tmp_path / "whole")]) == 0
    (whole,) = (tmp_path / "whole").iterdir()
    after_epoch = loop.Saves.after_epoch

    def cut(self, improved, total_steps):
        after_epoch(self, improved, total_steps)
        raise TrainingInterrupted(self.run_dir / "last", 15)

    monkeypatch.setattr(loop.Saves, "after_epoch", cut)
    with pytest.raises(TrainingInterrupted):
        cli.main(options + ["--output", str(tmp_path / "cut")])
    monkeypatch.setattr(loop.Saves, "after_epoch", after_epoch)
    (stopped,) = (tmp_path / "cut").iterdir()
    assert not (stopped / "results.json").exists()
    assert cli.main(["compare", "--resume", str(stopped), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err
    assert cli.main(["compare", "--resume", str(stopped)]) == 0
    first, resumed = (json.loads((d / "results.json").read_text())["runs"][0] for d in (whole, stopped))
    assert len(resumed["val_curve"]) == 2 and resumed["val_curve"] == first["val_curve"]
    assert (resumed["top1"], resumed["epochs_run"]) == (first["top1"], first["epochs_run"])
    (stopped / "compare_config.json").unlink()  # as in folders of older versions: the options from results.json
    assert cli.main(["compare", "--resume", str(stopped)]) == 0  # a finished folder: nothing is trained again
    again = json.loads((stopped / "results.json").read_text())["runs"][0]
    assert again["val_curve"] == first["val_curve"] and again["top1"] == first["top1"]


def test_every_config_field_is_an_option_of_its_command(monkeypatch, capsys):
    """compare's and ablate's options are made from their config's fields, so none is left out or copied."""
    import dataclasses

    from smolmamba import cli
    from smolmamba.cli_experiments import COMPARE_OWN
    from smolmamba.config_flags import _flag
    from smolmamba.experiments import ablate
    from smolmamba.experiments.config import AblateConfig

    for command, cls, own in (("compare", CompareConfig, COMPARE_OWN), ("ablate", AblateConfig, ())):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        flags = [_flag(f) for f in dataclasses.fields(cls) if f.name not in own]
        assert all(flag in text for flag in flags), [f for f in flags if f not in text]
    seen = []
    monkeypatch.setattr(ablate, "run_ablate", seen.append)
    assert cli.main(["ablate", "--only", "block", "state", "--seeds", "2", "--lr", "1e-3"]) == 0
    assert seen[-1] == AblateConfig(studies=("block", "state"), seeds=2, lr=1e-3)
    assert cli.main(["ablate"]) == 0 and seen[-1] == AblateConfig()
    with pytest.raises(SystemExit):  # argparse exits 2 and names the valid studies
        cli.main(["ablate", "--only", "everything"])
    assert "invalid choice: 'everything' (choose from 'alignment'" in capsys.readouterr().err
