"""Event streams -> frames, and augmentations on event frames.

Events are a dict of equal-length arrays, or a numpy structured array, with fields
t (timestamp, any integer unit), x, y (pixel), p (polarity, 0 = OFF, 1 = ON).
Frames are float32 [T, 2, H, W] event counts; channel 0 = OFF, channel 1 = ON.
"""

from __future__ import annotations

import numpy as np
import torch

SPLIT_BY = ("number", "time")


def events_to_frames(events, T: int, size: tuple[int, int], split_by: str = "number",
                     binary: bool = False) -> np.ndarray:
    """Count events into T frames -> float32 [T, 2, H, W].

    split_by="number": frame j holds events [j*N//T, (j+1)*N//T) in stream order, the last
    frame also takes the remainder (SpikingJelly integrate_events_by_fixed_frames_number).
    split_by="time": frame j holds events with t0 + j*dt <= t < t0 + (j+1)*dt,
    dt = (t_max - t0) // T, the last frame also takes t >= t0 + T*dt.
    binary=True clips counts to {0, 1}.
    """
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by={split_by!r}; expected one of {SPLIT_BY}")
    if T < 1:
        raise ValueError(f"T={T}; expected T >= 1 frames")
    H, W = size
    t = np.asarray(events["t"]).astype(np.int64)
    x = np.asarray(events["x"]).astype(np.int64)
    y = np.asarray(events["y"]).astype(np.int64)
    p = np.asarray(events["p"]).astype(np.int64)
    n = t.size
    if not (x.size == y.size == p.size == n):
        raise ValueError(f"events fields differ in length: t {n}, x {x.size}, y {y.size}, p {p.size}")
    if n == 0:
        return np.zeros((T, 2, H, W), np.float32)
    if x.min() < 0 or x.max() >= W or y.min() < 0 or y.max() >= H:
        raise ValueError(f"event coordinates x in [{x.min()}, {x.max()}], y in [{y.min()}, {y.max()}] "
                         f"fall outside size (H, W)=({H}, {W}); pass the sensor size")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"polarity values in [{p.min()}, {p.max()}]; expected 0 (OFF) or 1 (ON)")
    if split_by == "number":
        frame = np.minimum(np.arange(n) // max(n // T, 1), T - 1)
    else:
        t0 = t.min()
        frame = np.minimum((t - t0) // max((t.max() - t0) // T, 1), T - 1)
    flat = ((frame * 2 + p) * H + y) * W + x
    counts = np.bincount(flat, minlength=T * 2 * H * W).astype(np.float32).reshape(T, 2, H, W)
    return np.minimum(counts, 1.0) if binary else counts


def flip_x(frames: torch.Tensor) -> torch.Tensor:
    """Mirror left/right: [..., H, W] -> [..., H, W]."""
    return frames.flip(-1)


def roll(frames: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate by (dy, dx) pixels, zero-filling what enters: [..., H, W] -> [..., H, W]."""
    out = torch.zeros_like(frames)
    H, W = frames.shape[-2:]
    if abs(dy) >= H or abs(dx) >= W:
        return out
    ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    out[..., yd, xd] = frames[..., ys, xs]
    return out


def drop_events(frames: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """EventDrop-style thinning: keep each counted event with probability 1 - p. [...] -> [...]."""
    if p <= 0:
        return frames
    counts = frames.round().clamp_min(0)
    keep = torch.full_like(counts, 1.0 - p)
    return torch.binomial(counts, keep, generator=generator).to(frames.dtype)


class EventAugment:
    """Random flip, translation, frame drop and event drop for one sample [T, 2, H, W].

    flip: mirror x with probability 0.5. Leave it off where left/right carries the label
    (DVS Gesture: right-hand vs left-hand wave) or for digits.
    max_shift: translate by up to this many pixels in y and x (zero fill).
    frame_drop: probability of zeroing each time step; event_drop: per-event drop probability.
    """

    def __init__(self, flip: bool = False, max_shift: int = 0, frame_drop: float = 0.0,
                 event_drop: float = 0.0, seed: int | None = None):
        for name, value in (("frame_drop", frame_drop), ("event_drop", event_drop)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value}; expected a probability in [0, 1)")
        if max_shift < 0:
            raise ValueError(f"max_shift={max_shift}; expected >= 0 pixels")
        self.flip, self.max_shift = flip, max_shift
        self.frame_drop, self.event_drop = frame_drop, event_drop
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """[T, 2, H, W] -> [T, 2, H, W]."""
        if frames.dim() != 4 or frames.shape[1] != 2:
            raise ValueError(f"EventAugment expects one sample [T, 2, H, W], got {tuple(frames.shape)}")
        g = self.generator
        if self.flip and torch.rand((), generator=g) < 0.5:
            frames = flip_x(frames)
        if self.max_shift > 0:
            dy, dx = torch.randint(-self.max_shift, self.max_shift + 1, (2,), generator=g).tolist()
            frames = roll(frames, dy, dx)
        if self.frame_drop > 0:
            keep = torch.rand(frames.shape[0], generator=g) >= self.frame_drop
            frames = frames * keep.to(frames.dtype)[:, None, None, None]
        return drop_events(frames, self.event_drop, generator=g)

    def __repr__(self) -> str:
        return (f"EventAugment(flip={self.flip}, max_shift={self.max_shift}, "
                f"frame_drop={self.frame_drop}, event_drop={self.event_drop})")
