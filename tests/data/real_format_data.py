"""Tiny data sets in the real on-disk formats at the real resolutions (tests only).

CIFAR python pickles (32x32), ImageNet JPEG folders (odd sizes, read at 224), CIFAR10-DVS AEDAT 2.0 and
DVS128 Gesture AEDAT 3.1 releases (128x128, every class), and SpikingJelly frame folders of both.
Each writer returns the folder to pass as data_root.
"""

import pickle

import numpy as np
from PIL import Image

from dvs_file_writers import random_events, write_aedat2, write_gesture_trial
from smolmamba.data.cifar10_dvs import CLASSES as CIFAR10_DVS_CLASSES

GESTURE_CLASSES = 11
IMAGENET_WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")


def _pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _cifar_batch(rng, n, num_classes, label_key):
    return {b"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            label_key: [int(c) for c in rng.integers(0, num_classes, n)]}


def write_cifar(root, num_classes: int, per_file: int = 4):
    """cifar-10-batches-py/ (5 training batches, test_batch, batches.meta) or cifar-100-python/."""
    rng = np.random.default_rng(num_classes)
    if num_classes == 10:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            _pickle(folder / name, _cifar_batch(rng, per_file, 10, b"labels"))
        _pickle(folder / "batches.meta", {b"label_names": [f"class{i}".encode() for i in range(10)]})
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        for name in ("train", "test"):
            _pickle(folder / name, _cifar_batch(rng, 5 * per_file if name == "train" else per_file, 100,
                                                b"fine_labels"))
        _pickle(folder / "meta", {b"fine_label_names": [f"class{i}".encode() for i in range(100)]})
    return root


def write_imagenet(root, per_class: int = 3):
    """train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, RGB, each image its own odd size."""
    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for wnid in IMAGENET_WNIDS:
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(per_class):
                h, w = (int(v) for v in rng.integers(150, 400, 2))
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.JPEG", quality=85)
    return root


def write_cifar10_dvs(root, per_class: int = 10, events: int = 2000):
    """The original release: <class>/cifar10_<class>_<i>.aedat, AEDAT 2.0, 128x128, all 10 classes."""
    rng = np.random.default_rng(2)
    for name in CIFAR10_DVS_CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            write_aedat2(root / name / f"cifar10_{name}_{i}.aedat", **random_events(rng, events, 10**6))
    return root


def write_dvs_gesture(root, events: int = 20_000):
    """The original release: one training and one test trial (AEDAT 3.1, 128x128), each performing all
    11 gestures, with their labels csv and the trials_to_{train,test}.txt lists."""
    rng = np.random.default_rng(3)
    root.mkdir(parents=True, exist_ok=True)
    window = 200_000
    for split, trial in (("train", "user01_fluorescent"), ("test", "user24_led")):
        write_gesture_trial(root / f"{trial}.aedat", random_events(rng, events, GESTURE_CLASSES * window + window))
        rows = [f"{c + 1},{c * window + 1000},{(c + 1) * window}" for c in range(GESTURE_CLASSES)]
        (root / f"{trial}_labels.csv").write_text("\n".join(["class,startTime_usec,endTime_usec", *rows]) + "\n")
        (root / f"trials_to_{split}.txt").write_text(f"{trial}.aedat\n")
    return root


def write_spikingjelly_frames(root, dataset: str, T: int, per_class: int = 2):
    """SpikingJelly's frames_number_{T}_split_by_number folder: cifar10_dvs <class>/*.npz (the 9:1 split is
    taken by index), dvs_gesture {train,test}/<label>/*.npz; key frames [T, 2, 128, 128]."""
    rng = np.random.default_rng(4)
    base = root / f"frames_number_{T}_split_by_number"
    if dataset == "cifar10_dvs":
        folders = [(base / name, 10) for name in CIFAR10_DVS_CLASSES]
    else:
        folders = [(base / split / str(label), per_class) for split in ("train", "test")
                   for label in range(GESTURE_CLASSES)]
    for folder, count in folders:
        folder.mkdir(parents=True)
        for i in range(count):
            frames = rng.integers(0, 4, (T, 2, 128, 128)).astype(np.float32)
            np.savez(folder / f"{folder.name}_{i}.npz", frames=frames)
    return root
