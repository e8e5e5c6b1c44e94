"""CIFAR10-DVS (Li et al. 2017): 10 x 1,000 recordings of moving CIFAR-10 images, 128x128.

Accepted layouts under root (first match wins):
  1. SpikingJelly frames:  frames_number_{T}_split_by_{split_by}/<class>/*.npz (key frames)
  2. original release:     <class>/cifar10_<class>_<i>.aedat (AEDAT 2.0)
  3. SpikingJelly events:  events_np/<class>/*.npz (keys t, x, y, p)
There is no official split. Per class, files are sorted by their numeric index i and the
first 90% (floor) train, the rest test: the 9:1 per-class split SpikingJelly users take
with split_to_train_test_set(0.9, ..., random_split=False). (That function follows
DatasetFolder's lexicographic file order, so its members differ; the TEBN split,
0..99 test, is a third choice.) Original files are decoded as SpikingJelly does:
x = 127 - y_raw, y = 127 - x_raw, p = 1 - p_raw, so frames match its converted folders,
then binned and cached under <root>/smolmamba_cache (or cache_dir).
Samples are [T, 2, img_size, img_size] float32 (0 = OFF, 1 = ON).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .aedat import CorruptEventFile, read_aedat2
from .event_folder import BadFiles, EventFrameFolder, check_npz, save_frames, sj_frames_dir
from .events import events_to_frames

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SENSOR = (128, 128)
CACHE_VERSION = 1
LAYOUTS = """expected one of these under root, with class folders airplane automobile bird cat
deer dog frog horse ship truck:
  frames_number_{T}_split_by_{split_by}/<class>/*.npz   (SpikingJelly frames)
  <class>/cifar10_<class>_<i>.aedat                     (original release, AEDAT 2.0)
  events_np/<class>/*.npz                               (SpikingJelly events)"""


def read_cifar10_dvs(path) -> dict[str, np.ndarray]:
    """One .aedat recording -> events dict t, x, y, p in SpikingJelly's orientation."""
    raw = read_aedat2(path)
    return {"t": raw["t"], "x": 127 - raw["y"], "y": 127 - raw["x"], "p": 1 - raw["p"]}


def file_index(path: Path) -> tuple[int, str]:
    """Sort key: the trailing number of cifar10_<class>_<i>.*, then the name."""
    m = re.search(r"(\d+)$", path.stem)
    return (int(m.group(1)) if m else -1, path.name)


def split_files(files: list[Path], split: str, train_fraction: float = 0.9) -> list[Path]:
    """One class's files -> the first floor(train_fraction * n) by index (train) or the rest (test)."""
    files = sorted(files, key=file_index)
    n_train = int(train_fraction * len(files))
    return files[:n_train] if split == "train" else files[n_train:]


def class_files(folder: Path, pattern: str) -> dict[int, list[Path]]:
    """<folder>/<class>/<pattern> for all ten classes; missing or empty class -> error."""
    out = {}
    for label, name in enumerate(CLASSES):
        files = sorted((folder / name).glob(pattern))
        if not files:
            raise FileNotFoundError(f"CIFAR10-DVS class folder {folder / name} is missing or has no "
                                    f"{pattern} files; {LAYOUTS}")
        out[label] = files
    return out


class Cifar10Dvs(EventFrameFolder):
    """CIFAR10-DVS with the 9:1 per-class split -> frames [T, 2, img_size, img_size], labels 0..9."""

    num_classes = len(CLASSES)

    def __init__(self, root, split: str = "train", T: int = 10, split_by: str = "number",
                 img_size: int = 128, binary: bool = False, cache_dir=None,
                 on_bad_file: str = "skip", transform=None, train_fraction: float = 0.9):
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}; expected 'train' or 'test'")
        root, bad = Path(root), BadFiles(on_bad_file)
        if not root.is_dir():
            raise FileNotFoundError(f"CIFAR10-DVS root {root} does not exist; {LAYOUTS}")
        samples = []
        if sj_frames_dir(root, T, split_by).is_dir():
            kind, folder, pattern, keys = "frames", sj_frames_dir(root, T, split_by), "*.npz", ["frames"]
        elif (root / CLASSES[0]).is_dir():
            kind, folder, pattern, keys = "aedat", root, "*.aedat", None
        elif (root / "events_np").is_dir():
            kind, folder, pattern, keys = "events", root / "events_np", "*.npz", ["t", "x", "y", "p"]
        else:
            raise FileNotFoundError(f"no CIFAR10-DVS data found in {root}; {LAYOUTS}")
        base = Path(cache_dir) if cache_dir is not None else root / "smolmamba_cache"
        out_dir = base / f"cifar10_dvs_T{T}_{split_by}_v{CACHE_VERSION}"
        for label, files in class_files(folder, pattern).items():
            for f in split_files(files, split, train_fraction):
                try:
                    if kind == "aedat":
                        target = out_dir / CLASSES[label] / f"{f.stem}.npz"
                        if not target.is_file():
                            save_frames(target, events_to_frames(read_cifar10_dvs(f), T, SENSOR, split_by))
                        f = target
                    else:
                        check_npz(f, keys)
                except (CorruptEventFile, OSError) as err:
                    bad.handle(f, err)
                    continue
                samples.append((f, label))
        bad.report(f"CIFAR10-DVS {split} in {root}")
        if not samples:
            raise FileNotFoundError(f"CIFAR10-DVS {split} in {root} has no usable samples; {LAYOUTS}")
        super().__init__(samples, "events" if kind == "events" else "frames", T, split_by,
                         SENSOR, img_size, binary, transform)
