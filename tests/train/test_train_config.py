from pathlib import Path

import pytest
import yaml

from smolmamba.train.config import TrainConfig, load_config, save_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: smolmamba_tiny\nepochs: 3\nlr: 0.01\nmodel_overrides: {depth: 2}\n")
    cfg = load_config(path, ["lr=1e-3", "batch_size=8", "clip_grad=1", "model.keep_ratios=[0.8,0.6]",
                             "resume=auto", "T=null"])
    assert cfg.epochs == 3 and cfg.lr == 1e-3 and isinstance(cfg.clip_grad, float) and cfg.batch_size == 8
    assert cfg.model_overrides == {"depth": 2, "keep_ratios": [0.8, 0.6]}
    assert cfg.resume == "auto" and cfg.T is None


def test_unknown_key_names_it_and_suggests(tmp_path):
    with pytest.raises(ValueError, match=r"'epoch'.*did you mean 'epochs'.*valid options:.*batch_size"):
        load_config(None, ["epoch=3"])
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 0.1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_config(path)


def test_bad_values_name_the_fix():
    with pytest.raises(ValueError, match="amp="):
        load_config(None, ["amp=fp8"])
    with pytest.raises(ValueError, match="option epochs must be int, got 'many'"):
        load_config(None, ["epochs=many"])
    with pytest.raises(ValueError, match="not key=value"):
        load_config(None, ["epochs"])
    with pytest.raises(ValueError, match="batch_size must be even"):
        load_config(None, ["mixup=0.8", "batch_size=7"])


def test_resolved_config_roundtrip(tmp_path):
    cfg = load_config(None, ["model.keep_ratios=[0.7,0.5]", "epochs=2"])
    save_config(cfg, tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["model_overrides"] == {"keep_ratios": [0.7, 0.5]}
    assert load_config(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs(path):
    from smolmamba.data.registry import DATASETS
    from smolmamba.models import model_cfg

    text = path.read_text()
    if "???" in text:
        with pytest.raises(ValueError, match="data_root"):
            load_config(path)
    cfg = load_config(path, ["data_root=/data"] if "???" in text else [])
    m = model_cfg(cfg.model, **cfg.model_overrides)
    spec = DATASETS[cfg.dataset]
    # a folder dataset (imagenet) reads classes and channels from the data: the config matrix checks those
    assert spec.num_classes in (None, m.num_classes) and spec.in_chans in (None, m.input.in_chans)
    assert (spec.kind == "events") == m.input.events


def test_defaults_are_the_digits_config():
    cfg = load_config(CONFIGS[0].with_name("digits_smolmamba_tiny.yaml"))
    assert (cfg.model, cfg.dataset) == (TrainConfig().model, TrainConfig().dataset)


def test_flat_model_overrides_reach_the_built_model():
    from smolmamba.train.setup import build_model_and_data

    cfg = load_config(None, ["model=smolmamba_tiny", "dataset=digits", "train_subset=8", "model.embed_dim=16",
                             "model.depth=2", "model.keep_ratios=[0.7,0.5]", "model.tau=3.0"])
    model, _, _ = build_model_and_data(cfg)
    assert model.cfg.pruning.keep_ratios == (0.7, 0.5) and model.cfg.neuron.tau == 3.0
    assert all(b.pruner is not None for b in model.blocks) and model.blocks[0].in_lif.tau == 3.0
    with pytest.raises(ValueError, match="num_heads is an option of the 'ssa' mixer"):
        build_model_and_data(load_config(None, ["model=smolmamba_tiny", "model.num_heads=4"]))
