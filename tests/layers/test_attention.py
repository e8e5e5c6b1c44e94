import pytest
import torch

from smolmamba.layers.attention import SpikingSelfAttention, spiking_attention
from smolmamba.layers.block import Block
from smolmamba.layers.carry import BlockCarry

LIF_KW = {"tau": 2.0, "v_threshold": 1.0, "surrogate": "sigmoid", "detach_reset": False}


def random_spikes(*shape, rate=0.3, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < rate).to(dtype)


def test_shapes_and_no_aux():
    attn = SpikingSelfAttention(16, 4, LIF_KW)
    out, aux = attn(random_spikes(3, 2, 10, 16), None, True)
    assert out.shape == (3, 2, 10, 16)
    assert aux is None


@pytest.mark.parametrize("n, d", [(12, 4), (3, 8)])
def test_both_orders_are_the_same_product_float64(n, d):
    q, k, v = (random_spikes(2, 3, n, d, dtype=torch.float64, seed=s) for s in range(3))
    qk_first = spiking_attention(q, k, v, 0.125, "qk_first")
    kv_first = spiking_attention(q, k, v, 0.125, "kv_first")
    torch.testing.assert_close(qk_first, kv_first, rtol=0, atol=0)
    torch.testing.assert_close(spiking_attention(q, k, v, 0.125), qk_first, rtol=0, atol=0)


def test_module_orders_match_float64():
    torch.manual_seed(0)
    a = SpikingSelfAttention(8, 2, LIF_KW, order="qk_first").double()
    b = SpikingSelfAttention(8, 2, LIF_KW, order="kv_first").double()
    b.load_state_dict(a.state_dict())
    s = random_spikes(2, 2, 20, 8, rate=0.6, dtype=torch.float64)  # n=20 > head_dim=4
    torch.testing.assert_close(a(s)[0], b(s)[0], rtol=0, atol=0)


def test_hand_computed_single_head():
    q = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    k = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # Q K^T = [[1, 0], [2, 1]]; times V (identity) unchanged; times scale 0.5.
    expected = torch.tensor([[0.5, 0.0], [1.0, 0.5]])
    torch.testing.assert_close(spiking_attention(q, k, v, 0.5), expected)


def test_heads_split_channels_into_contiguous_groups():
    attn = SpikingSelfAttention(4, 2, LIF_KW)
    x = torch.arange(8.0).view(1, 1, 2, 4)  # tokens [0 1 2 3], [4 5 6 7]
    h = attn.heads(x)  # (1, 1, 2 heads, 2 tokens, 2)
    assert h[0, 0, 0].tolist() == [[0, 1], [4, 5]]
    assert h[0, 0, 1].tolist() == [[2, 3], [6, 7]]
    q, k, v = (random_spikes(1, 1, 5, 4, seed=s) for s in range(3))
    two_heads = spiking_attention(attn.heads(q), attn.heads(k), attn.heads(v), 0.125)
    for head, cols in enumerate((slice(0, 2), slice(2, 4))):  # each head alone = a 1-head attention
        alone = spiking_attention(q[..., cols], k[..., cols], v[..., cols], 0.125)
        torch.testing.assert_close(two_heads[:, :, head], alone)


def test_every_linear_sees_binary_spikes_and_has_a_bias():
    torch.manual_seed(0)
    block = Block(16, SpikingSelfAttention(16, 4, LIF_KW), 32, LIF_KW)
    seen = {}
    for name, m in block.named_modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_pre_hook(lambda mod, args, name=name: seen.__setitem__(name, args[0]))
    block(torch.randn(3, 2, 10, 16) * 2, BlockCarry(), False)  # real-valued residual in
    assert len(seen) == 6  # q, k, v, proj, fc1, fc2
    for name, x in seen.items():
        assert ((x == 0) | (x == 1)).all(), f"{name} got non-spike input"
    attn = block.mixer
    linears = [m for m in attn.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 4 and all(m.bias is not None for m in linears)
    assert sum(p.numel() for p in attn.parameters()) == 4 * (16 * 16 + 16) + 4 * 2 * 16


def test_bad_heads_is_an_error():
    with pytest.raises(ValueError, match="num_heads"):
        SpikingSelfAttention(10, 3, LIF_KW)
