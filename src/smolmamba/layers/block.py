"""One residual block: LIF -> [prune at a stage start] -> mixer -> residual; spiking MLP -> residual.

Shapes: x [T, B, n, D] (real-valued residual stream); the carry's positions [B, n] are original
token indices, or None while no token has been pruned (the dense, unaligned fast path).
The mixer is passed in (SSM for SmolMamba; attention and SMixer for the peers): compose, don't copy.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from smolmamba.layers.carry import BlockCarry
from smolmamba.layers.counts import OpCount
from smolmamba.layers.mlp import SpikingMLP
from smolmamba.layers.pruning import TokenPruner
from smolmamba.neurons import LIF


class Block(nn.Module):
    """forward(x, carry, prune) -> (x, carry): the incoming carry is the previous block's (positions,
    its mixer's values for the clipped-value pruner); the outgoing one adds this block's importance.
    The mixer returns a MixerOut.
    """

    profile_label, profile_inner_label = "residual", "residual"

    def __init__(self, dim: int, mixer: nn.Module, mlp_hidden: int, lif_kwargs: dict,
                 pruner: TokenPruner | None = None, align: bool = True):
        super().__init__()
        self.in_lif = LIF(**lif_kwargs)
        self.pruner = pruner
        self.mixer = mixer
        self.mlp = SpikingMLP(dim, mlp_hidden, lif_kwargs)
        self.align = align

    def forward(self, x: Tensor, carry: BlockCarry = BlockCarry(), prune: bool = False
                ) -> tuple[Tensor, BlockCarry]:
        s = self.in_lif(x)  # (T, B, n, D) spikes
        positions, importance = carry.positions, None
        if prune and self.pruner is not None:
            if positions is None:  # first pruning: every token is still at its original index
                positions = torch.arange(x.shape[2], device=x.device).expand(x.shape[1], -1)
            x, s, positions, importance = self.pruner(x, s, positions, carry.values)
        mixed = self.mixer(s, positions, self.align)
        x = x + mixed.out
        x = x + self.mlp(x)
        return x, BlockCarry(positions, mixed.values, importance)

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """The two residual additions, one AC per element each."""
        return [OpCount(".residual", "add", 2 * out[0].numel())]
