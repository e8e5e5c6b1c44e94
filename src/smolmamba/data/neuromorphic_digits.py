"""Neuromorphic digits: sklearn digits recorded by a simulated DVS, as N-MNIST was made.

Orchard et al. 2015 moved a camera through three saccades in front of still MNIST digits.
Here the upsampled digit moves (sub-pixel, bilinear) along a triangle of three linear
saccades: right-down, left-down, then up back to the start, each `saccade_ms` long and
sampled at `steps_per_saccade` steps. A DVS pixel emits an ON (p=1) or OFF (p=0) event
each time log(I + eps) moves one contrast threshold away from its reference level since
its last event; the reference steps by one threshold per event, so a large change gives
several events, timed by linear interpolation within the step. Thresholds carry seeded
per-pixel mismatch (one sensor for every sample). Events are cached in one .npz per split,
named by a hash of every parameter, and binned into frames [T, 2, H, W] (0 = OFF, 1 = ON)
on access.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from smolmamba.io import atomic_path

from .digits import NUM_CLASSES, load_digits_split, upsample
from .events import events_to_frames

log = logging.getLogger(__name__)
VERSION = 1


def default_cache_dir() -> Path:
    """$SMOLMAMBA_CACHE, else ~/.cache/smolmamba."""
    return Path(os.environ.get("SMOLMAMBA_CACHE") or Path.home() / ".cache" / "smolmamba")


@dataclasses.dataclass(frozen=True)
class SaccadeDvsCfg:
    img_size: int = 32              # sensor H = W; the digit is upsampled to this size
    amplitude: float = 3.0          # saccade length scale in pixels (triangle side ~ this)
    steps_per_saccade: int = 24     # simulation steps per saccade
    saccade_ms: float = 100.0       # duration of one saccade (N-MNIST: ~100 ms)
    threshold: float = 0.25         # mean contrast threshold on log(I + eps)
    threshold_sigma: float = 0.03   # std of per-pixel threshold mismatch (absolute)
    eps: float = 0.1                # log offset; I is in [0, 1]
    seed: int = 0                   # seeds the threshold mismatch


def saccade_path(cfg: SaccadeDvsCfg) -> tuple[np.ndarray, np.ndarray]:
    """-> (shifts float64 [S+1, 2] as (dx, dy) pixels, times int64 [S+1] in us)."""
    a = cfg.amplitude
    vertices = np.array([[0, 0], [a, a / 2], [0, a], [0, 0]], np.float64)  # right-down, left-down, up
    vertices -= vertices[:3].mean(0)
    k = cfg.steps_per_saccade
    frac = np.arange(k) / k
    shifts = [v0 + frac[:, None] * (v1 - v0) for v0, v1 in zip(vertices[:-1], vertices[1:])]
    shifts = np.concatenate(shifts + [vertices[-1:]])
    times = np.round(np.arange(3 * k + 1) * cfg.saccade_ms * 1000.0 / k).astype(np.int64)
    return shifts, times


def shift_images(images: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate by (dx, dy) pixels, bilinear, zero outside: [N, H, W] -> [N, H, W]."""
    N, H, W = images.shape
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = dx - ix, dy - iy
    pad = max(abs(ix), abs(iy)) + 1
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))

    def window(oy: int, ox: int) -> np.ndarray:  # out[y, x] = images[y - oy, x - ox]
        return padded[:, pad - oy:pad - oy + H, pad - ox:pad - ox + W]

    return ((1 - fy) * ((1 - fx) * window(iy, ix) + fx * window(iy, ix + 1))
            + fy * ((1 - fx) * window(iy + 1, ix) + fx * window(iy + 1, ix + 1)))


def dvs_events(video: np.ndarray, times: np.ndarray, thresholds: np.ndarray,
               eps: float = 0.1) -> dict[str, np.ndarray]:
    """DVS pixel model. video [S, N, H, W] intensities >= 0, times [S] (us),
    thresholds [2, H, W] (OFF, ON) -> events dict t, x, y, p, i (sample index), each [E],
    sorted by (i, t). The reference level starts at frame 0 (sensor adapted to it)."""
    S, N, H, W = video.shape
    log_i = np.log(video.astype(np.float32) + np.float32(eps))
    ref = log_i[0].copy()
    c_off, c_on = thresholds.astype(np.float32)
    out = {k: [] for k in ("t", "x", "y", "p", "i")}
    for s in range(1, S):
        prev, cur = log_i[s - 1], log_i[s]
        d = cur - ref
        n_on = np.maximum(np.floor(d / c_on), 0)
        n_off = np.maximum(np.floor(-d / c_off), 0)
        for n, c, sign, p in ((n_off, c_off, -1.0, 0), (n_on, c_on, 1.0, 1)):
            flat = np.flatnonzero(n)
            if flat.size == 0:
                continue
            counts = n.ravel()[flat].astype(np.int64)
            pix = np.repeat(flat, counts)
            j = np.arange(pix.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1
            step = np.broadcast_to(c, n.shape).ravel()[pix]
            level = ref.ravel()[pix] + sign * j * step
            frac = np.clip((level - prev.ravel()[pix]) / (cur.ravel()[pix] - prev.ravel()[pix]), 0, 1)
            i, yx = np.divmod(pix, H * W)
            y, x = np.divmod(yx, W)
            out["t"].append(np.round(times[s - 1] + frac * (times[s] - times[s - 1])).astype(np.int64))
            out["x"].append(x)
            out["y"].append(y)
            out["i"].append(i)
            out["p"].append(np.full(pix.size, p, np.int64))
        ref += n_on * c_on - n_off * c_off
    ev = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in out.items()}
    order = np.lexsort((ev["t"], ev["i"]))
    return {k: v[order] for k, v in ev.items()}


def sensor_thresholds(cfg: SaccadeDvsCfg) -> np.ndarray:
    """Seeded per-pixel (OFF, ON) thresholds [2, H, W], floored at 20% of the mean."""
    rng = np.random.default_rng(cfg.seed)
    noise = rng.normal(0.0, cfg.threshold_sigma, (2, cfg.img_size, cfg.img_size))
    return np.maximum(cfg.threshold + noise, 0.2 * cfg.threshold)


def record(images: np.ndarray, cfg: SaccadeDvsCfg, chunk: int = 256) -> dict[str, np.ndarray]:
    """Images [N, h, w] in [0, 1] -> events dict t, x, y, p (int arrays) and offsets [N+1];
    sample n owns events offsets[n]:offsets[n+1]."""
    shifts, times = saccade_path(cfg)
    thresholds = sensor_thresholds(cfg)
    parts, counts = [], []
    for start in range(0, len(images), chunk):
        x = upsample(images[start:start + chunk], cfg.img_size)[:, 0].numpy()  # (n, H, W)
        video = np.stack([shift_images(x, dx, dy) for dx, dy in shifts])  # (S, n, H, W)
        ev = dvs_events(video, times, thresholds, cfg.eps)
        counts.append(np.bincount(ev.pop("i"), minlength=x.shape[0]))
        parts.append(ev)
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
    return {"t": np.concatenate([p["t"] for p in parts]).astype(np.int32),
            "x": np.concatenate([p["x"] for p in parts]).astype(np.uint8),
            "y": np.concatenate([p["y"] for p in parts]).astype(np.uint8),
            "p": np.concatenate([p["p"] for p in parts]).astype(np.uint8),
            "offsets": offsets.astype(np.int64)}


def cache_path(cache_dir, split: str, cfg: SaccadeDvsCfg) -> Path:
    """<cache_dir>/nmnist_digits_<split>_v<VERSION>_<hash of cfg>.npz."""
    key = json.dumps({"version": VERSION, "split": split, **dataclasses.asdict(cfg)}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"nmnist_digits_{split}_v{VERSION}_{digest}.npz"


def load_or_record(split: str, cfg: SaccadeDvsCfg, cache_dir=None) -> dict[str, np.ndarray]:
    """Cached events for one digits split (record and save on a miss) plus labels."""
    path = cache_path(cache_dir or default_cache_dir(), split, cfg)
    if path.exists():
        with np.load(path) as z:
            return dict(z)
    images, labels = load_digits_split(split)
    data = {**record(images, cfg), "labels": labels}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a temp left by a kill is no *.npz
        np.savez(f, **data)  # uncompressed (~50 MB both splits); zlib adds seconds
    log.info("recorded %d neuromorphic digits (%d events) -> %s", len(labels), data["t"].size, path)
    return data


class NeuromorphicDigits(Dataset):
    """Saccade-recorded digits as frames [T, 2, H, W] float32 (0 = OFF, 1 = ON), labels 0..9."""

    num_classes = NUM_CLASSES

    def __init__(self, split: str = "train", T: int = 8, split_by: str = "time",
                 binary: bool = False, cfg: SaccadeDvsCfg = SaccadeDvsCfg(), cache_dir=None,
                 transform=None):
        self.data = load_or_record(split, cfg, cache_dir)
        self.labels = self.data["labels"].tolist()
        self.T, self.split_by, self.binary = T, split_by, binary
        self.size = (cfg.img_size, cfg.img_size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def events(self, i: int) -> dict[str, np.ndarray]:
        """Events of sample i: dict t (us), x, y, p, each [E_i]."""
        a, b = self.data["offsets"][i], self.data["offsets"][i + 1]
        return {k: self.data[k][a:b] for k in ("t", "x", "y", "p")}

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        frames = torch.from_numpy(events_to_frames(self.events(i), self.T, self.size,
                                                   self.split_by, self.binary))
        if self.transform is not None:
            frames = self.transform(frames)
        return frames, self.labels[i]
