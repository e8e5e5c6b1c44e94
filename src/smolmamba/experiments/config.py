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
    datasets: tuple[str, ...] = ("digits",)
    data_roots: dict = field(default_factory=dict)  # dataset -> folder, for the user's own data
    protocol: str = "quick"  # the PROTOCOLS preset these values came from (recorded with the results)
    epochs: int = 3  # at most; early stopping (patience) on the validation split may stop sooner
    seeds: int = 3
    lrs: tuple[float, ...] = (5e-3,)  # AdamW peak lr grid; with more than one, seed 0 picks on validation
    picked_lrs: dict = field(default_factory=dict)  # "dataset/model" -> lr an earlier run picked; replaces lrs
    lr_from: str | None = None  # name of the results folder picked_lrs came from (recorded with the results)
    val_fraction: float = 0.15  # held out of each training class for lr choice and early stopping; 0 = none
    patience: int = 2  # epochs without a new best validation top-1 before a run stops; 0 = never
    patience_from: float = 0.5  # patience counts only epochs after this fraction of the schedule (lr decayed)
    batch_size: int = 32  # the recipe of configs/digits_smolmamba_tiny.yaml, for every model
    augment: bool = False  # a few epochs on 2 cores favour no augmentation
    train_subset: int | None = None  # first n training samples (quick runs)
    test_subset: int | None = None  # first n test samples for the measurements (quick runs)
    output: str = "results"  # results/<timestamp>/ is created inside
    workers: int = 1  # training processes of one thread each (2 on this 2-core machine: 644 s vs 504 s, slower)
    sweep: bool = True  # keep-ratio sweep of SmolMamba
    masks: bool = True  # pruning-mask figure
    resume: bool = False  # `output` is a stopped compare folder: finished runs are reused, cut ones resumed


# `compare --protocol NAME`: the same rule for every model (experiments/protocol.py), two budgets
PROTOCOLS = {
    "quick": {},  # the CompareConfig defaults: 8.5-11.5 minutes measured on a 2-core CPU; not a verdict
    "full": dict(datasets=("digits", "nmnist_digits"), epochs=15, patience=5, lrs=(2.5e-3, 5e-3, 1e-2)),
}  # full: what docs/RESULTS.md is generated from (about 1.5-2 hours on 2 cores)


def protocol_config(name: str, **overrides) -> CompareConfig:
    """CompareConfig of a PROTOCOLS preset; explicit overrides (not None) win."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return CompareConfig(protocol=name, **{**PROTOCOLS[name], **given})


@dataclass
class AblateConfig:
    dataset: str = "digits"
    epochs: int = 4
    finetune_epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-3
    seed: int = 0
    seeds: int = 1  # the from-scratch studies (block, state) train each variant with seed .. seed + seeds - 1
    train_subset: int | None = None
    test_subset: int | None = None
    output: str = "results"
    studies: tuple[str, ...] = DEFAULT_STUDIES
