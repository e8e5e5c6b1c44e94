"""Checkpoints timm can load, offline: a run's best/model.safetensors through pretrained_cfg_overlay, and
`smolmamba export --format timm` folders through timm.create_model("local-dir:<folder>", pretrained=True)."""

import json

import pytest
import timm
import torch
from safetensors.torch import save_file

import smolmamba  # noqa: F401  (files the models with timm)
from smolmamba.cli import main
from smolmamba.models import create_model
from smolmamba.models.summary import example_input
from smolmamba.train.checkpoint import save_checkpoint

SMALL = dict(img_size=8, embed_dim=16, time_steps=2, depth=2, keep_ratios=(0.7, 0.5))


def same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def trained(name="smolmamba_tiny"):
    torch.manual_seed(1)
    return create_model(name, **SMALL).eval()


def test_pretrained_file_overlay_loads_a_runs_weights(tmp_path):
    source = trained()
    save_checkpoint(tmp_path / "best", source, "smolmamba_tiny", {"epoch": 0, "step": 0})
    file = tmp_path / "best" / "model.safetensors"
    model = timm.create_model("smolmamba_tiny", pretrained=True, pretrained_cfg_overlay=dict(file=str(file)),
                              **SMALL)
    assert same_weights(source, model) and model.pretrained_cfg["file"] == str(file)
    five = timm.create_model("smolmamba_tiny", pretrained=True, pretrained_cfg_overlay=dict(file=str(file)),
                             num_classes=5, **SMALL)  # a new head, the rest loaded
    assert five.head.out_features == 5 and torch.equal(five.blocks[0].mixer.in_proj.weight,
                                                       source.blocks[0].mixer.in_proj.weight)
    with pytest.raises(ValueError, match="does not fit"):
        timm.create_model("smolmamba_tiny", pretrained=True, pretrained_cfg_overlay=dict(file=str(file)))


def test_export_timm_folder_loads_with_local_dir(tmp_path):
    source = trained("smolmamba_tiny_events")
    save_checkpoint(tmp_path / "best", source, "smolmamba_tiny_events", {"epoch": 0, "step": 0})
    out = tmp_path / "timm"
    assert main(["export", "--checkpoint", str(tmp_path / "best"), "--format", "timm", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "smolmamba_tiny_events" and config["model_args"]["embed_dim"] == 16
    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert model.cfg == source.cfg and same_weights(source, model)
    x = example_input(source.cfg, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_plain_safetensors_file(tmp_path):
    source = trained()
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    model = timm.create_model("smolmamba_tiny", pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / "w.safetensors")), **SMALL)
    assert same_weights(source, model)
