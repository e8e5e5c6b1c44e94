"""smolmamba.io: every writer leaves the old file or the new one, never a part, and no temp behind."""

import numpy as np
import pytest

from smolmamba.io import atomic_path, write_csv_atomic, write_text_atomic


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "frames.npz"
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        np.savez(f, a=np.arange(3))
    assert np.load(target)["a"].tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert np.load(target)["a"].tolist() == [0, 1, 2]  # the old file stands
    assert [p.name for p in target.parent.iterdir()] == ["frames.npz"]  # no temp left


def test_atomic_path_keeps_the_suffix(tmp_path):
    with atomic_path(tmp_path / "plot.png", suffix=".png") as tmp:
        assert tmp.name.endswith(".png") and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"


def test_csv_and_text(tmp_path):
    write_csv_atomic(tmp_path / "t.csv", [{"a": 1, "b": "x"}, {"a": 2}], ["a", "b"])
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,x\n2,\n"
    write_text_atomic(tmp_path / "t.csv", "new")
    assert (tmp_path / "t.csv").read_text() == "new"
