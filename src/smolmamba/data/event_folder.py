"""Per-sample .npz folders of event frames or events, shared by dvs_gesture and cifar10_dvs.

A sample file holds either `frames` [T, 2, H, W] (SpikingJelly frames_number_* folders and
our own caches) or `t`, `x`, `y`, `p` arrays (SpikingJelly events_np folders, binned on
access). Also the on_bad_file policy: "skip" warns once per file and once with the count,
"fail" raises CorruptEventFile naming the file.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from smolmamba.io import atomic_path

from .aedat import CorruptEventFile
from .events import SPLIT_BY, events_to_frames

log = logging.getLogger(__name__)
ON_BAD_FILE = ("skip", "fail")
EVENT_KEYS = ("t", "x", "y", "p")


class BadFiles:
    """Applies on_bad_file to each unreadable file and reports the total."""

    def __init__(self, on_bad_file: str):
        if on_bad_file not in ON_BAD_FILE:
            raise ValueError(f"on_bad_file={on_bad_file!r}; expected one of {ON_BAD_FILE}")
        self.on_bad_file, self.skipped = on_bad_file, []

    def handle(self, path, err: Exception) -> None:
        """Raise (fail) or warn and remember (skip)."""
        if self.on_bad_file == "fail":
            if isinstance(err, CorruptEventFile):
                raise err
            raise CorruptEventFile(path, f"{type(err).__name__}: {err}") from err
        log.warning("skipping bad file %s (%s: %s)", os.fspath(path), type(err).__name__, err)
        self.skipped.append(os.fspath(path))

    def report(self, what: str) -> None:
        if self.skipped:
            log.warning("%s: skipped %d bad file(s): %s", what, len(self.skipped), ", ".join(self.skipped))


def check_npz(path, keys) -> None:
    """Raise CorruptEventFile unless path is a readable .npz holding every key in keys."""
    try:
        z = np.load(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise CorruptEventFile(path, f"unreadable .npz ({type(err).__name__}: {err})") from err
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise CorruptEventFile(path, "holds a single array, not an .npz archive")
    with z:
        missing = [k for k in keys if k not in z.files]
    if missing:
        raise CorruptEventFile(path, f".npz lacks key(s) {missing}; expected {list(keys)}")


def save_frames(path: Path, frames: np.ndarray) -> None:
    """Write counts [T, 2, H, W] as uint16 under key `frames`, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a temp left by a kill is no *.npz
        np.savez_compressed(f, frames=np.minimum(frames, np.iinfo(np.uint16).max).astype(np.uint16))


def sj_frames_dir(root: Path, T: int, split_by: str) -> Path:
    """SpikingJelly's folder name for frames integrated by fixed frame number."""
    return root / f"frames_number_{T}_split_by_{split_by}"


class EventFrameFolder(Dataset):
    """Samples from per-sample .npz files -> frames [T, 2, img_size, img_size] float32 (0 = OFF, 1 = ON).

    kind="frames": files hold `frames` [T, 2, H, W]; kind="events": files hold t, x, y, p
    and are binned with events_to_frames(T, sensor, split_by). binary clips counts to 1;
    img_size != sensor size then resizes with area interpolation (mean over each window).
    """

    def __init__(self, samples: list[tuple[Path, int]], kind: str, T: int, split_by: str,
                 sensor: tuple[int, int], img_size: int | None = None, binary: bool = False,
                 transform=None):
        if kind not in ("frames", "events"):
            raise ValueError(f"kind={kind!r}; expected 'frames' or 'events'")
        if split_by not in SPLIT_BY:
            raise ValueError(f"split_by={split_by!r}; expected one of {SPLIT_BY}")
        self.samples, self.kind, self.T, self.split_by = samples, kind, T, split_by
        self.sensor, self.img_size, self.binary = sensor, img_size, binary
        self.transform = transform

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load_frames(self, path: Path) -> np.ndarray:
        """One file -> float32 [T, 2, H, W] at sensor size."""
        with np.load(path) as z:
            if self.kind == "events":
                return events_to_frames({k: z[k] for k in EVENT_KEYS}, self.T, self.sensor, self.split_by)
            frames = z["frames"].astype(np.float32)
        if frames.shape[:2] != (self.T, 2):
            raise CorruptEventFile(path, f"frames have shape {frames.shape}, expected [T={self.T}, 2, H, W]")
        return frames

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        frames = torch.from_numpy(self.load_frames(path))
        if self.binary:
            frames = frames.clamp(max=1.0)
        if self.img_size is not None and tuple(frames.shape[-2:]) != (self.img_size, self.img_size):
            frames = F.interpolate(frames, size=(self.img_size, self.img_size), mode="area")
        if self.transform is not None:
            frames = self.transform(frames)
        return frames, label
