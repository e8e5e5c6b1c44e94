"""Static image datasets from local folders; nothing is downloaded.

CIFAR-10/100: the python-pickle release (cifar-10-batches-py/, cifar-100-python/).
torchvision.datasets.CIFAR10/100 read it but check each file's MD5 on every construction
and refuse re-exported copies, so the same pickle format is read here directly.
ImageNet-1K and any ImageFolder tree: root/<split>/<class>/<image> via torchvision's
ImageFolder. Samples are PIL images until a transform makes them [C, H, W]: RGB, or grey ("L")
when every sampled image of the tree is grey (folder_channels), so grey files train a 1-channel model.
"""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

CIFAR_LAYOUT = {
    10: ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
         "batches.meta", b"labels", b"label_names"),
    100: ("cifar-100-python", ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names"),
}
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})  # PIL single-channel


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


class Cifar(Dataset):
    """CIFAR-10 or CIFAR-100 from root/cifar-10-batches-py or root/cifar-100-python -> (PIL image, int)."""

    def __init__(self, root, split: str = "train", num_classes: int = 10, transform=None):
        if num_classes not in CIFAR_LAYOUT:
            raise ValueError(f"num_classes={num_classes}; CIFAR has 10 or 100")
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}; expected 'train' or 'test'")
        folder_name, train_files, test_files, meta, label_key, names_key = CIFAR_LAYOUT[num_classes]
        root = Path(root)
        folder = root / folder_name if (root / folder_name).is_dir() else root
        needed = train_files + test_files + [meta]
        missing = [n for n in needed if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"CIFAR-{num_classes} not found: expected {root / folder_name}/ holding {needed} "
                f"(the python version from https://www.cs.toronto.edu/~kriz/cifar.html, extracted); "
                f"missing {missing}. Nothing is downloaded.")
        images, labels = [], []
        for name in train_files if split == "train" else test_files:
            batch = _unpickle(folder / name)
            images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            labels += list(batch[label_key])
        self.images = np.concatenate(images).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
        self.labels = [int(y) for y in labels]
        self.classes = [n.decode() for n in _unpickle(folder / meta)[names_key]]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i])
        if self.transform is not None:
            img = self.transform(img)
        return img, self.labels[i]


class ChannelFolder(ImageFolder):
    """torchvision's ImageFolder whose images are read as `channels` (1: grey "L", 3: "RGB")."""

    def __init__(self, folder: Path, channels: int, transform=None):
        mode = {1: "L", 3: "RGB"}[channels]
        super().__init__(folder, transform=transform, loader=partial(_open_as, mode=mode))
        self.channels = channels


def _open_as(path: str, mode: str) -> Image.Image:
    with open(path, "rb") as f:
        return Image.open(f).convert(mode)


def image_files(folder: Path) -> list[Path]:
    """The image files under a class folder, sorted."""
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS)


def folder_channels(folder, per_class: int = 2) -> int:
    """1 when every sampled image of root/<class>/ (the first `per_class` of each class) is grey, else 3.

    Reads only file headers. A tree that mixes grey and colour files (ImageNet holds a few grey JPEGs)
    is colour: its grey files are converted to RGB."""
    sampled = [f for c in sorted(p for p in Path(folder).iterdir() if p.is_dir()) for f in image_files(c)[:per_class]]
    if not sampled:
        raise FileNotFoundError(f"{folder} holds no images in class folders")
    modes = set()
    for path in sampled:
        with Image.open(path) as img:
            modes.add(img.mode)
    return 1 if modes <= GREY_MODES else 3


def image_folder(root, split: str = "train", transform=None, split_dirs=None, channels: int = 3) -> ChannelFolder:
    """root/<split dir>/<class>/<image> -> ImageFolder read as `channels`; split_dirs maps split -> dir
    name (default train -> train, test -> val). A wrong tree or an empty class is an error."""
    if channels not in (1, 3):
        raise ValueError(f"channels={channels}; image folders are read as 1 (grey) or 3 (RGB) channels")
    split_dirs = split_dirs or {"train": "train", "test": "val"}
    if split not in split_dirs:
        raise ValueError(f"split={split!r}; expected one of {sorted(split_dirs)}")
    folder = Path(root) / split_dirs[split]
    tree = (f"expected:\n  {folder}/\n    <class_a>/img1.JPEG, img2.JPEG, ...\n    <class_b>/...\n"
            f"(image extensions {', '.join(IMG_EXTENSIONS)}; ImageNet's flat val/ needs its "
            f"images moved into one folder per class first)")
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist; {tree}")
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"{folder} has no class folders; {tree}")
    empty = [p.name for p in classes if not image_files(p)]
    if empty:
        raise FileNotFoundError(f"class folder(s) {empty} in {folder} hold no images; {tree}")
    return ChannelFolder(folder, channels, transform=transform)
