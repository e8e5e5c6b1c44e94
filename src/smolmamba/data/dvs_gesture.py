"""DVS128 Gesture (Amir et al. 2017): 11 gestures, 128x128, official user split.

Accepted layouts under root (first match wins):
  1. SpikingJelly frames:  frames_number_{T}_split_by_{split_by}/{train,test}/<label>/*.npz (key frames)
  2. original release:     userXX_<lighting>.aedat, userXX_<lighting>_labels.csv,
                           trials_to_train.txt, trials_to_test.txt (in root, root/DvsGesture
                           or root/extract/DvsGesture)
  3. SpikingJelly events:  events_np/{train,test}/<label>/*.npz (keys t, x, y, p)
The release is sliced at [startTime_usec, endTime_usec) per csv row (class 1..11 -> 0..10),
binned to T frames and cached per gesture as .npz under
<release>/smolmamba_cache (or cache_dir)/dvs_gesture_T{T}_{split_by}_v1/<split>/.
Samples are [T, 2, img_size, img_size] float32 (0 = OFF, 1 = ON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from smolmamba.io import write_text_atomic

from .aedat import CorruptEventFile, read_aedat31
from .event_folder import BadFiles, EventFrameFolder, check_npz, save_frames, sj_frames_dir
from .events import events_to_frames

CLASSES = ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
           "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
           "arm_roll", "air_drums", "air_guitar", "other_gestures")
SENSOR = (128, 128)
CACHE_VERSION = 1
LAYOUTS = """expected one of these under root:
  frames_number_{T}_split_by_{split_by}/{train,test}/<label 0..10>/*.npz   (SpikingJelly frames)
  trials_to_train.txt, trials_to_test.txt, userXX_<lighting>.aedat, userXX_<lighting>_labels.csv
      (original DvsGesture release; also root/DvsGesture/ or root/extract/DvsGesture/)
  events_np/{train,test}/<label 0..10>/*.npz                              (SpikingJelly events)"""


def read_labels_csv(path) -> np.ndarray:
    """userXX_<lighting>_labels.csv -> int64 [K, 3] rows (class 0..10, start_us, end_us)."""
    try:
        rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as err:
        raise CorruptEventFile(path, f"unreadable labels csv ({err}); expected header "
                                     f"'class,startTime_usec,endTime_usec' and integer rows") from err
    if rows.shape[1] != 3 or rows.size and not (1 <= rows[:, 0].min() <= rows[:, 0].max() <= 11):
        raise CorruptEventFile(path, "expected 3 columns with class numbers 1..11")
    rows[:, 0] -= 1
    return rows


def slice_trial(events: dict[str, np.ndarray], rows: np.ndarray) -> list[tuple[dict, int]]:
    """Cut one recording into gestures: [(events with start <= t < end, label), ...]."""
    out = []
    for label, start, end in rows:
        keep = (events["t"] >= start) & (events["t"] < end)
        out.append(({k: v[keep] for k, v in events.items()}, int(label)))
    return out


def find_release(root: Path) -> Path | None:
    for d in (root, root / "DvsGesture", root / "extract" / "DvsGesture"):
        if (d / "trials_to_train.txt").is_file():
            return d
    return None


def convert_release(release: Path, split: str, T: int, split_by: str, out_dir: Path,
                    bad: BadFiles) -> list[tuple[Path, int]]:
    """Slice, bin and cache every trial listed in trials_to_<split>.txt -> [(frames file, label)]."""
    listing = release / f"trials_to_{split}.txt"
    trials = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    samples = []
    for name in trials:
        stem = Path(name).stem
        index = out_dir / f"{stem}.json"
        if not index.is_file():
            try:
                rows = read_labels_csv(release / f"{stem}_labels.csv")
                gestures = slice_trial(read_aedat31(release / name), rows)
            except (CorruptEventFile, OSError) as err:
                bad.handle(release / name, err)
                continue
            labels = []
            for k, (events, label) in enumerate(gestures):
                save_frames(out_dir / f"{stem}_{k}.npz", events_to_frames(events, T, SENSOR, split_by))
                labels.append(label)
            write_text_atomic(index, json.dumps(labels))
        labels = json.loads(index.read_text())
        samples += [(out_dir / f"{stem}_{k}.npz", label) for k, label in enumerate(labels)]
    return samples


def scan_labelled(folder: Path, keys, bad: BadFiles) -> list[tuple[Path, int]]:
    """<folder>/<label>/*.npz -> [(file, label)], checking each file."""
    dirs = [p for p in folder.iterdir() if p.is_dir()]
    if not dirs or not all(p.name.isdigit() for p in dirs):
        raise FileNotFoundError(f"{folder} should hold label folders 0..10, found "
                                f"{sorted(p.name for p in dirs)}; {LAYOUTS}")
    samples = []
    for d in sorted(dirs, key=lambda p: int(p.name)):
        for f in sorted(d.glob("*.npz")):
            try:
                check_npz(f, keys)
            except CorruptEventFile as err:
                bad.handle(f, err)
                continue
            samples.append((f, int(d.name)))
    return samples


class DvsGesture(EventFrameFolder):
    """DVS128 Gesture -> frames [T, 2, img_size, img_size] float32, labels 0..10."""

    num_classes = len(CLASSES)

    def __init__(self, root, split: str = "train", T: int = 16, split_by: str = "number",
                 img_size: int = 128, binary: bool = False, cache_dir=None,
                 on_bad_file: str = "skip", transform=None):
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}; expected 'train' or 'test'")
        root, bad = Path(root), BadFiles(on_bad_file)
        if not root.is_dir():
            raise FileNotFoundError(f"DVS Gesture root {root} does not exist; {LAYOUTS}")
        release = find_release(root)
        if (sj_frames_dir(root, T, split_by) / split).is_dir():
            kind, samples = "frames", scan_labelled(sj_frames_dir(root, T, split_by) / split, ["frames"], bad)
        elif release is not None:
            base = Path(cache_dir) if cache_dir is not None else release / "smolmamba_cache"
            out_dir = base / f"dvs_gesture_T{T}_{split_by}_v{CACHE_VERSION}" / split
            kind, samples = "frames", convert_release(release, split, T, split_by, out_dir, bad)
        elif (root / "events_np" / split).is_dir():
            kind, samples = "events", scan_labelled(root / "events_np" / split, ["t", "x", "y", "p"], bad)
        else:
            raise FileNotFoundError(f"no DVS Gesture data found in {root}; {LAYOUTS}")
        bad.report(f"DVS Gesture {split} in {root}")
        if not samples:
            raise FileNotFoundError(f"DVS Gesture {split} in {root} has no usable samples; {LAYOUTS}")
        super().__init__(samples, kind, T, split_by, SENSOR, img_size, binary, transform)
