import numpy as np
import pytest

import smolmamba.data.neuromorphic_digits as nd
from smolmamba.data.digits import load_digits_split

SMALL = nd.SaccadeDvsCfg(img_size=16, steps_per_saccade=6)


def moving_bar_events(steps=12, speed=0.25, threshold=0.2):
    img = np.zeros((1, 16, 16), np.float32)
    img[:, :, 4:7] = 1.0  # bright bar, columns 4..6
    video = np.stack([nd.shift_images(img, speed * s, 0.0) for s in range(steps + 1)])  # (S, 1, H, W)
    times = np.arange(steps + 1) * 1000
    return nd.dvs_events(video, times, np.full((2, 16, 16), threshold))


def test_on_leads_off_trails_for_bright_bar_moving_right():
    ev = moving_bar_events()  # bar ends at columns 7..9
    on, off = ev["p"] == 1, ev["p"] == 0
    assert on.sum() > 0 and off.sum() > 0
    assert set(ev["x"][on]) <= {7, 8, 9}  # leading (right) edge brightens
    assert set(ev["x"][off]) <= {4, 5, 6}  # trailing (left) edge darkens
    assert ev["t"][on & (ev["x"] == 7)].min() < ev["t"][on & (ev["x"] == 9)].min()
    assert np.all(np.diff(ev["t"]) >= 0)


def test_several_events_for_several_thresholds():
    video = np.zeros((2, 1, 1, 1), np.float32)
    video[1] = 1.0  # log(1.1) - log(0.1) = 2.40 -> 9 thresholds of 0.25
    ev = nd.dvs_events(video, np.array([0, 1000]), np.full((2, 1, 1), 0.25), eps=0.1)
    assert ev["t"].size == 9 and np.all(ev["p"] == 1)
    assert np.all(np.diff(ev["t"]) > 0) and ev["t"].max() <= 1000


def test_record_deterministic_from_seed():
    images = load_digits_split("test")[0][:20]
    a, b = nd.record(images, SMALL), nd.record(images, SMALL)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = nd.record(images, nd.SaccadeDvsCfg(img_size=16, steps_per_saccade=6, seed=1))
    assert a["t"].size != c["t"].size or not np.array_equal(a["x"], c["x"])
    assert np.diff(a["offsets"]).min() > 50  # every digit emits events


def test_cache_hit_and_regeneration(tmp_path, monkeypatch):
    ds = nd.NeuromorphicDigits("test", T=8, cfg=SMALL, cache_dir=tmp_path)
    files = list(tmp_path.glob("nmnist_digits_test_v*.npz"))
    assert len(files) == 1 and len(ds) == 450

    def no_record(*args, **kwargs):
        raise AssertionError("recorded again")

    monkeypatch.setattr(nd, "record", no_record)
    again = nd.NeuromorphicDigits("test", T=8, cfg=SMALL, cache_dir=tmp_path)
    for k in ("t", "x", "y", "p", "offsets", "labels"):
        np.testing.assert_array_equal(ds.data[k], again.data[k])
    changed = nd.SaccadeDvsCfg(img_size=16, steps_per_saccade=6, threshold=0.3)
    assert nd.cache_path(tmp_path, "test", changed) != files[0]
    with pytest.raises(AssertionError, match="recorded again"):
        nd.NeuromorphicDigits("test", cfg=changed, cache_dir=tmp_path)


def test_frames_shape_and_polarities(tmp_path):
    ds = nd.NeuromorphicDigits("test", T=6, split_by="number", cfg=SMALL, cache_dir=tmp_path)
    frames, label = ds[0]
    assert frames.shape == (6, 2, 16, 16) and 0 <= label <= 9
    assert frames[:, 0].sum() > 0 and frames[:, 1].sum() > 0
    assert frames.sum() == ds.events(0)["t"].size
    binary = nd.NeuromorphicDigits("test", T=6, binary=True, cfg=SMALL, cache_dir=tmp_path)[0][0]
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
