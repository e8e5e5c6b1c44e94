"""A dataset as a model takes it: built at the model's size and, for events, its T (`dataset_for_model`,
used by training, evaluation and measurement), checked to fit; and fed to a model it was not built for,
grey images repeated to the model's channels.

Used where a model is measured on the embedded data (energy, compare): a 3-channel CIFAR model sees
the grey digits repeated to 3 channels, a 224x224 model sees them upsampled by the dataset.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from smolmamba.data.registry import DatasetInfo, build_dataset


def embedded_dataset_name(cfg) -> str:
    """The embedded default data set of a model's input kind."""
    return "nmnist_digits" if cfg.input.events else "digits"


def dataset_for_model(name: str, cfg, split: str = "train", classes: bool = True, channels: bool = True,
                      **kwargs) -> tuple[Dataset, DatasetInfo]:
    """build_dataset(name, split, **kwargs) at the model's img_size and, for an event model, its T;
    ValueError unless it fits the model (DatasetInfo.check_fits with `classes`, `channels`)."""
    inp = cfg.input
    ds, info = build_dataset(name, split=split, T=inp.time_steps if inp.events else None, img_size=inp.img_size,
                             **kwargs)
    info.check_fits(cfg, name, classes, channels)
    return ds, info


def fit_batch(x: Tensor, cfg) -> Tensor:
    """Images [B, C, H, W] or event frames [B, T, 2, H, W] -> the model's channels.

    Sizes come right from the dataset (built with the model's img_size, as in training); only grey
    images are repeated to the model's channels here.
    """
    inp = cfg.input
    if inp.events:
        if x.shape[1] != inp.time_steps:
            raise ValueError(f"event batch has T={x.shape[1]}, model wants T={inp.time_steps}; "
                             f"build the dataset with T={inp.time_steps}")
        return x
    if x.shape[1] != inp.in_chans:
        if x.shape[1] != 1:
            raise ValueError(f"cannot turn {x.shape[1]} channels into the model's {inp.in_chans}")
        x = x.expand(-1, inp.in_chans, -1, -1)
    return x


def model_batches(cfg, data: str | None = None, root=None, split: str = "test", batches: int = 4,
                  batch_size: int = 32) -> Iterator[tuple[Tensor, Tensor]]:
    """Up to `batches` (x, y) batches of `data` (default: the embedded one) fitted to the model."""
    name = data or embedded_dataset_name(cfg)  # exactly the preprocessing training uses; any classes
    ds, _ = dataset_for_model(name, cfg, split, classes=False, channels=False, root=root)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    for i, (x, y) in enumerate(loader):
        if i >= batches:
            break
        yield fit_batch(x.float(), cfg), torch.as_tensor(y)
