"""`smolmamba train` and `smolmamba eval` end to end on digits, a few steps."""

import json
from pathlib import Path

import pytest

from smolmamba import cli

from train_helpers import tiny_overrides

CONFIG = Path(__file__).parents[2] / "configs" / "digits_smolmamba_tiny.yaml"


@pytest.mark.slow
def test_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--config", str(CONFIG), *tiny_overrides(out, max_steps=3)]) == 0
    assert {"config.yaml", "metrics.csv", "last", "best"} <= {p.name for p in out.iterdir()}
    assert (out / "last" / "manifest.json").is_file()
    header, row = (out / "metrics.csv").read_text().splitlines()[:2]
    assert header.startswith("epoch,step,lr,train_loss") and row.startswith("0,3,")
    capsys.readouterr()

    result = tmp_path / "eval.json"
    assert cli.main(["eval", "--checkpoint", str(out / "last"), "--data", "digits", "--batches", "2",
                     "--batch-size", "16", "--json", str(result)]) == 0
    printed = capsys.readouterr().out
    assert "top-1" in printed and "tokens entering each pruning stage: [64, " in printed
    res = json.loads(result.read_text())
    assert res["images"] == 32 and 0 <= res["top1"] <= 100 and res["top5"] >= res["top1"]
    tokens = res["tokens_per_stage"]  # 64 patches, then two pruning stages (keep 0.7, 0.5)
    assert len(tokens) == 3 and tokens[0] == 64 and tokens[0] > tokens[1] > tokens[2] > 0


def test_cli_errors_name_the_fix(tmp_path, capsys):
    assert cli.main(["train", "--config", str(CONFIG), "epoch=3"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err
    assert cli.main(["eval", "--checkpoint", str(tmp_path), "--data", "digits"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("native", [True, False])
def test_amp_auto_trains_in_bf16_only_where_the_cpu_has_it(tmp_path, capsys, monkeypatch, native):
    from smolmamba import precision

    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    out = tmp_path / "run"
    assert cli.main(["train", "--config", str(CONFIG), *tiny_overrides(out, max_steps=3, amp="auto")]) == 0
    assert f"amp {'bf16' if native else 'none'})" in capsys.readouterr().out
    header, row = (out / "metrics.csv").read_text().splitlines()[:2]
    loss = float(dict(zip(header.split(","), row.split(",")))["train_loss"])
    assert 0 < loss < 10
