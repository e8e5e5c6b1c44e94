"""Embedded default dataset: scikit-learn's 8x8 handwritten digits (1,797 real images).

Fixed stratified split (seed 0): 1,347 train / 450 test. Pixels 0..16 -> [0, 1],
bilinearly upsampled to img_size. Samples are [C, img_size, img_size] float32, labels 0..9.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

NUM_CLASSES = 10
TEST_SIZE = 450
SPLITS = ("train", "test")


def load_digits_split(split: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """-> (images float32 [N, 8, 8] in [0, 1], labels int64 [N]) for one fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in SPLITS:
        raise ValueError(f"split={split!r}; expected one of {SPLITS}")
    bunch = load_digits()
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(np.arange(labels.size), test_size=TEST_SIZE,
                                           random_state=seed, stratify=labels)
    idx = train_idx if split == "train" else test_idx
    return (bunch.images[idx] / 16.0).astype(np.float32), labels[idx]


def upsample(images: np.ndarray, size: int) -> torch.Tensor:
    """[N, h, w] -> [N, 1, size, size] float32, bilinear, clamped to [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp_(0.0, 1.0)


class Digits(Dataset):
    """sklearn digits as [C, img_size, img_size] float32 in [0, 1]; in_chans 1 or 3 (repeated)."""

    def __init__(self, split: str = "train", img_size: int = 32, in_chans: int = 1,
                 transform=None, seed: int = 0):
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans={in_chans}; digits are grey, use 1 or 3 (repeated)")
        images, labels = load_digits_split(split, seed)
        self.images = upsample(images, img_size).repeat(1, in_chans, 1, 1)  # (N, C, H, W)
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[i]
