"""What a run is built from: names and fit checked, model and data, optimizer, schedule, loaders.

The batches of an epoch are a pure function of (seed, epoch, rank, world_size) (`epoch_batches`),
so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from smolmamba.data.split import carve_validation
from smolmamba.train.config import TrainConfig
from smolmamba.train.distributed import DistInfo

# ---------------------------------------------------------------- names, model and data


def check_names(cfg: TrainConfig) -> None:
    """Unknown model or dataset names fail before any folder is made (names can become paths, as in
    `smolmamba compare`'s runs/<dataset>/<model>/): only registered names, never a '../'."""
    from smolmamba.data import list_datasets
    from smolmamba.models.registry import model_cfg

    model_cfg(cfg.model)  # ValueError naming the closest registered models
    if cfg.dataset not in list_datasets():
        from smolmamba.data import build_dataset

        build_dataset(cfg.dataset)  # ValueError naming the closest dataset


def build_model_and_data(cfg: TrainConfig):
    """-> (model, train set, eval set): the model's T and img_size pick the dataset's; checked to agree.

    The eval set is the test split, or with cfg.val_fraction > 0 the validation part carved from the
    (first train_subset) training samples, without augmentation (data/split.py).
    """
    from smolmamba.data.model_input import dataset_for_model
    from smolmamba.models import create_model

    overrides = dict(cfg.model_overrides)
    for key, value in (("time_steps", cfg.T), ("img_size", cfg.img_size)):
        if value is not None:
            if overrides.get(key, value) != value:
                raise ValueError(f"model.{key}={overrides[key]} contradicts {key if key != 'time_steps' else 'T'}"
                                 f"={value}; give one of them")
            overrides[key] = value
    model = create_model(cfg.model, **overrides)
    model.set_grad_checkpointing(cfg.grad_checkpointing)
    if cfg.init_from is not None:
        init_weights(model, cfg.init_from)
    kw = dict(root=cfg.data_root, on_bad_file=cfg.on_bad_file, cache_dir=cfg.cache_dir)
    train_set, _ = dataset_for_model(cfg.dataset, model.cfg, "train", augment=cfg.augment, **kw)
    eval_set, _ = dataset_for_model(cfg.dataset, model.cfg, "train" if cfg.val_fraction else "test", augment=False,
                                    **kw)
    if cfg.train_subset is not None:
        first = range(min(cfg.train_subset, len(train_set)))
        train_set = Subset(train_set, first)
        if cfg.val_fraction:
            eval_set = Subset(eval_set, first)
    if cfg.val_fraction:
        train_set, eval_set = carve_validation(train_set, eval_set, cfg.val_fraction, cfg.val_seed)
    elif cfg.eval_subset is not None:
        eval_set = Subset(eval_set, range(min(cfg.eval_subset, len(eval_set))))
    return model, train_set, eval_set


def eval_split(cfg: TrainConfig) -> str:
    """Which split the per-epoch evaluation (and best/) uses: "val" or "test"."""
    return "val" if cfg.val_fraction else "test"


def init_weights(model: nn.Module, path) -> None:
    """Load a checkpoint's weights to fine-tune from; only pruner parameters may be absent from it."""
    from smolmamba.models import load_weights
    from smolmamba.train.checkpoint import load_model

    load_weights(model, load_model(path)[0].state_dict(), f"init_from={path}")


# ---------------------------------------------------------------- optimizer and schedule


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (fused: one kernel over all parameters); no weight decay on biases, norms, 1-d parameters
    and those marked _no_weight_decay."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or getattr(p, "_no_weight_decay", False) else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)


def lr_at(step: int, total: int, warmup: int, base: float, min_lr: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine from base to min_lr at step `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (base - min_lr) * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class Schedule:
    """Optimizer steps of a run: global batch, steps per epoch, total (max_steps caps it), warm-up."""

    global_batch: int
    steps_per_epoch: int
    total: int
    warmup: int


def make_schedule(num_samples: int, cfg: TrainConfig, info: DistInfo) -> Schedule:
    global_batch = cfg.batch_size * info.world_size * cfg.accum_steps
    steps_per_epoch = num_samples // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"{num_samples} training samples make no full global batch of {global_batch} "
                         f"(batch_size x world_size x accum_steps); lower batch_size")
    total = cfg.epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    return Schedule(global_batch, steps_per_epoch, total, round(cfg.warmup_epochs * steps_per_epoch))


# ---------------------------------------------------------------- loaders


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                  accum_steps: int = 1) -> list[list[int]]:
    """This rank's micro-batches for one epoch, a pure function of the arguments.

    One permutation of range(n) per (seed, epoch), cut into global batches of
    G = batch_size * world_size * accum_steps (the remainder is dropped); micro-batch m of rank r takes
    chunk r * accum_steps + m of each. So 2 ranks x accum 1 and 1 rank x accum 2 see the same chunks.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    G = batch_size * world_size * accum_steps
    out = []
    for start in range(0, n - G + 1, G):
        for m in range(accum_steps):
            c = start + (rank * accum_steps + m) * batch_size
            out.append(perm[c:c + batch_size])
    return out


def train_loader(dataset, cfg: TrainConfig, info: DistInfo, epoch: int, skip_steps: int = 0) -> DataLoader:
    """This rank's loader for `epoch`, starting after `skip_steps` optimizer steps (mid-epoch resume)."""
    batches = epoch_batches(len(dataset), cfg.batch_size, cfg.seed, epoch, info.rank, info.world_size,
                            cfg.accum_steps)[skip_steps * cfg.accum_steps:]
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)  # seeds the workers, not the order
    return DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers, generator=g,
                      pin_memory=info.device.type == "cuda")


def eval_loader(dataset, batch_size: int, workers: int, info: DistInfo) -> DataLoader:
    """Rank r reads samples r, r + world, ...: every sample exactly once over all ranks."""
    return DataLoader(dataset, batch_size=batch_size, sampler=list(range(info.rank, len(dataset), info.world_size)),
                      num_workers=workers, generator=torch.Generator().manual_seed(0),
                      pin_memory=info.device.type == "cuda")
