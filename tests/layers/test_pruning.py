import pytest
import torch

from smolmamba.layers.pruning import (
    SSTTP,
    TokenPruner,
    first_spike_latency,
    gather_tokens,
    keep_count,
    select_tokens,
)


def spikes_from_pattern(pattern):
    """pattern [T][N] of 0/1 per token -> spikes [T, 1, N, 2] (both channels equal)."""
    s = torch.tensor(pattern, dtype=torch.float32)  # (T, N)
    return s[:, None, :, None].expand(-1, 1, -1, 2).contiguous()


def test_never_spiking_token_gets_latency_T_and_ranks_last():
    # token 0 never spikes, token 1 spikes only at the last step, token 2 at the first step.
    s = spikes_from_pattern([[0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 1, 0]])
    latency = first_spike_latency(s)
    assert latency.tolist() == [[4.0, 3.0, 0.0]]
    # The seed's argmax(spike_history > 0) says 0 for the silent token: the bug this guards against.
    seed_latency = torch.argmax((s.sum(-1) > 0).float(), dim=0)
    assert seed_latency[0, 0] == 0
    importance = SSTTP(alpha=0.0, beta=1.0)(s, {}).detach()
    assert importance[0, 0] == pytest.approx(0.0, abs=1e-6)  # silent: latency score 0
    assert importance[0, 1] > importance[0, 0]
    assert select_tokens(importance, 2).tolist() == [[1, 2]]


def test_importance_combines_normalised_count_and_latency():
    s = spikes_from_pattern([[1, 0], [1, 1], [0, 0], [0, 0]])  # counts 2*2=4 and 1*2=2; latency 0, 1
    alpha, beta = 0.7, 0.2
    importance = SSTTP(alpha=alpha, beta=beta)(s, {}).detach()
    expected = torch.tensor([[alpha * 1.0 + beta * 1.0, alpha * 0.5 + beta * 0.75]])
    torch.testing.assert_close(importance, expected, atol=1e-5, rtol=1e-5)


def test_selected_indices_sorted_and_ties_go_to_lower_index():
    importance = torch.tensor([[0.1, 0.9, 0.5, 0.9, 0.5, 0.0]])
    assert select_tokens(importance, 3).tolist() == [[1, 2, 3]]
    flat = torch.zeros(2, 7)
    assert select_tokens(flat, 3).tolist() == [[0, 1, 2], [0, 1, 2]]
    rand = torch.rand(4, 50)
    idx = select_tokens(rand, 20)
    assert torch.all(idx[:, 1:] > idx[:, :-1])
    top = torch.topk(rand, 20).indices.sort(-1).values
    assert torch.equal(idx, top)


@pytest.mark.parametrize("values", ["random", "ties", "nan_inf", "float64"])
def test_select_tokens_is_a_stable_descending_sort(values):
    """The sort-free selection equals the first k of torch's stable sort, ties and NaN included."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        b, n = int(torch.randint(1, 4, (), generator=gen)), int(torch.randint(1, 40, (), generator=gen))
        k = int(torch.randint(1, n + 1, (), generator=gen))
        importance = torch.randint(0, 3, (b, n), generator=gen).float()
        if values == "random":
            importance = torch.rand(b, n, generator=gen)
        if values == "nan_inf":
            special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0])
            pick = torch.randint(0, 8, (b, n), generator=gen)
            importance = torch.where(pick < 4, special[pick.clamp_max(3)], importance)
        if values == "float64":
            importance = importance.double() + 1e-12 * torch.randint(0, 2, (b, n), generator=gen)
        order = torch.sort(importance, dim=-1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(select_tokens(importance, k), order.sort(dim=-1).values)


@pytest.mark.parametrize("ratio,n,k", [(1.0, 64, 64), (1e-4, 64, 1), (0.5, 1, 1), (0.575, 64, 37),
                                       (0.8, 196, 157)])
def test_keep_count(ratio, n, k):
    assert keep_count(ratio, n) == k


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.01])
def test_keep_ratio_outside_range_rejected(ratio):
    with pytest.raises(ValueError, match="keep_ratio"):
        keep_count(ratio, 10)


def test_unknown_pruner_names_the_closest():
    with pytest.raises(ValueError, match="sst_tp"):
        TokenPruner("sst_pt", 0.5, 16)


def test_sst_tp_weights_get_gradient_and_forward_unchanged():
    torch.manual_seed(0)
    t, b, n, d = 4, 3, 10, 6
    x = torch.randn(t, b, n, d)
    s = (torch.rand(t, b, n, d) < 0.3).float()
    positions = torch.arange(n).expand(b, -1)
    learn = TokenPruner("sst_tp", 0.5, n)
    fixed = TokenPruner("sst_tp_fixed", 0.5, n)
    x1, s1, p1, _ = learn(x, s, positions, {})
    x2, s2, p2, _ = fixed(x, s, positions, {})
    assert torch.equal(s1, s2) and torch.equal(p1, p2) and torch.equal(x1, x2)
    assert set(s1.unique().tolist()) <= {0.0, 1.0}
    w = torch.randn_like(s1)
    (s1 * w).sum().backward()
    grad = learn.score.raw_weights.grad
    assert grad is not None and torch.all(grad.abs() > 0)
    assert not fixed.score.raw_weights.requires_grad


@pytest.mark.parametrize("name", ["sst_tp", "siv", "high_siv", "latency", "clipped", "random"])
def test_every_pruner_keeps_k_sorted_positions(name):
    torch.manual_seed(1)
    t, b, n, d = 2, 2, 12, 4
    x = torch.randn(t, b, n, d)
    s = (torch.rand(t, b, n, d) < 0.4).float()
    positions = torch.arange(100, 100 + 2 * n, 2).expand(b, -1)  # earlier stage kept every other
    pruner = TokenPruner(name, 0.25, 2 * n)  # k = 6 of the original 24
    xk, sk, pk, imp = pruner(x, s, positions)
    assert xk.shape == (t, b, 6, d) and sk.shape == (t, b, 6, d) and pk.shape == (b, 6)
    assert imp.shape == (b, n)
    assert torch.all(pk[:, 1:] > pk[:, :-1])
    local = (pk - 100) // 2
    assert torch.equal(xk, gather_tokens(x, local))


def test_siv_and_high_siv_keep_opposite_ends():
    s = spikes_from_pattern([[1, 1, 0, 1], [1, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]])  # counts 3,1,0,2
    pos = torch.arange(4).expand(1, -1)
    x = torch.randn(4, 1, 4, 2)
    assert TokenPruner("siv", 0.5, 4)(x, s, pos, {})[2].tolist() == [[0, 3]]
    assert TokenPruner("high_siv", 0.5, 4)(x, s, pos, {})[2].tolist() == [[1, 2]]
