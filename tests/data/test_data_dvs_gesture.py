import logging

import numpy as np
import pytest

import smolmamba.data.dvs_gesture as dg
from dvs_file_writers import random_events, write_gesture_trial
from smolmamba.data.aedat import CorruptEventFile
from smolmamba.data.events import events_to_frames

WINDOWS = {"user01_fluorescent": [(1, 100_000, 900_000), (5, 1_000_000, 1_800_000), (11, 2_000_000, 2_900_000)],
           "user02_led": [(3, 200_000, 1_000_000), (2, 1_500_000, 2_500_000)]}


def make_release(root, extra_train=()):
    """Two users, labels csv, trials lists; returns {trial: events}."""
    rng = np.random.default_rng(0)
    events = {}
    for trial, rows in WINDOWS.items():
        events[trial] = random_events(rng, 2000, 3_000_000)
        write_gesture_trial(root / f"{trial}.aedat", events[trial])
        lines = ["class,startTime_usec,endTime_usec"] + [f"{c},{s},{e}" for c, s, e in rows]
        (root / f"{trial}_labels.csv").write_text("\n".join(lines) + "\n")
    (root / "trials_to_train.txt").write_text("\n".join(["user01_fluorescent.aedat", *extra_train]) + "\n")
    (root / "trials_to_test.txt").write_text("user02_led.aedat\n")
    return events


def test_release_slices_labels_and_caches(tmp_path, monkeypatch):
    events = make_release(tmp_path)
    train = dg.DvsGesture(tmp_path, "train", T=4)
    test = dg.DvsGesture(tmp_path, "test", T=4)
    assert len(train) == 3 and len(test) == 2
    assert train.labels == [0, 4, 10] and test.labels == [2, 1]
    frames, label = train[1]
    assert frames.shape == (4, 2, 128, 128) and label == 4
    ev = events["user01_fluorescent"]
    window = (ev["t"] >= 1_000_000) & (ev["t"] < 1_800_000)
    expected = events_to_frames({k: v[window] for k, v in ev.items()}, 4, (128, 128), "number")
    np.testing.assert_array_equal(frames.numpy(), expected)
    cached = sorted((tmp_path / "smolmamba_cache" / "dvs_gesture_T4_number_v1" / "train").glob("*.npz"))
    assert [p.name for p in cached] == [f"user01_fluorescent_{k}.npz" for k in range(3)]

    def no_read(path):
        raise AssertionError("re-read aedat")

    monkeypatch.setattr(dg, "read_aedat31", no_read)
    assert dg.DvsGesture(tmp_path, "train", T=4).labels == [0, 4, 10]
    assert dg.DvsGesture(tmp_path, "train", T=4, img_size=32)[0][0].shape == (4, 2, 32, 32)


def test_bad_trial_skip_or_fail(tmp_path, caplog):
    make_release(tmp_path, extra_train=["user03_natural.aedat"])
    (tmp_path / "user03_natural.aedat").write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n" + b"\x01" * 30)
    (tmp_path / "user03_natural_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0,10\n")
    with caplog.at_level(logging.WARNING):
        ds = dg.DvsGesture(tmp_path, "train", T=2, cache_dir=tmp_path / "c1")
    assert len(ds) == 3
    assert "user03_natural.aedat" in caplog.text and "skipped 1 bad file" in caplog.text
    with pytest.raises(CorruptEventFile, match="user03_natural.aedat"):
        dg.DvsGesture(tmp_path, "train", T=2, cache_dir=tmp_path / "c2", on_bad_file="fail")


def test_spikingjelly_frames_and_events_folders(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in (0, 7):
            d = tmp_path / "frames_number_4_split_by_number" / split / str(label)
            d.mkdir(parents=True)
            np.savez(d / "user01_led_0.npz", frames=rng.integers(0, 3, (4, 2, 128, 128)).astype(np.float64))
            e = tmp_path / "events_np" / split / str(label)
            e.mkdir(parents=True)
            np.savez(e / "user01_led_0.npz", **random_events(rng, 300, 10**6))
    frames_ds = dg.DvsGesture(tmp_path, "test", T=4)
    assert frames_ds.kind == "frames" and frames_ds.labels == [0, 7]
    assert frames_ds[1][0].shape == (4, 2, 128, 128)
    events_ds = dg.DvsGesture(tmp_path, "train", T=5)  # no frames_number_5 folder -> events_np
    assert events_ds.kind == "events" and events_ds[0][0].shape == (5, 2, 128, 128)
    assert events_ds[0][0].sum() == 300


def test_missing_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="trials_to_train.txt"):
        dg.DvsGesture(tmp_path, "train")
