"""SMixer's spiking token mixer (SMixer, ICLR 2026; after STMixer): SN(W_M V), W_M a learnable token matrix.

Shapes: spikes s [T, B, n, D] -> out [T, B, n, D]; W_M [M, M] over tokens, shared by all channels.
SSA's SN(Q K^T V) becomes SN(W_M V): Q and K collapse into W_M, the value branch
V = LIF(BN(Linear(s))) and the output projection Linear + BN stay as in SSA. No spike x spike
product remains, so the mixer is event-driven (weight x spike only).
Deviation: a BatchNorm1d (over channels) sits between W_M V and its LIF, as before every other LIF
of this code base. Without it W_M V is unnormalised and, at SMixer's T' = 1 (a LIF then needs an
input >= 2 V_th), the mixer's LIF stays silent from init. Eval-mode BN is a per-channel scale and
bias current, so no spike x spike product appears.

Pruning: positions [B, n] (original indices of the kept tokens) crop W_M to W_M[pos][:, pos], so a
kept token mixes only kept tokens with the weights it had in the dense model. With a fused token
(the pruned tokens merged into one, EViT-style) W_M has one extra row and column, index M - 1 = N,
reserved for it; the fused token carries position N.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from smolmamba.layers.attention import LinearBN
from smolmamba.layers.carry import MixerOut
from smolmamba.layers.counts import OpCount
from smolmamba.neurons import LIF


def mix_tokens(weight: Tensor, v: Tensor, positions: Tensor | None) -> Tensor:
    """W_M' V per time step and sample. weight [M, M], v [T, B, n, D], positions [B, n] or None.

    None: the first n rows and columns of W_M (dense input); else W_M[pos_b][:, pos_b] per sample.
    """
    n = v.shape[2]
    if positions is None:
        if n > weight.shape[0]:
            raise ValueError(f"{n} tokens arrived but W_M is {tuple(weight.shape)}; build the mixer "
                             f"with num_tokens >= {n}")
        return torch.einsum("ij,tbjd->tbid", weight[:n, :n], v)
    if positions.shape != v.shape[1:3]:
        raise ValueError(f"positions {tuple(positions.shape)} must be [B, n] = {tuple(v.shape[1:3])}")
    rows = weight[positions]  # (B, n, M)
    cropped = torch.gather(rows, 2, positions.unsqueeze(1).expand(-1, n, -1))  # (B, n, n)
    return torch.einsum("bij,tbjd->tbid", cropped, v)


torch.fx.wrap("mix_tokens")  # a leaf for torch.fx: it checks and crops by the (traced) shapes


class SpikingTokenMixer(nn.Module):
    """V = LIF(BN(Linear(s))); LIF(BN(W_M' V)); Linear + BN.

    forward(s [T,B,n,D] spikes, positions [B,n] or None, align (ignored)) -> MixerOut(out [T,B,n,D]).
    num_tokens M: N, or N + 1 with a slot for a fused token. W_M gets nn.Linear's default init
    (uniform, bound 1 / sqrt(M)): it is a linear layer over tokens.
    """

    profile_label, profile_inner_label = "mixer", "projections"

    def __init__(self, dim: int, num_tokens: int, lif_kwargs: dict, bias: bool = True):
        super().__init__()
        self.num_tokens = num_tokens
        self.v = LinearBN(dim, dim, bias)
        self.v_lif = LIF(**lif_kwargs)
        bound = 1.0 / math.sqrt(num_tokens)
        self.token_weight = nn.Parameter(torch.empty(num_tokens, num_tokens).uniform_(-bound, bound))
        self.mix_norm = nn.BatchNorm1d(dim)
        self.mix_lif = LIF(**lif_kwargs)
        self.proj = LinearBN(dim, dim, bias)

    def forward(self, s: Tensor, positions: Tensor | None = None, align: bool = True) -> MixerOut:
        t, b, n, d = s.shape
        v = self.v_lif(self.v(s))  # (T, B, n, D) spikes
        mixed = self.mix_norm(mix_tokens(self.token_weight, v, positions).flatten(0, 2)).view(t, b, n, d)
        return MixerOut(self.proj(self.mix_lif(mixed)))

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """W_M' V: a real n x n matrix times value spikes, per time step and channel."""
        t, b, n, d = inputs["s"].shape
        return [OpCount(".token_mix", "synapse", t * b * n * n * d, spikes(self.v_lif))]

    def extra_repr(self) -> str:
        return f"num_tokens={self.num_tokens}"
