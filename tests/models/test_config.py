"""ModelCfg nested by concern: the flat options map onto the parts, overrides switch mixers, options of
another mixer are refused, and every part checks itself."""

import dataclasses
import json

import pytest

from smolmamba.layers.attention import SpikingSelfAttention
from smolmamba.layers.ssm import SpikingSSM
from smolmamba.models import (InputCfg, ModelCfg, NeuronCfg, PruningCfg, SSACfg, SSMCfg, create_model, list_models,
                              model_cfg)
from smolmamba.models.config import FLAT_OPTIONS, MIXERS, PARTS, TOP


def test_flat_options_name_every_field_of_every_part_once():
    expected = {(TOP, f.name) for f in dataclasses.fields(ModelCfg) if f.name not in (*PARTS, "mixer")}
    expected |= {(part, f.name) for part, cls in PARTS.items() for f in dataclasses.fields(cls)}
    expected |= {(kind, f.name) for kind, cls in MIXERS.items() for f in dataclasses.fields(cls)}
    expected.add(("mixer", "kind"))
    assert sorted(FLAT_OPTIONS.values()) == sorted(expected)


def test_flat_overrides_reach_their_parts():
    model = create_model("smolmamba_tiny", keep_ratios=(0.7, 0.5), tau=3.0, d_state=4, img_size=8)
    cfg = model.cfg
    assert cfg.pruning.keep_ratios == (0.7, 0.5) and cfg.neuron.tau == 3.0 and cfg.input.img_size == 8
    assert cfg.mixer == SSMCfg(d_state=4)
    assert [b.pruner is not None for b in model.blocks] == [True, False, True, False]
    assert model.blocks[0].in_lif.tau == 3.0 and model.blocks[0].mixer.forward_dir.d_state == 4
    assert cfg.replace(pruning_mode="off").pruning.mode == "off"


@pytest.mark.parametrize("name, option, owner", [
    ("smolmamba_tiny", dict(num_heads=4), "ssa"),
    ("smolmamba_tiny", dict(attn_scale=0.25), "ssa"),
    ("spikformer_tiny", dict(u_norm="batch"), "ssm"),
    ("smixer_tiny", dict(d_state=4), "ssm"),
    ("smixer_tiny", dict(num_heads=2), "ssa"),
])
def test_an_option_of_another_mixer_is_refused_naming_it_and_its_mixer(name, option, owner):
    with pytest.raises(ValueError, match=rf"{next(iter(option))} is an option of the '{owner}' mixer"):
        create_model(name, **option)


def test_an_override_switches_the_mixer_to_its_defaults_plus_its_options():
    ssa = create_model("smolmamba_tiny", mixer="ssa", num_heads=4)
    assert ssa.cfg.mixer == SSACfg(num_heads=4) and isinstance(ssa.blocks[0].mixer, SpikingSelfAttention)
    back = ssa.cfg.replace(mixer="ssm")
    assert back.mixer == SSMCfg()  # the tiny preset's d_state=8 does not come back
    assert isinstance(create_model("spikformer_tiny", mixer="ssm").blocks[0].mixer, SpikingSSM)
    same = model_cfg("smolmamba_tiny").replace(mixer="ssm")
    assert same.mixer == SSMCfg(d_state=8)  # the same mixer keeps its options
    with pytest.raises(ValueError, match="u_norm is an option of the 'ssm' mixer"):
        model_cfg("smolmamba_tiny", mixer="ssa", u_norm="batch")
    with pytest.raises(ValueError, match="mixer='attention' is unknown"):
        model_cfg("smolmamba_tiny", mixer="attention")


@pytest.mark.parametrize("name", list_models())
def test_flat_and_json_forms_round_trip(name):
    cfg = model_cfg(name)
    assert ModelCfg.from_flat(**cfg.fields()) == cfg
    assert ModelCfg.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    assert ("num_heads" in cfg.fields()) == (cfg.mixer.kind == "ssa")


@pytest.mark.parametrize("make, match", [
    (lambda: InputCfg(patch_size=3), "power of two"),
    (lambda: InputCfg(events=True, in_chans=3), "polarity"),
    (lambda: NeuronCfg(tau=0), "tau"),
    (lambda: NeuronCfg(surrogate_alpha=-1.0), "surrogate_alpha"),
    (lambda: SSMCfg(scan_impl="trtion"), "scan_impl"),
    (lambda: SSACfg(num_heads=0), "num_heads"),
    (lambda: PruningCfg(mode="sometimes"), "pruning_mode"),
    (lambda: PruningCfg(keep_ratios="most"), "keep_ratios"),
    (lambda: ModelCfg(mixer="ssa"), "mixer must be one of"),
    (lambda: ModelCfg(embed_dim=40, mixer=SSACfg(num_heads=3)), "num_heads=3 must divide embed_dim=40"),
])
def test_each_part_checks_itself_when_made(make, match):
    with pytest.raises(ValueError, match=match):
        make()
