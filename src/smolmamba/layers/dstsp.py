"""Pruning with a fused token: SMixer's DSTSP (input level) and the EViT-style block pruner.

SMixer: "SMixer: Rethinking Efficient-Training and Event-Driven SNNs", ICLR 2026,
https://openreview.net/forum?id=78glEsQB0v.

Shapes: tokens [T, B, N, D]; spikes alike; positions [B, k] original indices, ascending;
time_index [B, T'] kept steps, ascending. A fused token is appended last and carries position N.

Fused token: the dropped tokens are merged into one, their importance-weighted mean, as EViT does
(weights = max(score, 0) + eps, so an all-silent set gives the plain mean). SMixer (ICLR 2026) names
"softmatch" for this merge without defining it; EViT's rule is published, parameter-free, and is
what our Spikformer+EViT peer uses, so both peers merge alike.

SIV source for DSTSP: patch-embedding tokens are real-valued (features + position spikes), so they
are scored by the spikes of a parameter-free LIF with the blocks' settings, run on the detached
tokens: exactly the spikes block 0's input LIF would emit on the unpruned tokens.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from smolmamba.layers.counts import OpCount
from smolmamba.layers.pruning import (
    TokenPruner,
    gather_tokens,
    keep_count,
    select_tokens,
    sort_comparisons,
    spike_count,
)
from smolmamba.neurons import LIF

EPS = 1e-6


def kept_steps(time_steps: int, temporal_prune_rate: float) -> int:
    """T' = max(1, round(T * (1 - P_T))); P_T = 1 keeps a single step (SMixer's default)."""
    if not 0.0 <= temporal_prune_rate <= 1.0:
        raise ValueError(f"temporal_prune_rate must lie in [0, 1], got {temporal_prune_rate}")
    return max(1, int(round(time_steps * (1.0 - temporal_prune_rate))))


def complement(index: Tensor, n: int) -> Tensor:
    """index [B, k] of distinct tokens among n -> the other n - k indices [B, n - k], ascending."""
    taken = torch.zeros(index.shape[0], n, dtype=torch.bool, device=index.device).scatter(1, index, True)
    order = torch.arange(n, device=index.device)
    key = torch.where(taken, order + n, order)  # distinct keys: the others first, in index order
    return torch.topk(key, n - index.shape[1], dim=1, largest=False, sorted=True).values  # no stable sort: ONNX


def gather_steps(x: Tensor, time_index: Tensor) -> Tensor:
    """x [T, B, N, D], time_index [B, T'] -> [T', B, N, D]."""
    idx = time_index.t()[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.gather(x, 0, idx)


def fuse_tokens(x: Tensor, index: Tensor, scores: Tensor) -> Tensor:
    """Weighted mean of x's tokens at index [B, m] with weights max(scores, 0) + eps -> [T, B, 1, D]."""
    w = scores.clamp_min(0) + EPS  # (B, m)
    merged = (gather_tokens(x, index) * w[None, :, :, None]).sum(dim=2, keepdim=True)
    return merged / w.sum(dim=1)[None, :, None, None]


class DSTSPOut(NamedTuple):
    tokens: Tensor  # [T', B, N' (+1 fused, last), D]
    positions: Tensor  # [B, N'] original indices of the kept tokens, ascending
    time_index: Tensor  # [B, T'] kept steps, ascending
    importance: Tensor  # [B, N] spatial SIV over the kept steps

    @property
    def fused(self) -> bool:
        """Whether a fused token is appended last."""
        return self.tokens.shape[2] > self.positions.shape[1]


def dstsp_prune(tokens: Tensor, spikes: Tensor, spatial_prune_rate: float, temporal_prune_rate: float,
                fuse: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """DSTSP's selection (see DSTSP) of tokens [T, B, N, D] scored by spikes [T, B, N, D] ->
    (tokens [T', B, N' (+1 fused), D], positions [B, N'], time_index [B, T'], importance [B, N])."""
    t, _, n, _ = tokens.shape
    time_importance = spikes.sum(dim=(2, 3)).t()  # (B, T) temporal SIV
    time_index = select_tokens(time_importance, kept_steps(t, temporal_prune_rate))
    tokens, spikes = gather_steps(tokens, time_index), gather_steps(spikes, time_index)
    importance = spike_count(spikes)  # (B, N) spatial SIV on the kept steps
    index = select_tokens(importance, keep_count(1.0 - spatial_prune_rate, n))
    kept = gather_tokens(tokens, index)
    if fuse and index.shape[1] < n:
        dropped = complement(index, n)
        merged = fuse_tokens(tokens, dropped, torch.gather(importance, 1, dropped))
        kept = torch.cat([kept, merged], dim=2)
    return kept, index, time_index, importance


torch.fx.wrap("dstsp_prune")  # a leaf for torch.fx: kept counts and the fused token follow the shapes


class DSTSP(nn.Module):
    """Dynamic spatial-temporal spiking pruning, once, right after the patch embedding.

    Temporal: keep the T' steps with the most spikes (per sample), in time order. Spatial: on those
    steps keep the N' = max(1, round(N (1 - P_S))) tokens with the most spikes, in original order,
    ties to the lower index; merge the rest into one fused token when `fuse`.
    Scoring is parameter-free and carries no gradient; the kept tokens keep theirs.
    """

    profile_label = "pruner"

    def __init__(self, spatial_prune_rate: float = 0.3, temporal_prune_rate: float = 1.0,
                 fuse: bool = True, lif_kwargs: dict | None = None):
        super().__init__()
        if not 0.0 <= spatial_prune_rate < 1.0:
            raise ValueError(f"spatial_prune_rate must lie in [0, 1), got {spatial_prune_rate}")
        kept_steps(1, temporal_prune_rate)  # validates the rate
        self.spatial_prune_rate, self.temporal_prune_rate = spatial_prune_rate, temporal_prune_rate
        self.fuse = fuse
        self.score_lif = LIF(**(lif_kwargs or {}))

    def forward(self, tokens: Tensor, spikes: Tensor | None = None) -> DSTSPOut:
        """tokens [T, B, N, D]; spikes [T, B, N, D] to score by (default: the scoring LIF's)."""
        if spikes is None:
            with torch.no_grad():
                spikes = self.score_lif(tokens.detach())
        kept, positions, time_index, importance = dstsp_prune(
            tokens, spikes.detach(), self.spatial_prune_rate, self.temporal_prune_rate, self.fuse)
        return DSTSPOut(kept, positions, time_index, importance)

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """Spike sums per token, then sorting the N tokens and the T steps, one AC each."""
        t, b, n, d = inputs["tokens"].shape
        return [OpCount("", "add", t * b * n * d + sort_comparisons(b, n) + b * t * math.log2(max(t, 2)))]

    def extra_repr(self) -> str:
        return (f"spatial_prune_rate={self.spatial_prune_rate}, "
                f"temporal_prune_rate={self.temporal_prune_rate}, fuse={self.fuse}")


def with_fused_position(positions: Tensor, num_tokens: int) -> Tensor:
    """positions [B, k] -> [B, k + 1], the fused token's reserved position num_tokens appended."""
    return torch.cat([positions, positions.new_full((positions.shape[0], 1), num_tokens)], dim=1)


class FusingTokenPruner(TokenPruner):
    """EViT-style block pruner: keep the top k by a named score, merge the rest into one fused token.

    forward(x [T,B,n,D], spikes, positions [B,n], values [T,B,n,E] or None) ->
        (x [T,B,k+1,D], spikes [T,B,k+1,D], positions [B,k+1], importance [B,n]).
    The fused token's spikes are LIF(fused residual), what the block's input LIF would give it.
    A fused token from an earlier stage (position N, last) is never kept as a regular token: it is
    folded into the new one with its own score as weight. Weights carry gradient (as EViT's).
    straight_through as TokenPruner's.
    """

    def __init__(self, name: str, keep_ratio: float, num_original: int, lif_kwargs: dict,
                 straight_through: bool = True):
        super().__init__(name, keep_ratio, num_original, straight_through)
        self.fused_position = num_original
        self.fuse_lif = LIF(**lif_kwargs)

    def forward(self, x: Tensor, spikes: Tensor, positions: Tensor, values: Tensor | None = None):
        importance = self.score(spikes, x, values)  # (B, n)
        index, merged, kept_pos = fuse_select(x, importance, positions, self.k, self.fused_position)
        kept_spikes = self.straight_through_factor(gather_tokens(spikes, index), importance, index)
        return (torch.cat([gather_tokens(x, index), merged], dim=2),
                torch.cat([kept_spikes, self.fuse_lif(merged)], dim=2), kept_pos, importance)


def fuse_select(x: Tensor, importance: Tensor, positions: Tensor, k: int, fused_position: int):
    """EViT's split of x [T, B, n, D] by importance [B, n] -> (index [B, k'] of the kept regular tokens,
    merged [T, B, m, D] the weighted mean of the rest (m = 1; 0 when none is dropped), positions
    [B, k' + m]). An earlier fused token (position fused_position, last) is always merged again."""
    n = x.shape[2]
    # meta tensors hold no positions; taking the last token as regular gives the same shapes
    has_fused = not positions.is_meta and bool((positions[:, -1] == fused_position).all())
    regular = n - int(has_fused)
    index = select_tokens(importance[:, :regular].detach(), min(k, regular))
    kept_pos = torch.gather(positions, 1, index)
    dropped = complement(index, regular)
    if has_fused:
        dropped = torch.cat([dropped, dropped.new_full((dropped.shape[0], 1), n - 1)], dim=1)
    if dropped.shape[1] == 0:
        return index, x[:, :, :0], kept_pos
    merged = fuse_tokens(x, dropped, torch.gather(importance, 1, dropped))  # (T, B, 1, D)
    return index, merged, with_fused_position(kept_pos, fused_position)


torch.fx.wrap("fuse_select")  # a leaf for torch.fx: whether a fused token exists is read from positions
