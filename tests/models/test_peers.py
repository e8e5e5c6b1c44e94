"""Registered peers: Spikformer (SSA), Spikformer + EViT, SMixer (+ DSTSP)."""

import pytest
import torch
import torch.nn.functional as F

from smolmamba.layers.attention import LinearBN
from smolmamba.layers.dstsp import DSTSP, FusingTokenPruner
from smolmamba.models import ModelCfg, count_parameters, create_model, list_models, model_cfg
from smolmamba.models.network import tokens_per_stage
from smolmamba.models.summary import example_input

PEERS = ["spikformer_4_384", "spikformer_8_512", "spikformer_8_768", "spikformer_2_256", "spikformer_tiny",
         "spikformer_tiny_events", "spikformer_evit_tiny", "smixer_tiny", "smixer_tiny_events",
         "smixer_cifar", "smixer_dense_tiny", "smixer_dense_cifar"]
PAPER_PARAMS = {"spikformer_4_384": 9.32e6, "spikformer_8_512": 29.68e6, "spikformer_8_768": 66.34e6,
                "spikformer_2_256": 2.57e6}
TINY_TWINS = {"spikformer_tiny": "smolmamba_tiny", "spikformer_tiny_events": "smolmamba_tiny_events",
              "spikformer_evit_tiny": "smolmamba_tiny", "smixer_tiny": "smolmamba_tiny",
              "smixer_tiny_events": "smolmamba_tiny_events", "smixer_dense_tiny": "smolmamba_tiny"}
SMALL = dict(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=2, time_steps=3, pruner=None)


def wake_mixers(model):
    """At init SSA's attention LIF is silent (Q, K, V fire ~3 %, so Q K^T V * 0.125 < 0.5) and proj's
    weight gets an exactly-zero gradient; shift the q/k/v BNs up (not so far that it saturates)."""
    for block in model.blocks:
        for name, m in block.mixer.named_children():
            if isinstance(m, LinearBN) and name != "proj":
                m.norm.bias.data.fill_(1.0)


def test_every_peer_is_registered():
    assert set(PEERS) <= set(list_models())


@pytest.mark.parametrize("name", PEERS)
def test_peer_forward_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    cfg = model_cfg(name)
    overrides = {}
    if cfg.input.img_size > 64:  # keep CI fast: the 224 / 128 ones run at a small input, fewer blocks
        overrides = dict(img_size=32, depth=min(cfg.depth, 2))
    model = create_model(name, **overrides)
    wake_mixers(model)
    x = example_input(model.cfg, 2) * (1.0 if model.cfg.input.events else 3.0)
    logits = model(x)
    assert logits.shape == (2, cfg.num_classes)
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"no gradient reached {missing}"


@pytest.mark.parametrize("name, paper", sorted(PAPER_PARAMS.items()))
def test_spikformer_parameter_counts_match_the_paper(name, paper):
    params = count_parameters(create_model(name))
    assert abs(params - paper) / paper < 0.02, f"{name}: {params / 1e6:.3f}M vs paper {paper / 1e6:.2f}M"


@pytest.mark.parametrize("name, twin", sorted(TINY_TWINS.items()))
def test_tiny_peers_are_sized_like_smolmamba_tiny(name, twin):
    params, reference = count_parameters(create_model(name)), count_parameters(create_model(twin))
    assert abs(params - reference) / reference < 0.10, f"{name}: {params} vs {twin}: {reference}"


def test_smixer_dstsp_prunes_time_and_tokens_once_after_the_embedding():
    model = create_model("smixer_tiny").eval()
    assert isinstance(model.input_pruner, DSTSP) and model.blocks[0].mixer.num_tokens == 65
    x = example_input(model.cfg, 2)
    tokens, trace = model.forward_features_with_info(x)
    assert tokens.shape == (1, 2, 46, 64)  # T' = 1; N' = round(64 * 0.7) = 45, + 1 fused token
    positions = trace.input_pruning.positions
    assert positions.shape == (2, 46) and (positions[:, -1] == 64).all()
    assert (positions[:, :-1].diff(dim=1) > 0).all()
    assert model(x).shape == (2, 10)


def test_input_pruning_follows_pruning_mode():
    x = example_input(ModelCfg.from_flat(**SMALL), 2)
    cfg = dict(SMALL, mixer="smixer", input_pruner="dstsp", fuse_pruned=True)
    zero_shot = create_model("smixer_tiny", **cfg, pruning_mode="zero_shot")
    assert zero_shot.train().forward_features(x).shape[:3] == (3, 2, 16)
    assert zero_shot.eval().forward_features(x).shape[:3] == (1, 2, 12)  # 11 kept + fused
    off = create_model("smixer_tiny", **cfg, pruning_mode="off").eval()
    assert off.forward_features(x).shape[:3] == (3, 2, 16)


def test_evit_peer_fuses_at_each_stage():
    model = create_model("spikformer_evit_tiny").eval()
    assert all(isinstance(b.pruner, FusingTokenPruner) for b in model.blocks)
    # SmolMamba's keep ratios of N = 64: 51, 38, 32, 26 kept, each + 1 fused token
    assert tokens_per_stage(model, example_input(model.cfg, 2)) == [64, 52, 39, 33, 27]


@pytest.mark.parametrize("overrides, field", [
    (dict(mixer="ssa", embed_dim=40, num_heads=3), "num_heads"),
    (dict(fuse_pruned=True), "fuse_pruned"),
    (dict(input_pruner="dstp"), "input_pruner"),
    (dict(spatial_prune_rate=1.0), "spatial_prune_rate"),
    (dict(temporal_prune_rate=-0.1), "temporal_prune_rate"),
])
def test_peer_options_are_validated(overrides, field):
    with pytest.raises(ValueError, match=field):
        ModelCfg.from_flat(**{**SMALL, **overrides})
