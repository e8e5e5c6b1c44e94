"""What mixers, blocks and the network hand each other: typed records instead of string-keyed dicts.

Shapes: tokens [T, B, n, D]; positions [B, n] original token indices, ascending; importance [B, n]
the scores a pruner ranked its n input tokens by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor


class MixerOut(NamedTuple):
    """A token mixer's result: `out` [T, B, n, D] is added to the residual stream; `values`
    [T, B, n, E] are real-valued token features a value-based pruner (ClippedValue) may score the
    next stage by: the SSM's scan output; None for mixers without such features."""

    out: Tensor
    values: Tensor | None = None


@dataclass(frozen=True)
class BlockCarry:
    """What one block hands the next (the first block gets BlockCarry()).

    positions: [B, n] original indices of the tokens leaving the block; None while none was pruned.
    values: the block's MixerOut.values [T, B, n, E] (None if its mixer has none).
    importance: [B, n_in] the scores this block pruned by; None when it did not prune.
    """

    positions: Tensor | None = None
    values: Tensor | None = None
    importance: Tensor | None = None


@dataclass(frozen=True)
class InputPruning:
    """What the DSTSP input pruner selected: positions [B, N' (+1 fused)] of the kept tokens (a fused
    token carries position N), time_index [B, T'] kept steps, importance [B, N] its spatial scores."""

    positions: Tensor
    time_index: Tensor
    importance: Tensor


@dataclass(frozen=True)
class PruningTrace:
    """The pruning of one forward pass: num_tokens N from the patch embedding, the input pruner's
    selection (None without one, or while it is off), and per block pruning stage the positions
    [B, k] it kept and the importance [B, n] it ranked by (empty tuples while pruning is off)."""

    num_tokens: int
    positions: tuple[Tensor, ...] = ()
    importance: tuple[Tensor, ...] = ()
    input_pruning: InputPruning | None = None

    def tokens_per_stage(self) -> list[int]:
        """Tokens entering the blocks, then each pruning stage's kept count: [N, (after DSTSP,) k_1, ...]."""
        counts = [self.num_tokens]
        if self.input_pruning is not None:
            counts.append(self.input_pruning.positions.shape[1])
        return counts + [p.shape[1] for p in self.positions]
