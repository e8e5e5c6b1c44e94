"""Spikformer's spiking self-attention (SSA, Zhou et al., ICLR 2023) as a Block mixer.

Shapes: spikes s [T, B, n, D] -> out [T, B, n, D] (real-valued, added to the residual by Block).
Per head: Q, K, V [T, B, h, n, d] with d = D / h, all binary.

Deviation from Spikformer V1: there the residual stream (real values) enters q/k/v_linear directly and
the output passes a proj_lif. Here the Block puts a LIF before the mixer and adds the BN output to
the residual (membrane shortcut, as Spike-driven Transformer), so every Linear sees spikes only
(accumulate-only), exactly like the SSM and SMixer mixers it is compared with.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from smolmamba.layers.carry import MixerOut
from smolmamba.layers.counts import OpCount, SpikeStats
from smolmamba.neurons import LIF

ATTN_THRESHOLD = 0.5  # Spikformer's attn_lif threshold
ORDERS = ("auto", "qk_first", "kv_first")


def kv_first(order: str, n: int, d: int) -> bool:
    """Whether Q K^T V runs as Q (K^T V) (n d^2) rather than (Q K^T) V (n^2 d): "auto" takes the cheaper."""
    return order == "kv_first" or (order == "auto" and n > d)


def spiking_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, order: str = "auto") -> Tensor:
    """Q K^T V * scale without softmax. q, k, v [..., n, d] -> [..., n, d].

    (Q K^T) V costs n^2 d, Q (K^T V) costs n d^2: "auto" takes the cheaper (kv_first when n > d).
    Both are the same product (exact for spikes: every partial sum is an integer).
    """
    if order not in ORDERS:
        raise ValueError(f"order={order!r} is unknown; use one of {ORDERS}")
    n, d = q.shape[-2:]
    if kv_first(order, n, d):
        return q @ (k.transpose(-2, -1) @ v) * scale  # (..., n, d) via (..., d, d)
    return (q @ k.transpose(-2, -1)) @ v * scale  # via (..., n, n)


torch.fx.wrap("spiking_attention")  # a leaf for torch.fx: the order depends on the (traced) shapes


class LinearBN(nn.Module):
    """Linear over channels then BatchNorm1d over channels. [T, B, n, D_in] -> [T, B, n, D_out]."""

    def __init__(self, dim_in: int, dim_out: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out, bias=bias)
        self.norm = nn.BatchNorm1d(dim_out)

    def forward(self, x: Tensor) -> Tensor:
        t, b, n, _ = x.shape
        return self.norm(self.linear(x).flatten(0, 2)).view(t, b, n, -1)


class SpikingSelfAttention(nn.Module):
    """Q, K, V = LIF(BN(Linear(s))); LIF_0.5(Q K^T V * scale) per head; Linear + BN.

    forward(s [T,B,n,D] spikes, positions (ignored), align (ignored)) -> MixerOut(out [T,B,n,D]).
    Linear layers carry a bias, as Spikformer's CIFAR model (4 * (D^2 + D) weights and biases).
    """

    profile_label, profile_inner_label = "mixer", "projections"

    def __init__(self, dim: int, num_heads: int, lif_kwargs: dict, scale: float = 0.125,
                 bias: bool = True, order: str = "auto"):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim={dim} is not divisible by num_heads={num_heads}; pick a divisor")
        if order not in ORDERS:
            raise ValueError(f"order={order!r} is unknown; use one of {ORDERS}")
        self.num_heads, self.scale, self.order = num_heads, scale, order
        self.q, self.k, self.v = (LinearBN(dim, dim, bias) for _ in range(3))
        self.q_lif, self.k_lif, self.v_lif = (LIF(**lif_kwargs) for _ in range(3))
        self.attn_lif = LIF(**{**lif_kwargs, "v_threshold": ATTN_THRESHOLD})
        self.proj = LinearBN(dim, dim, bias)

    def heads(self, x: Tensor) -> Tensor:
        """[T, B, n, D] -> [T, B, h, n, D/h]."""
        t, b, n, d = x.shape
        return x.view(t, b, n, self.num_heads, d // self.num_heads).transpose(2, 3)

    def forward(self, s: Tensor, positions: Tensor | None = None, align: bool = True) -> MixerOut:
        t, b, n, d = s.shape
        q = self.heads(self.q_lif(self.q(s)))  # (T, B, h, n, d/h) spikes
        k = self.heads(self.k_lif(self.k(s)))
        v = self.heads(self.v_lif(self.v(s)))
        attn = spiking_attention(q, k, v, self.scale, self.order)  # (T, B, h, n, d/h)
        attn = attn.transpose(2, 3).reshape(t, b, n, d)  # (T, B, n, D)
        return MixerOut(self.proj(self.attn_lif(attn)))

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """Q K^T V on spikes, in the order spiking_attention computes it, per head.

        A spike x spike product is an AND: AC x product of the two firing rates (Spikformer's rule);
        the integer matrix it gives times spikes is AC x the spikes' firing rate.
        """
        t, b, n, d = inputs["s"].shape
        h, dh = self.num_heads, d // self.num_heads
        q, k, v = (spikes(lif) for lif in (self.q_lif, self.k_lif, self.v_lif))
        first_kv = kv_first(self.order, n, dh)
        per_head = t * b * h * n * dh * (dh if first_kv else n)
        (a, a2), c = ((k, v), q) if first_kv else ((q, k), v)  # spike x spike, then matrix x spikes
        both = SpikeStats(a.rate * a2.rate * q.elements, q.elements, a.binary and a2.binary)  # an AND
        then = SpikeStats(c.rate * q.elements, q.elements, q.binary and v.binary)
        return [OpCount(".attn_first", "synapse", per_head, both), OpCount(".attn_second", "synapse", per_head, then)]

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, scale={self.scale}, order={self.order!r}"
