"""What `smolmamba bench` measures: the model lists (in table order) and the headline batch.

Read by the suite (what runs) and the report (which rows the targets compare), so neither imports the other.
"""

from __future__ import annotations

# Order matters: the pruned model, its dense twin (the tables' baseline, listed second), naive pruning, peers.
CIFAR = ("smolmamba_cifar", "spiking_mamba_cifar", "smolmamba_naive_cifar", "spikformer_4_384", "smixer_cifar")
IMAGENET = ("smolmamba_imagenet", "spiking_mamba_imagenet", "spikformer_8_512")
QUICK = ("smolmamba_tiny", "spiking_mamba_tiny", "smolmamba_naive_tiny", "spikformer_tiny", "smixer_tiny")


def suite_models(quick: bool) -> tuple[str, ...]:
    """The small-image models of the suite: (pruned, dense twin, naive, peers...)."""
    return QUICK if quick else CIFAR


def headline_batch(quick: bool) -> int:
    """The batch at which the targets are judged and the profile is taken."""
    return 8 if quick else 64
