"""Token pruners: score tokens from spikes, keep the top k in their original order.

Shapes: spikes s [T, B, N, D]; importance [B, N]; kept indices [B, k] sorted ascending.
Every score maps (spikes, residual, values) -> importance, values being the previous mixer's
MixerOut.values or None; `select_tokens` turns importance into indices.
SST-TP (the method) also returns a straight-through scale that is exactly 1 in the forward pass
and carries gradient to its learnable alpha and beta.
"""

from __future__ import annotations

import difflib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from smolmamba.layers.counts import OpCount

EPS = 1e-6


def keep_count(keep_ratio: float, num_original: int) -> int:
    """k = max(1, round(keep_ratio * N_original))."""
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
    return max(1, int(round(keep_ratio * num_original)))


def sort_comparisons(rows: int, n: int) -> float:
    """Comparisons to sort `rows` lists of n scores, rows * n * log2(n) (at least one per element)."""
    return rows * n * max(math.log2(max(n, 2)), 1.0)


def select_tokens(importance: Tensor, k: int) -> Tensor:
    """importance [B, N] -> indices [B, k] of the k largest, ties to the lower index, sorted ascending.

    Exactly the first k of a stable descending sort (NaN largest, as in torch.sort), without a stable
    sort, so that it traces for torch.export and ONNX: the tokens above the k-th largest value are
    kept, and of those equal to it the lowest-indexed ones that fill k.
    """
    if importance.dim() != 2:
        raise ValueError(f"importance must be [B, N], got shape {tuple(importance.shape)}")
    n = importance.shape[1]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} tokens cannot be kept out of N={n}; need 1 <= k <= N")
    kth = torch.topk(importance, k, dim=1).values[:, k - 1 :]  # (B, 1) k-th largest value
    nan, kth_nan = torch.isnan(importance), torch.isnan(kth)
    above = (importance > kth) | (nan & ~kth_nan)  # (B, N), fewer than k per row
    tied = (importance == kth) | (nan & kth_nan)
    room = k - above.sum(dim=1, keepdim=True)  # (B, 1) ties still to keep, >= 1
    kept = above | (tied & (torch.cumsum(tied, dim=1) <= room))  # exactly k per row
    index = torch.arange(n, device=importance.device)
    key = torch.where(kept, index, index + n)  # kept tokens first, each group in index order
    return torch.topk(key, k, dim=1, largest=False, sorted=True).values


def keep_top(importance: Tensor, k: int) -> Tensor:
    """select_tokens of the min(k, n) most important of importance [B, n] -> [B, min(k, n)]."""
    return select_tokens(importance, min(k, importance.shape[1]))


torch.fx.wrap("keep_top")  # a leaf for torch.fx: how many tokens stay is read from the (traced) shape


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """x [T, B, N, D], index [B, k] -> [T, B, k, D]."""
    t, _, _, d = x.shape
    idx = index.unsqueeze(0).unsqueeze(-1).expand(t, -1, -1, d)
    return torch.gather(x, 2, idx)


def spike_count(spikes: Tensor) -> Tensor:
    """Spikes per token summed over T and channels: [T, B, N, D] -> [B, N]."""
    return spikes.sum(dim=(0, 3))


def first_spike_latency(spikes: Tensor) -> Tensor:
    """First step at which a token has any spike; T for a token that never spikes. -> [B, N] float."""
    return latency_from_step_counts(spikes.detach().abs().sum(dim=3)).to(spikes.dtype)


def latency_from_step_counts(per_step: Tensor) -> Tensor:
    """per_step [T, B, N] non-negative spike counts -> first step with a spike, T if none: [B, N] int64."""
    t = per_step.shape[0]
    steps = torch.arange(t, device=per_step.device).view(t, 1, 1).expand_as(per_step)
    return torch.where(per_step > 0, steps, t).amin(dim=0)


class SSTTP(nn.Module):
    """Spike-guided spatio-temporal importance: I = alpha * A + beta * (T - L) / T.

    A is the spike count normalised per sample by its maximum over tokens, L the first-spike latency.
    alpha, beta are softplus of learnable raw values (non-negative); `learnable=False` freezes them.
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, learnable: bool = True):
        super().__init__()
        raw = torch.tensor([alpha, beta]).clamp_min(EPS)
        raw = raw + torch.log(-torch.expm1(-raw))  # inverse softplus
        self.raw_weights = nn.Parameter(raw, requires_grad=learnable)

    @property
    def weights(self) -> Tensor:
        """(alpha, beta) as a [2] tensor."""
        return F.softplus(self.raw_weights)

    def forward(self, spikes: Tensor, residual: Tensor, values: Tensor | None = None) -> Tensor:
        """spikes [T, B, N, D], non-negative (LIF output): one pass gives both count and latency."""
        per_step = spikes.sum(dim=3)  # (T, B, N)
        count = per_step.sum(dim=0)
        strength = count / (count.amax(dim=-1, keepdim=True) + EPS)
        t = spikes.shape[0]
        latency_score = (t - latency_from_step_counts(per_step.detach()).to(spikes.dtype)) / t
        alpha, beta = self.weights.to(spikes.dtype)
        return alpha * strength + beta * latency_score


class SpikeIntensity(nn.Module):
    """SMixer's spike intensity value (spike count per token); `least=True` keeps the least active."""

    def __init__(self, least: bool = False):
        super().__init__()
        self.sign = -1.0 if least else 1.0

    def forward(self, spikes: Tensor, residual: Tensor, values: Tensor | None = None) -> Tensor:
        return self.sign * spike_count(spikes)


class LatencyOnly(nn.Module):
    """(T - L) / T alone: earlier first spike, higher importance."""

    def forward(self, spikes: Tensor, residual: Tensor, values: Tensor | None = None) -> Tensor:
        t = spikes.shape[0]
        return (t - first_spike_latency(spikes)) / t


class ClippedValue(nn.Module):
    """Clipped-value importance ("Exploring Token Pruning in Vision State Space Models", NeurIPS 2024,
    eq. 9): sum over channels of max(y, 0) of the previous mixer's values y
    (the SSM's scan output), mean over T; the residual stream [T, B, N, D] where there are none."""

    def forward(self, spikes: Tensor, residual: Tensor, values: Tensor | None = None) -> Tensor:
        y = residual if values is None else values  # (T, B, N, E or D)
        return y.detach().clamp_min(0).sum(dim=3).mean(dim=0)


class RandomScore(nn.Module):
    """Uniform random importance (draws from the global torch RNG: seed it for determinism)."""

    def forward(self, spikes: Tensor, residual: Tensor, values: Tensor | None = None) -> Tensor:
        return torch.rand(spikes.shape[1], spikes.shape[2], device=spikes.device, dtype=spikes.dtype)


PRUNERS = {
    "sst_tp": lambda: SSTTP(),
    "sst_tp_fixed": lambda: SSTTP(learnable=False),
    "siv": lambda: SpikeIntensity(),
    "high_siv": lambda: SpikeIntensity(least=True),
    "latency": lambda: LatencyOnly(),
    "clipped": lambda: ClippedValue(),
    "random": lambda: RandomScore(),
}


def check_pruner_name(name: str | None) -> None:
    """Raise ValueError for a pruner name that does not exist, naming the closest."""
    if name is None or name == "none" or name in PRUNERS:
        return
    close = difflib.get_close_matches(name, PRUNERS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown pruner {name!r}; choose one of {sorted(PRUNERS) + ['none']}{hint}")


class TokenPruner(nn.Module):
    """Keep `keep_ratio` of the original N tokens by a named importance score.

    forward(x [T,B,n,D] residual, spikes [T,B,n,D], positions [B,n], values [T,B,n,E] or None) ->
        (x [T,B,k,D], spikes [T,B,k,D], positions [B,k], importance [B,n]).
    For SST-TP with straight_through the kept spikes are multiplied by a factor that is 1 in the
    forward pass, so alpha and beta receive gradient; without it they receive none.
    """

    profile_label = "pruner"

    def __init__(self, name: str, keep_ratio: float, num_original: int, straight_through: bool = True):
        super().__init__()
        check_pruner_name(name)
        self.name, self.straight_through = name, straight_through
        self.keep_ratio = keep_ratio
        self.k = keep_count(keep_ratio, num_original)
        self.score = PRUNERS[name]()

    def forward(self, x: Tensor, spikes: Tensor, positions: Tensor, values: Tensor | None = None):
        importance = self.score(spikes, x, values)
        index = keep_top(importance.detach(), self.k)
        kept_spikes = self.straight_through_factor(gather_tokens(spikes, index), importance, index)
        return gather_tokens(x, index), kept_spikes, torch.gather(positions, 1, index), importance

    def straight_through_factor(self, kept_spikes: Tensor, importance: Tensor, index: Tensor) -> Tensor:
        """kept_spikes [T, B, k, D] times (I - I.detach() + 1) of the kept importance: the same values,
        with gradient to a learnable score; unchanged without straight_through or a learnable score."""
        if not (self.straight_through and self.learns_score() and torch.is_grad_enabled()):
            return kept_spikes
        kept_importance = torch.gather(importance, 1, index)  # (B, k)
        factor = (kept_importance - kept_importance.detach()) + 1.0  # exactly 1
        return kept_spikes * factor.unsqueeze(0).unsqueeze(-1)

    def learns_score(self) -> bool:
        """Whether the score is SST-TP with trainable alpha, beta (read from parameters(), so that
        torch.fx, which turns attribute reads of parameters into graph nodes, sees a bool)."""
        return isinstance(self.score, SSTTP) and any(p.requires_grad for p in self.score.parameters())

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """Scoring (spike sums, normalisation, latency, weighted sum) and the sort, one AC each."""
        t, b, n, d = inputs["spikes"].shape
        return [OpCount("", "add", t * b * n * d + 4 * b * n + sort_comparisons(b, n))]

    def extra_repr(self) -> str:
        return f"name={self.name!r}, keep_ratio={self.keep_ratio}, k={self.k}"
