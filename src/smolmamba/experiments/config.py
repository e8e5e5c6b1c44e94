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
# the embedded recipe's lr per model: what the full protocol's grid (2.5e-3, 5e-3, 1e-2) picked on validation
EMBEDDED_LRS_SOURCE = "compare-full-digits-20261202 + compare-full-nmnist-20261203 (full protocol lr grids)"
EMBEDDED_LRS = {
    "digits/smolmamba_tiny": 1e-2, "digits/spiking_mamba_tiny": 1e-2, "digits/spikformer_tiny": 2.5e-3,
    "digits/smixer_tiny": 2.5e-3, "digits/smolmamba_naive_tiny": 5e-3,
    "nmnist_digits/smolmamba_tiny_events": 1e-2, "nmnist_digits/spiking_mamba_tiny_events": 1e-2,
    "nmnist_digits/spikformer_tiny_events": 1e-2, "nmnist_digits/smixer_tiny_events": 1e-2,
    "nmnist_digits/smolmamba_naive_tiny_events": 1e-2,
}
DEFAULT_STUDIES = ("alignment", "pruner", "weights", "dstsp", "deep")
ALL_STUDIES = DEFAULT_STUDIES + ("block", "state")  # block, state: from scratch, on request (--only)


@dataclass
class CompareConfig:
    roles: tuple[str, ...] = tuple(ROLES)  # which models (roles of ROLES, or registered names)
    datasets: tuple[str, ...] = ("digits",)
    data_roots: dict = field(default_factory=dict)  # dataset -> folder, for the user's own data
    protocol: str = "quick"  # the PROTOCOLS preset these values came from (recorded with the results)
    epochs: int = 5  # at most; early stopping (patience) on the validation split may stop sooner
    seeds: int = 3
    lrs: tuple[float, ...] = (5e-3,)  # AdamW peak lr grid; with more than one, seed 0 picks on validation
    picked_lrs: dict = field(default_factory=lambda: dict(EMBEDDED_LRS))  # "dataset/model" -> lr; replaces lrs
    lr_from: str | None = EMBEDDED_LRS_SOURCE  # where picked_lrs came from (recorded with the results)
    val_fraction: float = 0.15  # held out of each training class for lr choice and early stopping; 0 = none
    patience: int = 2  # epochs without a new best validation top-1 before a run stops; 0 = never
    patience_from: float = 0.5  # patience counts only epochs after this fraction of the schedule (lr decayed)
    batch_size: int = 32  # the recipe of configs/digits_smolmamba_tiny.yaml, for every model
    augment: bool = False  # a few epochs on 2 cores favour no augmentation
    train_subset: int | None = None  # first n training samples (quick runs)
    test_subset: int | None = None  # first n test samples for the measurements (quick runs)
    output: str = "results"  # results/<timestamp>/ is created inside
    workers: int = 2  # training processes of one thread each; the runs of a round are independent
    sweep: bool = True  # keep-ratio sweep of SmolMamba
    masks: bool = True  # pruning-mask figure


# `compare --protocol NAME`: the same rule for every model (experiments/protocol.py), two budgets
PROTOCOLS = {
    "quick": {},  # the CompareConfig defaults: digits, each model at its embedded lr, 10 minutes on 2 cores
    "full": dict(datasets=("digits", "nmnist_digits"), epochs=15, patience=5, lrs=(2.5e-3, 5e-3, 1e-2),
                 picked_lrs={}, lr_from=None),
}  # full: what docs/RESULTS.md is generated from


def protocol_config(name: str, **overrides) -> CompareConfig:
    """CompareConfig of a PROTOCOLS preset; explicit overrides (not None) win."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "lrs" in given and "picked_lrs" not in given:  # an lr given on the command line replaces the embedded ones
        given.update(picked_lrs={}, lr_from=None)
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
