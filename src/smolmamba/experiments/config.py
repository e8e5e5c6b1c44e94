"""What `compare` and `ablate` run: their configs and the roles, as plain data (no torch, no matplotlib),
so the CLI can show the defaults in --help without importing the experiments."""

from __future__ import annotations

from dataclasses import dataclass, field

# role -> registered model for (image data, event data); all within 10 % of each other's parameters
ROLES = {
    "smolmamba": ("smolmamba_tiny", "smolmamba_tiny_events"),
    "spiking_mamba": ("spiking_mamba_tiny", "spiking_mamba_tiny_events"),
    "spikformer": ("spikformer_tiny", "spikformer_tiny_events"),
    "smixer_dstsp": ("smixer_tiny", "smixer_tiny_events"),
    "smolmamba_naive": ("smolmamba_naive_tiny", "smolmamba_naive_tiny_events"),
}
EVENT_DATASETS = ("nmnist_digits", "dvs_gesture", "cifar10_dvs")
DEFAULT_STUDIES = ("alignment", "pruner", "weights", "dstsp", "deep")
ALL_STUDIES = DEFAULT_STUDIES + ("block", "state")  # block, state: from scratch, on request (--only)


@dataclass
class CompareConfig:
    roles: tuple[str, ...] = tuple(ROLES)  # which models (roles of ROLES, or registered names)
    datasets: tuple[str, ...] = ("digits", "nmnist_digits")
    data_roots: dict = field(default_factory=dict)  # dataset -> folder, for the user's own data
    epochs: int = 4
    seeds: int = 1
    batch_size: int = 32  # the recipe of configs/digits_smolmamba_tiny.yaml, for every model
    lr: float = 5e-3
    augment: bool = False  # a few epochs on 2 cores favour no augmentation
    train_subset: int | None = None  # first n training samples (quick runs)
    test_subset: int | None = None  # first n test samples for the measurements (quick runs)
    output: str = "results"  # results/<timestamp>/ is created inside
    sweep: bool = True  # keep-ratio sweep of SmolMamba
    masks: bool = True  # pruning-mask figure


@dataclass
class AblateConfig:
    dataset: str = "digits"
    epochs: int = 4
    finetune_epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-3
    seed: int = 0
    train_subset: int | None = None
    test_subset: int | None = None
    output: str = "results"
    studies: tuple[str, ...] = DEFAULT_STUDIES
