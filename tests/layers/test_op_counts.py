"""Each layer's own operation count (op_counts) and profile label, against counts done by hand.

The expected numbers are worked out in the comments, not by the formulas under test.
"""

import pytest
import torch
from torch import nn

from smolmamba.layers.attention import SpikingSelfAttention, kv_first
from smolmamba.layers.block import Block
from smolmamba.layers.carry import BlockCarry
from smolmamba.layers.counts import SpikeStats
from smolmamba.layers.dstsp import DSTSP
from smolmamba.layers.mixer_cfg import SSMCfg
from smolmamba.layers.norms import ScaleNorm
from smolmamba.layers.pruning import TokenPruner, sort_comparisons
from smolmamba.layers.smixer import SpikingTokenMixer
from smolmamba.layers.ssm import SpikingSSM, scan_ops

LIF_KW = {"tau": 2.0, "v_threshold": 1.0, "surrogate": "sigmoid", "detach_reset": False}


def no_spikes(lif):
    return None


def test_scan_ops_by_hand():
    # one sequence of 2 tokens, 1 channel, state size 1. Per token and direction: delta bias 1,
    # softplus 1, exp(dA) 2, dB*u 2, state update 1, readout 1, D*u 1 = 9;
    # 2 tokens x 2 directions = 36; summing the directions: 2 more.
    assert scan_ops(1, 1, 2, 1, 1, aligned=False) == 38
    # aligned: the gap decay adds 1 per token and direction: 36 + 4 + 2
    assert scan_ops(1, 1, 2, 1, 1, aligned=True) == 42
    # T=2, B=3, n=4, E=5, N=2: 120 (token, channel) pairs, each 2 directions x 14 + 1 = 29 operations
    assert scan_ops(2, 3, 4, 5, 2, aligned=False) == 3480


def test_ssm_counts_its_scan_and_gate():
    ssm = SpikingSSM(4, SSMCfg(expand=1, d_state=1, dt_rank=1, scan_impl="reference"), LIF_KW)
    s = torch.zeros(1, 1, 2, 4)  # T=1, B=1, n=2 tokens, D=E=4
    scan, gate = ssm.op_counts({"s": s, "positions": None, "align": True}, None, no_spikes)
    assert (scan.suffix, scan.kind, scan.dense, scan.spike_driven) == (".scan", "scan", 4 * 38, False)
    assert (gate.suffix, gate.kind, gate.dense) == (".gate", "gate", 8)  # 2 tokens x 4 channels
    positions = torch.tensor([[0, 3]])
    assert ssm.op_counts({"s": s, "positions": positions, "align": True}, None, no_spikes)[0].dense == 4 * 42  # aligned
    assert ssm.op_counts({"s": s, "positions": positions, "align": False}, None, no_spikes)[0].dense == 4 * 38  # naive


def test_attention_order_rule():
    assert kv_first("auto", 6, 4) and not kv_first("auto", 4, 8) and not kv_first("auto", 4, 4)
    assert kv_first("kv_first", 1, 8) and not kv_first("qk_first", 8, 1)


@pytest.mark.parametrize("order,dense", [("auto", 24), ("kv_first", 24), ("qk_first", 36)])
def test_attention_counts_by_hand(order, dense):
    # n=3 tokens, D=4, 2 heads of 2 channels. K^T V first: 3 x 2 x 2 = 12 per head, 24 in all;
    # Q K^T first: 3 x 3 x 2 = 18 per head, 36. "auto" picks K^T V first, as n=3 > 2.
    attn = SpikingSelfAttention(4, 2, LIF_KW, order=order)
    rates = {attn.q_lif: 6, attn.k_lif: 3, attn.v_lif: 12}  # of 12 elements: 1/2, 1/4, 1
    first, second = attn.op_counts({"s": torch.zeros(1, 1, 3, 4)}, None, lambda lif: SpikeStats(rates[lif], 12, True))
    assert first.dense == second.dense == dense and first.kind == second.kind == "synapse"
    if order == "qk_first":  # Q AND K: 1/2 x 1/4; then times V: 1
        assert (first.stats.rate, second.stats.rate) == (0.125, 1.0)
    else:  # K AND V: 1/4 x 1; then Q times it: 1/2
        assert (first.stats.rate, second.stats.rate) == (0.25, 0.5)


def test_token_mixer_counts_by_hand():
    mixer = SpikingTokenMixer(4, 3, LIF_KW)
    (mix,) = mixer.op_counts({"s": torch.zeros(1, 2, 3, 4)}, None, no_spikes)
    assert (mix.suffix, mix.dense) == (".token_mix", 72)  # 2 samples x (3 x 3 matrix) x 4 channels


def test_pruners_count_scoring_and_sorting_by_hand():
    assert sort_comparisons(1, 4) == 8  # 4 scores: 4 x log2 4
    spikes = torch.zeros(2, 1, 4, 3)  # T=2, B=1, n=4, D=3
    (count,) = TokenPruner("sst_tp", 0.5, 4).op_counts({"x": spikes, "spikes": spikes}, None, no_spikes)
    assert (count.kind, count.dense) == ("add", 24 + 16 + 8)  # spike sums 2x4x3, 4 per token, sort
    (count,) = DSTSP().op_counts({"tokens": spikes}, None, no_spikes)
    assert (count.kind, count.dense) == ("add", 24 + 8 + 2)  # spike sums, sort of 4 tokens, of 2 steps


def test_block_and_scale_norm_count_elementwise():
    block = Block(4, SpikingTokenMixer(4, 3, LIF_KW), 8, LIF_KW)
    out = (torch.zeros(1, 2, 3, 4), BlockCarry())
    assert block.op_counts({}, out, no_spikes)[0][:3] == (".residual", "add", 48)  # 2 adds x 24 elements
    assert ScaleNorm(4).op_counts({}, torch.zeros(5, 4), no_spikes)[0][:3] == ("", "norm", 20)


def test_max_pool_counts_comparisons():
    from smolmamba.energy import EnergyMeter

    pool = nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1))
    with EnergyMeter(pool) as meter:
        pool(torch.rand(1, 1, 4, 4))
    (row,) = meter.report().layers
    assert (row["kind"], row["dense"]) == ("add", 32)  # 2x2 outputs, 8 comparisons each


def test_profile_labels_come_from_the_layers():
    from smolmamba.bench.profile import component_of_modules
    from smolmamba.models import create_model

    model = create_model("smolmamba_tiny", depth=1, keep_ratios=(0.5,))
    labels = {name: component_of_modules(model).get(module) for name, module in model.named_modules()}
    expected = {"patch_embed": "patch_embed", "patch_embed.convs.0": None, "blocks.0": "residual",
                "blocks.0.in_lif": "neurons", "blocks.0.pruner": "pruner", "blocks.0.mixer": "mixer",
                "blocks.0.mixer.in_proj": "projections", "blocks.0.mixer.u_norm": "norms",
                "blocks.0.mixer.forward_dir.x_proj": "projections", "blocks.0.mixer.y_lif": "neurons",
                "blocks.0.mlp": "mlp", "blocks.0.mlp.fc1": "mlp", "blocks.0.mlp.norm1": "norms",
                "head": "head", "head_norm": "head"}
    assert {k: labels[k] for k in expected} == expected
