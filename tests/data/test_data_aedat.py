import numpy as np
import pytest

from dvs_file_writers import (AEDAT2_HEADER, packet, polarity_packet, random_events, special_packet,
                              write_aedat2, write_aedat31)
from smolmamba.data.aedat import CorruptEventFile, read_aedat2, read_aedat31


def test_aedat2_roundtrip(tmp_path):
    ev = random_events(np.random.default_rng(0), 500, 2**32 - 1)
    path = tmp_path / "cifar10_cat_0.aedat"
    write_aedat2(path, **ev)
    got = read_aedat2(path)
    for k in "txyp":
        np.testing.assert_array_equal(got[k], ev[k])


def test_aedat2_end_header_line_and_hash_byte(tmp_path):
    # high address bits 0x23 put '#' first in the record; #!END-HEADER marks where data starts
    path = tmp_path / "a.aedat"
    addr = np.array([0x23000000 | (0x23 << 8) | (5 << 1) | 1], ">u4")
    path.write_bytes(AEDAT2_HEADER + b"#!END-HEADER\r\n" + np.stack([addr, [7]], 1).astype(">u4").tobytes())
    got = read_aedat2(path)
    assert (got["x"][0], got["y"][0], got["p"][0], got["t"][0]) == (5, 0x23, 1, 7)


def test_aedat2_truncated_and_headerless(tmp_path):
    path = tmp_path / "cut.aedat"
    write_aedat2(path, [1, 2], [3, 4], [5, 6], [0, 1])
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CorruptEventFile, match="cut.aedat.*truncated"):
        read_aedat2(path)
    bare = tmp_path / "bare.aedat"
    bare.write_bytes(b"\x00" * 16)
    with pytest.raises(CorruptEventFile, match="bare.aedat.*AER-DAT2.0"):
        read_aedat2(bare)


def test_aedat31_roundtrip_packets_overflow_invalid(tmp_path):
    rng = np.random.default_rng(1)
    a = random_events(rng, 100, 2**31 - 1)
    b = random_events(rng, 80, 1000)
    b["t"] += 2**31 + 5  # second packet after one timestamp overflow
    valid_b = np.ones(80, int)
    valid_b[::7] = 0
    path = tmp_path / "user01_fluorescent.aedat"
    write_aedat31(path, [special_packet(4), polarity_packet(a["t"], a["x"], a["y"], a["p"]),
                         special_packet(2), polarity_packet(b["t"], b["x"], b["y"], b["p"], valid_b)])
    got = read_aedat31(path)
    keep = valid_b.astype(bool)
    for k in "txyp":
        np.testing.assert_array_equal(got[k], np.concatenate([a[k], b[k][keep]]))
    assert got["t"].max() > 2**31


def test_aedat31_truncated(tmp_path):
    ev = random_events(np.random.default_rng(2), 50, 10**6)
    path = tmp_path / "user02_led.aedat"
    write_aedat31(path, [polarity_packet(ev["t"], ev["x"], ev["y"], ev["p"])])
    full = path.read_bytes()
    path.write_bytes(full[:-10])
    with pytest.raises(CorruptEventFile, match="user02_led.aedat.*truncated"):
        read_aedat31(path)
    path.write_bytes(full[:-(50 * 8 + 10)])  # cut inside the packet header
    with pytest.raises(CorruptEventFile, match="user02_led.aedat.*header"):
        read_aedat31(path)
    path.write_bytes(b"#!AER-DAT3.1\r\n" + packet(1, 0, b"", 0))
    with pytest.raises(CorruptEventFile, match="END-HEADER"):
        read_aedat31(path)
