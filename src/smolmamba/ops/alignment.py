"""Gaps between kept token positions: the only index arithmetic pruning-aware alignment needs.

positions: [B, L] original indices of the kept tokens, strictly increasing (ops/scan.py explains
the gap form of the aligned scan).
"""

import torch


def position_gaps(positions: torch.Tensor) -> torch.Tensor:
    """[B, L] number of pruned positions before each kept token (0 for the first)."""
    gaps = torch.zeros_like(positions)
    gaps[:, 1:] = positions[:, 1:] - positions[:, :-1] - 1
    return gaps
