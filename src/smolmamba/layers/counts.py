"""What a layer tells the energy meter (smolmamba.energy) about one call: its operation counts.

A computing layer class defines `op_counts(inputs, out, spikes) -> list[OpCount]`: `inputs` are its
forward's arguments by parameter name (defaults filled in, so a keyword call counts as a positional
one), `out` its output, `spikes(lif)` the SpikeStats of the last output of one of its LIF
neurons (None if it has not fired yet). Torch's own layers (Linear, Conv2d, norms, pooling) cannot
declare theirs; the meter keeps a small table for them.
Profile labels (`smolmamba bench`'s time breakdown): a class attribute `profile_label` names the
component of the module's own time; `profile_inner_label` the component of the Linear/Conv layers
inside it (its LIFs count as "neurons", its norms as "norms"); without it, nothing inside is split out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor


@dataclass(frozen=True)
class SpikeStats:
    """What the counter needs of one input tensor: non-zero count, size, and whether it is 0/1."""

    nonzero: float
    elements: int
    binary: bool

    @property
    def rate(self) -> float:
        return self.nonzero / max(self.elements, 1)


def spike_stats(x: Tensor) -> SpikeStats:
    """Measure x once: count of non-zeros, elements, and whether every element is exactly 0 or 1."""
    x = x.detach()
    return SpikeStats(float(torch.count_nonzero(x)), x.numel(), bool(torch.all((x == 0) | (x == 1))))


class OpCount(NamedTuple):
    """One row of the energy table from one call: `dense` operations of class `kind` (see energy.py).

    stats: the input spikes that drive them (AC = dense x firing rate when binary), None for real-valued
    work. spike_driven=False records the input's firing rate (for the paper convention) but keeps the
    operations real-valued, never AC (the scan).
    """

    suffix: str  # appended to the module's name: "" for the module itself, ".scan", ...
    kind: str  # synapse | scan | gate | neuron | norm | add | head
    dense: float
    stats: SpikeStats | None = None
    spike_driven: bool = True
