import logging

import numpy as np
import pytest

import smolmamba.data.cifar10_dvs as cd
from dvs_file_writers import random_events, write_aedat2
from smolmamba.data.aedat import CorruptEventFile


def make_release(root, per_class=12):
    rng = np.random.default_rng(0)
    for name in cd.CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            write_aedat2(root / name / f"cifar10_{name}_{i}.aedat", **random_events(rng, 40, 10**6))


def test_nine_to_one_split_by_numeric_index(tmp_path):
    make_release(tmp_path)
    train = cd.Cifar10Dvs(tmp_path, "train", T=3)
    test = cd.Cifar10Dvs(tmp_path, "test", T=3)
    assert len(train) == 100 and len(test) == 20  # floor(0.9 * 12) = 10 per class
    assert np.bincount(train.labels).tolist() == [10] * 10 and np.bincount(test.labels).tolist() == [2] * 10
    assert [p.name for p, _ in test.samples[:2]] == ["cifar10_airplane_10.npz", "cifar10_airplane_11.npz"]
    frames, label = test[0]
    assert frames.shape == (3, 2, 128, 128) and label == 0 and frames.sum() == 40
    assert (tmp_path / "smolmamba_cache" / "cifar10_dvs_T3_number_v1" / "truck").is_dir()


def test_orientation_matches_spikingjelly(tmp_path):
    path = tmp_path / "one.aedat"
    write_aedat2(path, t=[5], x=[10], y=[20], p=[1])
    ev = cd.read_cifar10_dvs(path)
    assert (ev["x"][0], ev["y"][0], ev["p"][0]) == (127 - 20, 127 - 10, 0)


def test_bad_file_skip_or_fail(tmp_path, caplog):
    make_release(tmp_path, per_class=10)
    bad = tmp_path / "cat" / "cifar10_cat_2.aedat"
    bad.write_bytes(bad.read_bytes()[:-5])
    with caplog.at_level(logging.WARNING):
        ds = cd.Cifar10Dvs(tmp_path, "train", T=2, cache_dir=tmp_path / "c")
    assert len(ds) == 89 and "cifar10_cat_2.aedat" in caplog.text and "skipped 1 bad file" in caplog.text
    with pytest.raises(CorruptEventFile, match="cifar10_cat_2.aedat"):
        cd.Cifar10Dvs(tmp_path, "train", T=2, cache_dir=tmp_path / "c2", on_bad_file="fail")


def test_spikingjelly_frames_folder_and_missing_class(tmp_path):
    rng = np.random.default_rng(0)
    for name in cd.CLASSES:
        d = tmp_path / "frames_number_4_split_by_number" / name
        d.mkdir(parents=True)
        for i in range(10):
            np.savez(d / f"cifar10_{name}_{i}.npz", frames=rng.integers(0, 2, (4, 2, 128, 128)).astype(float))
    test = cd.Cifar10Dvs(tmp_path, "test", T=4, img_size=64)
    assert len(test) == 10 and test[0][0].shape == (4, 2, 64, 64)
    for f in (tmp_path / "frames_number_4_split_by_number" / "ship").glob("*.npz"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match="ship"):
        cd.Cifar10Dvs(tmp_path, "test", T=4)
