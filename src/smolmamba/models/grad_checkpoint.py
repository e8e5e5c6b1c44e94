"""Gradient checkpointing of one block: store its inputs, recompute its activations in backward.

torch.utils.checkpoint runs the block twice in training, so norm running statistics (BatchNorm's
running_mean / running_var / num_batches_tracked, ScaleNorm's running_ms) would be updated twice.
The recomputation therefore runs with the block's buffers saved and restored: after a step they hold
exactly what an uncheckpointed step leaves, and the recomputed activations (batch statistics in
training) are the same as the first pass, so gradients match bit for bit on CPU.
The RNG state is preserved (the random pruner draws the same scores in both passes).
"""

from __future__ import annotations

import contextlib

from torch import nn
from torch.utils.checkpoint import checkpoint


@contextlib.contextmanager
def buffers_restored(module: nn.Module):
    """Run the body, then put every buffer of `module` back to its value before it (in place)."""
    saved = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        yield
    finally:
        for buf, value in saved:
            buf.detach().copy_(value)


def checkpoint_block(block: nn.Module, *args):
    """block(*args) under non-reentrant torch.utils.checkpoint; the recomputation leaves buffers as
    the first pass left them. Outputs as block(*args)."""
    first = True

    def run(*inputs):
        nonlocal first
        if first:
            first = False
            return block(*inputs)
        with buffers_restored(block):
            return block(*inputs)

    return checkpoint(run, *args, use_reentrant=False, preserve_rng_state=True)
