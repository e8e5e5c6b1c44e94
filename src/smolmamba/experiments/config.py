"""What `compare` and `ablate` run: their configs and the roles, as plain data (no torch, no matplotlib),
so the CLI can show the defaults in --help without importing the experiments."""

from __future__ import annotations

from dataclasses import dataclass

from smolmamba.config_flags import option

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
    """What `compare` runs; the help of each field is its command-line help (config_flags)."""

    roles: tuple[str, ...] = option(tuple(ROLES), f"roles ({', '.join(ROLES)}) or registered model names",
                                    flag="--models")
    datasets: tuple[str, ...] = option(("digits",), "data sets (the full protocol: digits nmnist_digits)")
    data_roots: dict = option(dict, "dataset -> folder of the user's own data (--data-root DATASET=PATH)")
    protocol: str = option("quick", "the PROTOCOLS preset these values came from (recorded with the results)")
    epochs: int = option(3, "most epochs per run; early stopping on the validation split may stop sooner")
    seeds: int = option(3, "seeds per model (0, 1, ...)")
    lrs: tuple[float, ...] = option((5e-3,), "AdamW peak lr, or a grid: seed 0 picks the best on validation",
                                    flag="--lr")
    picked_lrs: dict = option(dict, '"dataset/model" -> lr an earlier run picked (--lr-from); replaces lrs')
    lr_from: str | None = option(None, "name of the results folder picked_lrs came from (recorded)")
    val_fraction: float = option(0.15, "training data held out for lr choice and early stopping; 0 = none: "
                                       "fixed epochs, last weights")
    patience: int = option(2, "epochs without a new best validation top-1 before a run stops; 0 = never")
    patience_from: float = option(0.5, "patience counts only epochs after this fraction of the lr schedule (the "
                                       "noisy high-lr first half cannot stop a run)")
    batch_size: int = option(16, "for every model; 16 gives each epoch 2x the updates of 32 at about the same "
                                 "cost per image, +3 to +4 points at 3 epochs, and costs 1.17-1.25x less per image "
                                 "than 8 for 0.7 point less on average (the full protocol keeps 32)")
    augment: bool = option(False, "train with each dataset's augmentation (a few epochs on 2 cores favour none)")
    train_subset: int | None = option(None, "use the first n training samples")
    test_subset: int | None = option(None, "measure on the first n test samples")
    output: str = option("results", "results/<timestamp>/ is created inside")
    amp: str = option("none", "mixed precision of every training run: none | bf16 | auto (bf16 where the CPU "
                              "multiplies bf16 natively; precision.py)", choices=("none", "bf16", "auto"))
    workers: int = option(1, "training processes of one thread each; 1 = in this process (2 on a 2-core "
                             "machine: 652 s against 669 s at batch 8, 644 s against 504 s at batch 32)")
    sweep: bool = option(True, "the keep-ratio sweep of SmolMamba")
    masks: bool = option(True, "the pruning-mask figure")
    resume: bool = option(False, "`output` is a stopped compare folder: finished runs are reused, cut ones resumed")


# `compare --protocol NAME`: the same rule for every model (experiments/protocol.py), two budgets
PROTOCOLS = {
    "quick": {},  # the CompareConfig defaults: 576 s measured on a 2-core CPU (README); not a verdict
    "full": dict(datasets=("digits", "nmnist_digits"), epochs=30, patience=5, lrs=(2.5e-3, 5e-3, 1e-2),
                 batch_size=32),
}
# full: the decisive run. At a 15-epoch cap 19 of 30 runs (both data sets, init fix) were still climbing; at 30,
# 29 of 30 stopped on the patience rule at epochs 20-29 and the 30th was past its best (docs/results/README.md).
# An estimated 4 hours on 2 cores: 50 runs of about 24 epochs at 5-20 s each.


def protocol_config(name: str, **overrides) -> CompareConfig:
    """CompareConfig of a PROTOCOLS preset; explicit overrides (not None) win."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return CompareConfig(protocol=name, **{**PROTOCOLS[name], **given})


@dataclass
class AblateConfig:
    """What `ablate` runs; the help of each field is its command-line help (config_flags)."""

    dataset: str = option("digits", "the data set every study trains and measures on")
    epochs: int = option(4, "epochs of each from-scratch training")
    finetune_epochs: int = option(1, "epochs of the fine-tuning studies")
    batch_size: int = option(32, "batch size of every training")
    lr: float = option(5e-3, "AdamW peak lr of every training")
    seed: int = option(0, "the first seed")
    seeds: int = option(1, "block and state studies: train each variant with seeds seed .. seed + seeds - 1")
    train_subset: int | None = option(None, "use the first n training samples")
    test_subset: int | None = option(None, "measure on the first n test samples")
    output: str = option("results", "results/<timestamp>/ is created inside")
    studies: tuple[str, ...] = option(DEFAULT_STUDIES, f"which ablations, of {', '.join(ALL_STUDIES)} (block and "
                                      "state train from scratch: only when named)", choices=ALL_STUDIES,
                                      aliases=("--only",), metavar="STUDY")
