"""Writers for tiny AEDAT 2.0 / 3.1 files in the real byte layouts (tests only)."""

import struct

import numpy as np

AEDAT2_HEADER = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                 b"# Data format is int32 address, int32 timestamp (8 bytes total)\r\n"
                 b"# Timestamps tick is 1 us\r\n")
AEDAT31_HEADER = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
                  b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")


def write_aedat2(path, t, x, y, p):
    """Big-endian (address, timestamp) records after the '#' header; DVS128 address bits."""
    addr = (np.asarray(y, np.uint32) << 8) | (np.asarray(x, np.uint32) << 1) | np.asarray(p, np.uint32)
    rec = np.stack([addr, np.asarray(t, np.uint32)], 1).astype(">u4")
    with open(path, "wb") as f:
        f.write(AEDAT2_HEADER + rec.tobytes())


def packet(e_type, overflow, body, n, e_size=8):
    """28-byte little-endian packet header + body."""
    return struct.pack("<hhiiiiii", e_type, 1, e_size, 4, overflow, n, n, n) + body


def polarity_packet(t, x, y, p, valid=None):
    """One polarity packet; all t must share t >> 31."""
    t = np.asarray(t, np.int64)
    overflow = int(t[0] >> 31)
    assert np.all(t >> 31 == overflow)
    valid = np.ones(t.size, np.uint32) if valid is None else np.asarray(valid, np.uint32)
    data = (valid | (np.asarray(p, np.uint32) << 1) | (np.asarray(y, np.uint32) << 2)
            | (np.asarray(x, np.uint32) << 17))
    rec = np.empty(t.size, dtype=[("data", "<u4"), ("ts", "<i4")])
    rec["data"], rec["ts"] = data, (t & 0x7FFFFFFF).astype(np.int32)
    return packet(1, overflow, rec.tobytes(), t.size)


def special_packet(n):
    """A non-polarity packet (eventType 0, special events) that readers must skip."""
    return packet(0, 0, np.arange(2 * n, dtype="<u4").tobytes(), n)


def write_aedat31(path, packets):
    with open(path, "wb") as f:
        f.write(AEDAT31_HEADER + b"".join(packets))


def random_events(rng, n, t_max, size=128):
    """Sorted random events dict t, x, y, p (int64)."""
    return {"t": np.sort(rng.integers(0, t_max, n)), "x": rng.integers(0, size, n),
            "y": rng.integers(0, size, n), "p": rng.integers(0, 2, n)}


def write_gesture_trial(path, events, chunk=300):
    """events -> AEDAT 3.1 with polarity packets of `chunk` events and one special packet."""
    packets = [special_packet(3)]
    for a in range(0, events["t"].size, chunk):
        packets.append(polarity_packet(*(events[k][a:a + chunk] for k in ("t", "x", "y", "p"))))
    write_aedat31(path, packets)
