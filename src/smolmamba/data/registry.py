"""build_dataset(name, ...) -> (Dataset, DatasetInfo): one entry per source, defaults in DATASETS."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Callable

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .cifar10_dvs import Cifar10Dvs
from .digits import Digits
from .dvs_gesture import DvsGesture
from .event_folder import ON_BAD_FILE
from .events import EventAugment
from .images import CIFAR_MEAN, CIFAR_STD, Cifar, folder_channels, image_folder
from .neuromorphic_digits import NeuromorphicDigits, SaccadeDvsCfg
from .transforms import digits_train_transform, image_eval_transform, image_train_transform


def _luma(rgb: tuple[float, float, float]) -> tuple[float]:
    """Per-channel RGB statistics -> one grey channel (ITU-R 601: 0.299 R + 0.587 G + 0.114 B)."""
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2],)


GREY_MEAN, GREY_STD = _luma(IMAGENET_DEFAULT_MEAN), _luma(IMAGENET_DEFAULT_STD)  # for grey folders


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    kind: str                   # "image" ([C, H, W]) or "events" ([T, 2, H, W])
    num_classes: int | None     # None: read from the data (image folders: one class per folder)
    in_chans: int | None        # None: read from the data (image folders: 1 when every image is grey)
    img_size: int               # default img_size
    T: int | None               # default time steps (events only)
    root_hint: str | None       # what root must hold; None: embedded, no root
    build: Callable             # (root, split, T, img_size, on_bad_file, cache_dir, augment) -> Dataset


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a built dataset yields: classes, channels, size, T (events; None for images) and kind."""

    num_classes: int
    in_chans: int
    img_size: int
    T: int | None
    kind: str  # "image" ([C, H, W]) or "events" ([T, 2, H, W])

    @property
    def events(self) -> bool:
        return self.kind == "events"

    def check_fits(self, model_cfg, name: str, classes: bool = True, channels: bool = True) -> None:
        """ValueError unless the model (a ModelCfg) takes this dataset: its kind, and with `classes` /
        `channels` its class and channel counts. `name` is the dataset's, for the message."""
        inp = model_cfg.input
        if self.events != inp.events:
            raise ValueError(f"dataset {name!r} yields {self.kind}, the model takes "
                             f"{'events' if inp.events else 'images'}; pick a matching model (smolmamba models)")
        if classes and self.num_classes != model_cfg.num_classes:
            raise ValueError(f"dataset {name!r} has {self.num_classes} classes, the model {model_cfg.num_classes}: "
                             f"build it with num_classes={self.num_classes} (train: model.num_classes="
                             f"{self.num_classes})")
        if channels and self.in_chans != inp.in_chans:
            raise ValueError(f"dataset {name!r} has {self.in_chans} channels, the model takes {inp.in_chans}: build "
                             f"it with in_chans={self.in_chans} (train: model.in_chans={self.in_chans}) or pick "
                             f"another model")


def _event_aug(img_size: int, flip: bool) -> EventAugment:
    """Training augmentation for event frames: shift up to img_size // 16 px, 10% event drop."""
    return EventAugment(flip=flip, max_shift=max(1, img_size // 16), event_drop=0.1)


def image_transform(name: str, img_size: int, augment: bool, channels: int = 3) -> Callable:
    """The PIL -> [C, H, W] transform of an image dataset read from disk: training (augment) or eval.
    Grey folders (channels=1) normalise with ImageNet's statistics taken to luma."""
    if name in ("cifar10", "cifar100"):
        return (image_train_transform(img_size, CIFAR_MEAN, CIFAR_STD, scale=(0.35, 1.0)) if augment
                else image_eval_transform(img_size, CIFAR_MEAN, CIFAR_STD, crop_pct=1.0))
    if name in ("imagenet", "imagefolder"):
        mean, std = (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD) if channels == 3 else (GREY_MEAN, GREY_STD)
        return (image_train_transform(img_size, mean, std) if augment
                else image_eval_transform(img_size, mean, std))
    raise ValueError(f"{name!r} has no PIL image transform; image datasets read from disk: "
                     f"{', '.join(DISK_IMAGE_DATASETS)}")


def _cifar(n: int) -> Callable:
    def build(root, split, T, img_size, on_bad_file, cache_dir, augment):
        return Cifar(root, split, n, transform=image_transform(f"cifar{n}", img_size, augment))
    return build


def _folder(root, split, T, img_size, on_bad_file, cache_dir, augment):
    test_dir = "val" if (root / "val").is_dir() or not (root / "test").is_dir() else "test"
    split_dirs = {"train": "train", "test": test_dir}
    sampled = root / split_dirs["train"] if (root / split_dirs["train"]).is_dir() else root / split_dirs[split]
    channels = folder_channels(sampled) if sampled.is_dir() else 3  # both splits read as the training images
    tf = image_transform("imagefolder", img_size, augment, channels)
    return image_folder(root, split, tf, split_dirs, channels)


DISK_IMAGE_DATASETS = ("cifar10", "cifar100", "imagenet", "imagefolder")
DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("image", 10, 1, 32, None, None, lambda root, split, T, img_size, bad, cache, aug:
                          Digits(split, img_size, transform=digits_train_transform() if aug else None)),
    "nmnist_digits": DatasetSpec("events", 10, 2, 32, 8, None, lambda root, split, T, img_size, bad, cache, aug:
                                 NeuromorphicDigits(split, T, cfg=SaccadeDvsCfg(img_size=img_size), cache_dir=cache,
                                                    transform=_event_aug(img_size, flip=False) if aug else None)),
    "cifar10": DatasetSpec("image", 10, 3, 32, None, "cifar-10-batches-py/ (python pickle release)", _cifar(10)),
    "cifar100": DatasetSpec("image", 100, 3, 32, None, "cifar-100-python/ (python pickle release)", _cifar(100)),
    "imagenet": DatasetSpec("image", None, None, 224, None, "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG", _folder),
    "imagefolder": DatasetSpec("image", None, None, 224, None, "train/<class>/* and val/<class>/* (or test/)",
                               _folder),
    "dvs_gesture": DatasetSpec("events", 11, 2, 128, 16, "the DvsGesture release or SpikingJelly folders",
                               lambda root, split, T, img_size, bad, cache, aug: DvsGesture(
                                   root, split, T, img_size=img_size, cache_dir=cache, on_bad_file=bad,
                                   transform=_event_aug(img_size, flip=False) if aug else None)),
    "cifar10_dvs": DatasetSpec("events", 10, 2, 128, 10, "<class>/*.aedat or SpikingJelly folders",
                               lambda root, split, T, img_size, bad, cache, aug: Cifar10Dvs(
                                   root, split, T, img_size=img_size, cache_dir=cache, on_bad_file=bad,
                                   transform=_event_aug(img_size, flip=True) if aug else None)),
}


def list_datasets() -> list[str]:
    return sorted(DATASETS)


def build_dataset(name: str, root=None, split: str = "train", T: int | None = None,
                  img_size: int | None = None, on_bad_file: str = "skip", cache_dir=None,
                  augment: bool = False):
    """-> (Dataset, DatasetInfo).

    Image samples are [C, H, W], event samples [T, 2, H, W] (0 = OFF, 1 = ON); labels int.
    T applies to event datasets only (info.T is None for images, which the model repeats).
    augment=True picks the training transform, False the eval transform.
    """
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(list_datasets())}.{hint}")
    spec = DATASETS[name]
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}; expected 'train' or 'test'")
    if on_bad_file not in ON_BAD_FILE:
        raise ValueError(f"on_bad_file={on_bad_file!r}; expected one of {ON_BAD_FILE}")
    if spec.root_hint is not None and root is None:
        raise ValueError(f"dataset {name!r} needs root=<folder holding {spec.root_hint}>; "
                         f"nothing is downloaded")
    T = (T or spec.T) if spec.kind == "events" else None
    img_size = img_size or spec.img_size
    ds = spec.build(Path(root) if root is not None else None, split, T, img_size, on_bad_file,
                    cache_dir, augment)
    num_classes = spec.num_classes if spec.num_classes is not None else len(ds.classes)
    in_chans = spec.in_chans if spec.in_chans is not None else ds.channels
    return ds, DatasetInfo(num_classes, in_chans, img_size, T, spec.kind)
