"""timm's feature interface: forward_intermediates, prune_intermediate_layers, feature_info, features_only;
pruned tokens go back to their grid positions with zeros (silent tokens) where tokens were pruned."""

import copy

import pytest
import timm
import torch

import smolmamba  # noqa: F401  (files the models with timm)
from smolmamba.models import create_model
from smolmamba.models.intermediates import take_indices, token_map
from smolmamba.models.summary import example_input

SMALL = dict(img_size=8, embed_dim=16, time_steps=2)  # 16 tokens (patch 2), D = 16, T = 2


def pair(name: str, **overrides):
    model = create_model(name, **{**SMALL, **overrides}).eval()
    return model, example_input(model.cfg, 2, torch.Generator().manual_seed(0))


def test_maps_put_kept_tokens_at_their_positions_and_zeros_elsewhere():
    model, x = pair("smolmamba_tiny")
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        tokens, trace = model.forward_features_with_info(x)
    torch.testing.assert_close(final, tokens, rtol=0, atol=0)
    assert len(maps) == len(model.feature_info) == model.cfg.depth + 1
    assert all(m.shape == (2, 16, 4, 4) for m in maps)
    last = maps[-1].flatten(2).transpose(1, 2)  # (B, N, D)
    positions = trace.positions[-1]  # (B, k)
    kept = torch.zeros(2, 16, dtype=torch.bool).scatter(1, positions, True)
    assert not last[~kept].any()
    torch.testing.assert_close(torch.gather(last, 1, positions[..., None].expand(-1, -1, 16)), tokens.mean(0))


def test_fused_token_is_left_off_the_grid():
    tokens = torch.arange(2 * 1 * 3 * 1, dtype=torch.float32).view(2, 1, 3, 1)  # T=2, B=1, n=3 (last fused)
    grid = token_map(tokens, torch.tensor([[1, 2, 4]]), grid=2)  # N = 4: position 4 is the fused token
    assert grid.flatten().tolist() == [0.0, 1.5, 2.5, 0.0]
    assert token_map(tokens[:, :, :3], torch.tensor([[0, 1, 2]]), 2, "NHWC").shape == (1, 2, 2, 1)
    with pytest.raises(ValueError, match="output_fmt"):
        token_map(tokens, None, 2, "NLC")


def test_take_indices_follow_timm():
    assert take_indices(5, None) == ([0, 1, 2, 3, 4], 4)
    assert take_indices(5, 2) == ([3, 4], 4)
    assert take_indices(5, [0, -1]) == ([0, 4], 4)
    with pytest.raises(ValueError, match="levels 0..4"):
        take_indices(5, [5])


@pytest.mark.parametrize("name", ["smolmamba_tiny", "spikformer_evit_tiny", "smixer_tiny"])
def test_stop_early_and_pruned_taps_equal_the_full_models(name):
    model, x = pair(name)
    with torch.no_grad():
        taps = model.forward_intermediates(x, intermediates_only=True)
        for i in range(len(taps)):
            (early,) = model.forward_intermediates(x, indices=[i], stop_early=True, intermediates_only=True)
            torch.testing.assert_close(early, taps[i], rtol=0, atol=0)
    pruned = copy.deepcopy(model).train()
    take = pruned.prune_intermediate_layers([2])
    assert take == [2] and len(pruned.blocks) == 2 and pruned.num_classes == 0
    (tap,) = pruned.forward_intermediates(x, indices=take, intermediates_only=True)
    (tap + 0 * pruned(x).sum()).sum().backward()
    assert not [n for n, p in pruned.named_parameters() if p.requires_grad and p.grad is None]


def test_features_only_through_timm():
    net = timm.create_model("smolmamba_tiny", features_only=True, out_indices=(1, 3), **SMALL).eval()
    assert net.feature_info.channels() == [16, 16] and net.feature_info.reduction() == [2, 2]
    x = example_input(create_model("smolmamba_tiny", **SMALL).cfg, 2)
    assert [tuple(f.shape) for f in net(x)] == [(2, 16, 4, 4)] * 2
    assert net.pretrained_cfg["input_size"] == (1, 8, 8)
    every = timm.create_model("smolmamba_tiny", features_only=True, depth=2, keep_ratios=(0.7, 0.5), **SMALL)
    assert len(every.feature_info) == 3  # default: every level (timm's default (0, ..., 4) needs depth 4)


def test_timm_attributes():
    model, _ = pair("smolmamba_tiny")
    assert model.head_hidden_size == model.num_features == 16
    assert model.in_chans == model.pretrained_cfg["input_size"][0] == 1
