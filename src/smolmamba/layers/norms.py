"""ScaleNorm: batch normalisation without centering, so a zero input stays exactly zero.

The SSM's input branch needs it: a pruned (silent) token must produce u = 0 for pruning-aware
alignment to be exact, and a BatchNorm shift would give it a bias. At inference the per-channel
scale folds into the preceding bias-free linear layer, which then still only accumulates spikes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from smolmamba.layers.counts import OpCount


class ScaleNorm(nn.Module):
    """x [..., C] -> weight * x / sqrt(E[x^2] + eps), E over every axis but the last (batch stats
    in training, running stats in eval)."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.register_buffer("running_ms", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            ms = x.detach().float().pow(2).flatten(0, -2).mean(dim=0)  # (C,); no Python on x.dim(): torch.fx
            self.running_ms.lerp_(ms, self.momentum)
            ms = x.float().pow(2).flatten(0, -2).mean(dim=0)
        else:
            ms = self.running_ms
        return x * (torch.rsqrt(ms + self.eps) * self.weight).to(x.dtype)

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """One MAC per element (foldable into the preceding linear layer at inference; counted unfolded)."""
        return [OpCount("", "norm", out.numel())]
