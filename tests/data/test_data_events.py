import numpy as np
import pytest
import torch

from dvs_file_writers import random_events
from smolmamba.data.events import EventAugment, drop_events, events_to_frames, flip_x, roll


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("T", [1, 5, 8])
def test_counts_sum_to_events(split_by, T):
    ev = random_events(np.random.default_rng(T), 1003, 10**6, size=16)
    frames = events_to_frames(ev, T, (16, 24), split_by)
    assert frames.shape == (T, 2, 16, 24) and frames.dtype == np.float32
    assert frames.sum() == 1003
    np.testing.assert_array_equal(frames[:, 1].sum(), ev["p"].sum())  # channel 1 = ON


def test_split_by_number_equal_counts_last_takes_rest():
    ev = random_events(np.random.default_rng(0), 103, 1000, size=8)
    per_frame = events_to_frames(ev, 4, (8, 8), "number").sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(per_frame, [25, 25, 25, 28])


def test_split_by_time_bins():
    ev = {"t": np.array([0, 10, 24, 25, 60, 99, 100]), "x": np.zeros(7, int), "y": np.zeros(7, int),
          "p": np.ones(7, int)}
    per_frame = events_to_frames(ev, 4, (1, 1), "time").sum(axis=(1, 2, 3))  # dt = 25
    np.testing.assert_array_equal(per_frame, [3, 1, 1, 2])


def test_structured_array_binary_and_errors():
    ev = np.zeros(4, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    ev["t"], ev["x"], ev["p"] = [0, 1, 2, 3], [1, 1, 1, 2], [1, 1, 0, 1]
    frames = events_to_frames(ev, 1, (2, 3), binary=True)
    assert frames[0, 1, 0, 1] == 1 and frames[0, 0, 0, 1] == 1 and frames.sum() == 3
    with pytest.raises(ValueError, match="outside size"):
        events_to_frames(ev, 1, (2, 2))
    with pytest.raises(ValueError, match="split_by"):
        events_to_frames(ev, 1, (2, 3), split_by="count")
    assert events_to_frames(ev[:0], 3, (2, 3)).shape == (3, 2, 2, 3)


def test_flip_roll_drop():
    x = torch.zeros(2, 2, 4, 5)
    x[:, :, 1, 0] = 3.0
    assert flip_x(x)[0, 0, 1, 4] == 3
    r = roll(x, 2, 1)
    assert r[0, 0, 3, 1] == 3 and r.sum() == x.sum()
    assert roll(x, -2, 0).sum() == 0  # moved out of the frame
    g = torch.Generator().manual_seed(0)
    big = torch.full((4, 2, 16, 16), 10.0)
    kept = drop_events(big, 0.3, g).sum() / big.sum()
    assert 0.65 < kept < 0.75


def test_event_augment_seeded_and_shape():
    x = torch.rand(6, 2, 16, 16).mul(4).round()
    a = EventAugment(flip=True, max_shift=3, frame_drop=0.2, event_drop=0.1, seed=5)
    b = EventAugment(flip=True, max_shift=3, frame_drop=0.2, event_drop=0.1, seed=5)
    ya, yb = a(x), b(x)
    assert ya.shape == x.shape and torch.equal(ya, yb) and ya.sum() <= x.sum()
    with pytest.raises(ValueError, match="T, 2, H, W"):
        a(x[0])
    with pytest.raises(ValueError, match="event_drop"):
        EventAugment(event_drop=1.5)
