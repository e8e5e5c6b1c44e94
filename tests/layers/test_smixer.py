"""SMixer's token mixer, DSTSP and the EViT-style fusing pruner (SMixer, ICLR 2026)."""

import pytest
import torch

from smolmamba.layers.dstsp import DSTSP, FusingTokenPruner, complement, fuse_tokens, kept_steps
from smolmamba.layers.pruning import gather_tokens
from smolmamba.layers.smixer import SpikingTokenMixer, mix_tokens
from smolmamba.neurons import LIF

LIF_KW = {"tau": 2.0, "v_threshold": 1.0, "surrogate": "sigmoid", "detach_reset": False}


def random_spikes(*shape, rate=0.3, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < rate).to(dtype)


KEPT = torch.tensor([[0, 2, 3, 6], [1, 2, 5, 7]])  # per-sample kept positions among N = 8


def silence_dropped(v, kept):
    """v [T, B, N, D] with every token not in kept [B, k] set to 0."""
    mask = torch.zeros(v.shape[1], v.shape[2]).scatter(1, kept, 1.0)
    return v * mask[None, :, :, None]


def test_mixer_shapes():
    mixer = SpikingTokenMixer(8, 10, LIF_KW)
    s = random_spikes(3, 2, 10, 8)
    out, aux = mixer(s, None, True)
    assert out.shape == (3, 2, 10, 8) and aux is None
    out, _ = mixer(s[:, :, :4], torch.tensor([[0, 3, 4, 9], [1, 2, 3, 4]]), True)
    assert out.shape == (3, 2, 4, 8)


def test_cropped_weight_equals_full_mix_with_dropped_tokens_silenced():
    # Exact: W'[pos][:, pos] V_kept == (W V_silenced)[pos], V_silenced = V with dropped tokens zeroed.
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 8, generator=g, dtype=torch.float64)
    v = random_spikes(3, 2, 8, 5, dtype=torch.float64)
    cropped = mix_tokens(w, gather_tokens(v, KEPT), KEPT)
    full = gather_tokens(mix_tokens(w, silence_dropped(v, KEPT), None), KEPT)
    torch.testing.assert_close(cropped, full, rtol=0, atol=1e-12)


def test_module_pruned_equals_dense_with_dropped_values_silenced_in_eval():
    # In eval mode (BN per channel, token-independent), SMixer(s_kept, positions) equals the dense
    # SMixer(s) at the kept rows once the dropped tokens' value spikes are silenced. Train-mode BN
    # statistics depend on which tokens are present, so the equality is an eval-mode one.
    torch.manual_seed(0)
    mixer = SpikingTokenMixer(6, 8, LIF_KW).double().eval()
    for bn in (mixer.v.norm, mixer.mix_norm, mixer.proj.norm):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    mixer.v.norm.bias.data.fill_(1.5)  # make the value LIF fire
    with torch.no_grad():
        mixer.token_weight.mul_(8.0)
    s = random_spikes(4, 2, 8, 6, rate=0.5, dtype=torch.float64)
    fired = []
    mixer.mix_lif.register_forward_hook(lambda mod, args, out: fired.append(out.sum().item()))
    pruned, _ = mixer(gather_tokens(s, KEPT), KEPT, True)
    handle = mixer.v_lif.register_forward_hook(lambda mod, args, out: silence_dropped(out, KEPT))
    dense, _ = mixer(s, None, True)
    handle.remove()
    assert fired[0] > 0 and fired[1] > 0  # the comparison is not between two silent mixers
    torch.testing.assert_close(pruned, gather_tokens(dense, KEPT), rtol=0, atol=1e-12)


def test_gradient_reaches_only_the_kept_block_of_the_token_weight():
    torch.manual_seed(0)
    mixer = SpikingTokenMixer(6, 8, LIF_KW)
    s = random_spikes(3, 2, 4, 6, rate=0.5)
    mixer(s, KEPT, True)[0].square().sum().backward()
    grad = mixer.token_weight.grad
    touched = torch.zeros(8, 8, dtype=torch.bool)
    for row in KEPT:
        touched[row[:, None], row[None, :]] = True
    assert (grad[touched] != 0).any()
    assert (grad[~touched] == 0).all()


def test_fused_slot_and_size_error():
    mixer = SpikingTokenMixer(4, 9, LIF_KW)  # N = 8 plus one fused slot
    positions = torch.tensor([[0, 5, 8], [2, 3, 8]])  # 8: the fused token
    out, _ = mixer(random_spikes(2, 2, 3, 4), positions, True)
    assert out.shape == (2, 2, 3, 4)
    with pytest.raises(ValueError, match="W_M"):
        mixer(random_spikes(2, 1, 10, 4), None, True)


# ---------------------------------------------------------------- DSTSP


@pytest.mark.parametrize("t, p_t, expected", [(4, 1.0, 1), (8, 1.0, 1), (4, 0.5, 2), (8, 0.75, 2),
                                              (4, 0.0, 4), (16, 0.9, 2)])
def test_kept_steps(t, p_t, expected):
    assert kept_steps(t, p_t) == expected


@pytest.mark.parametrize("p_s, p_t, n_kept, t_kept", [(0.3, 1.0, 45, 1), (0.5, 0.5, 32, 2),
                                                      (0.0, 0.0, 64, 4), (0.99, 0.25, 1, 3)])
def test_dstsp_counts_and_fused_token(p_s, p_t, n_kept, t_kept):
    tokens = torch.randn(4, 2, 64, 8)
    out = DSTSP(p_s, p_t, fuse=True, lif_kwargs=LIF_KW)(tokens)
    assert out.positions.shape == (2, n_kept)
    assert out.time_index.shape == (2, t_kept)
    assert out.fused == (n_kept < 64)
    assert out.tokens.shape == (t_kept, 2, n_kept + int(out.fused), 8)
    no_fuse = DSTSP(p_s, p_t, fuse=False, lif_kwargs=LIF_KW)(tokens)
    assert no_fuse.tokens.shape == (t_kept, 2, n_kept, 8) and not no_fuse.fused


def test_dstsp_keeps_highest_siv_steps_and_tokens_in_order_ties_low():
    # T = 3, N = 6, D = 2. Per step spike totals: sample 0 -> step 2 busiest, sample 1 -> step 0.
    t, b, n, d = 3, 2, 6, 2
    spikes = torch.zeros(t, b, n, d)
    spikes[2, 0, [4, 1, 5], 0] = 1.0  # sample 0, step 2: tokens 1, 4, 5 spike once
    spikes[2, 0, 4, 1] = 1.0  # token 4 twice
    spikes[0, 0, 0, 0] = 1.0  # a lone spike on a dropped step
    spikes[0, 1, [3, 2], :] = 1.0  # sample 1, step 0: tokens 2, 3 spike twice
    spikes[0, 1, 0, 0] = 1.0  # token 0 once; tokens 1, 4, 5 tie at 0
    tokens = torch.randn(t, b, n, d)
    out = DSTSP(spatial_prune_rate=0.5, temporal_prune_rate=1.0, fuse=True)(tokens, spikes)
    assert out.time_index.tolist() == [[2], [0]]
    # sample 0 counts (step 2): [0,1,0,0,2,1] -> top 3: 4, 1, 5
    # sample 1 counts (step 0): [1,0,2,2,0,0] -> 2, 3, 0
    assert out.positions.tolist() == [[1, 4, 5], [0, 2, 3]]
    torch.testing.assert_close(out.tokens[0, 0, :3], tokens[2, 0, [1, 4, 5]])
    torch.testing.assert_close(out.tokens[0, 1, :3], tokens[0, 1, [0, 2, 3]])
    ties = DSTSP(spatial_prune_rate=4 / 6, temporal_prune_rate=1.0, fuse=False)(tokens, spikes)
    assert ties.positions.tolist() == [[1, 4], [2, 3]]  # sample 0: 1 and 5 tie, the lower index wins


def test_dstsp_fused_token_is_siv_weighted_mean_of_dropped():
    t, b, n, d = 1, 1, 5, 3
    spikes = torch.zeros(t, b, n, d)
    counts = [3, 0, 1, 2, 3]
    for i, c in enumerate(counts):
        spikes[0, 0, i, :c] = 1.0
    tokens = torch.randn(t, b, n, d, dtype=torch.float64)
    out = DSTSP(spatial_prune_rate=0.4, temporal_prune_rate=0.0, fuse=True)(tokens, spikes.double())
    assert out.positions.tolist() == [[0, 3, 4]]  # dropped: 1 (count 0) and 2 (count 1)
    eps = 1e-6
    w1, w2 = 0 + eps, 1 + eps
    expected = (w1 * tokens[0, 0, 1] + w2 * tokens[0, 0, 2]) / (w1 + w2)
    torch.testing.assert_close(out.tokens[0, 0, -1], expected)


def test_dstsp_scores_with_the_blocks_lif_spikes():
    tokens = torch.randn(4, 2, 16, 8) * 2
    dstsp = DSTSP(0.5, 0.5, fuse=False, lif_kwargs=LIF_KW)
    by_default = dstsp(tokens)
    explicit = dstsp(tokens, LIF(**LIF_KW)(tokens))
    assert torch.equal(by_default.positions, explicit.positions)
    assert torch.equal(by_default.time_index, explicit.time_index)


def test_dstsp_rates_are_validated():
    with pytest.raises(ValueError, match="spatial_prune_rate"):
        DSTSP(spatial_prune_rate=1.0)
    with pytest.raises(ValueError, match="temporal_prune_rate"):
        DSTSP(temporal_prune_rate=1.5)


def test_complement_and_fuse_helpers():
    assert complement(torch.tensor([[4, 1], [0, 2]]), 5).tolist() == [[0, 2, 3], [1, 3, 4]]
    x = torch.arange(12.0).view(1, 1, 4, 3)
    fused = fuse_tokens(x, torch.tensor([[0, 2]]), torch.tensor([[0.0, 0.0]]))  # all silent: plain mean
    torch.testing.assert_close(fused[0, 0, 0], (x[0, 0, 0] + x[0, 0, 2]) / 2)


# ---------------------------------------------------------------- EViT-style block pruner


def test_fusing_pruner_keeps_top_k_plus_one_fused_token_and_folds_it_later():
    torch.manual_seed(0)
    n, d = 10, 4
    x = torch.randn(3, 2, n, d) * 2
    s = LIF(**LIF_KW)(x)
    first = FusingTokenPruner("siv", 0.5, n, LIF_KW)
    positions = torch.arange(n).expand(2, -1)
    x1, s1, p1, imp1 = first(x, s, positions, {})
    assert x1.shape == (3, 2, 6, d) and s1.shape == (3, 2, 6, d)
    assert (p1[:, -1] == n).all() and (p1[:, :-1].diff(dim=1) > 0).all()
    dropped = complement(p1[:, :-1], n)
    expected = fuse_tokens(x, dropped, torch.gather(imp1, 1, dropped))
    torch.testing.assert_close(x1[:, :, -1:], expected)
    torch.testing.assert_close(s1[:, :, -1:], LIF(**LIF_KW)(expected))
    second = FusingTokenPruner("siv", 0.3, n, LIF_KW)
    x2, s2, p2, imp2 = second(x1, s1, p1, {})
    assert p2.shape == (2, 4) and (p2[:, -1] == n).all() and (p2[:, :-1] < n).all()
    dropped2 = complement(torch.searchsorted(p1[:, :-1].contiguous(), p2[:, :-1].contiguous()), 5)
    dropped2 = torch.cat([dropped2, torch.full((2, 1), 5)], dim=1)  # the old fused token folds in
    torch.testing.assert_close(x2[:, :, -1:], fuse_tokens(x1, dropped2, torch.gather(imp2, 1, dropped2)))


def test_fusing_pruner_sst_tp_weights_get_gradient():
    torch.manual_seed(0)
    x = (torch.randn(3, 2, 8, 4) * 2).requires_grad_()
    pruner = FusingTokenPruner("sst_tp", 0.5, 8, LIF_KW)
    x1, s1, _, _ = pruner(x, LIF(**LIF_KW)(x), torch.arange(8).expand(2, -1))
    (x1.sum() + s1.sum()).backward()
    assert pruner.score.raw_weights.grad is not None
    assert pruner.score.raw_weights.grad.abs().sum() > 0
