"""Readers for AEDAT 2.0 (CIFAR10-DVS) and AEDAT 3.1 (DVS128 Gesture) event files.

Both return raw sensor events as a dict of int64 arrays t, x, y, p (see events.py);
dataset modules apply any orientation change. Layouts were checked against the
SpikingJelly readers (datasets/cifar10_dvs.py, datasets/utils.py load_aedat_v3).

AEDAT 2.0: ASCII header lines starting with b'#' (the first is b'#!AER-DAT2.0'; an
optional b'#!END-HEADER\\r\\n' ends them), then
big-endian records (uint32 address, uint32 timestamp in us). DVS128 address bits:
p = bit 0, x = bits 1-7, y = bits 8-14 (raw jAER polarity: 1 = OFF, 0 = ON).

AEDAT 3.1: header lines up to b'#!END-HEADER\\r\\n', then packets. A packet is a 28-byte
little-endian header (int16 eventType, int16 eventSource, int32 eventSize,
int32 eventTSOffset, int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber,
int32 eventValid) and eventCapacity * eventSize bytes (as SpikingJelly and dv-python
read them; files store capacity == number). Polarity packets (eventType 1, eventSize 8)
hold uint32 data (bit 0 valid, bit 1 polarity 1 = ON, bits 2-16 y, bits 17-31 x) and
int32 timestamp; t = eventTSOverflow << 31 | timestamp. Events whose valid bit is 0
are dropped (SpikingJelly keeps them). Other packet types are skipped.
"""

from __future__ import annotations

import os
import struct

import numpy as np

POLARITY_EVENT = 1
_PACKET_HEADER = struct.Struct("<hhiiiiii")
_END_HEADER = b"#!END-HEADER\r\n"


class CorruptEventFile(ValueError):
    """An event file that cannot be parsed; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {problem}. Re-copy or re-download this file, "
                         f"or pass on_bad_file='skip' to leave it out.")


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _skip_header(buf: bytes, path, magic: bytes, end_required: bool) -> int:
    """Byte offset of the first record after the '#' header lines (or after #!END-HEADER)."""
    if not buf.startswith(magic):
        raise CorruptEventFile(path, f"missing {magic.decode()!r} header, found {buf[:16]!r}")
    pos = 0
    while pos < len(buf) and buf[pos:pos + 1] == b"#":
        nl = buf.find(b"\n", pos)
        if nl < 0:
            raise CorruptEventFile(path, "header line without a newline (file truncated in the header)")
        line, pos = buf[pos:nl + 1], nl + 1
        if line == _END_HEADER:
            return pos
    if end_required:
        raise CorruptEventFile(path, f"header has no {_END_HEADER!r} line")
    return pos


def read_aedat2(path) -> dict[str, np.ndarray]:
    """AEDAT 2.0 DVS128 file -> raw events dict (t, x, y, p), each int64 [N]."""
    buf = _read(path)
    start = _skip_header(buf, path, b"#!AER-DAT2.0", end_required=False)
    body = len(buf) - start
    if body % 8:
        raise CorruptEventFile(path, f"{body} data bytes is not a whole number of 8-byte records "
                                     f"(file truncated)")
    rec = np.frombuffer(buf, dtype=">u4", offset=start).astype(np.int64)
    addr, t = rec[0::2], rec[1::2]
    return {"t": t, "x": (addr >> 1) & 0x7F, "y": (addr >> 8) & 0x7F, "p": addr & 1}


def read_aedat31(path) -> dict[str, np.ndarray]:
    """AEDAT 3.1 file -> raw polarity events dict (t, x, y, p), each int64 [N]."""
    buf = _read(path)
    pos = _skip_header(buf, path, b"#!AER-DAT3", end_required=True)
    parts = []
    while pos < len(buf):
        if len(buf) - pos < _PACKET_HEADER.size:
            raise CorruptEventFile(path, f"packet header at byte {pos} cut short (file truncated)")
        e_type, _, e_size, _, overflow, capacity, number, _ = _PACKET_HEADER.unpack_from(buf, pos)
        pos += _PACKET_HEADER.size
        if e_size <= 0 or capacity < 0 or not 0 <= number <= capacity:
            raise CorruptEventFile(path, f"packet at byte {pos - 28} has eventSize={e_size}, "
                                         f"eventCapacity={capacity}, eventNumber={number}")
        length = capacity * e_size
        if len(buf) - pos < length:
            raise CorruptEventFile(path, f"packet at byte {pos - 28} needs {length} bytes, "
                                         f"{len(buf) - pos} left (file truncated)")
        if e_type == POLARITY_EVENT:
            if e_size != 8:
                raise CorruptEventFile(path, f"polarity packet with eventSize={e_size}, expected 8")
            rec = np.frombuffer(buf, dtype="<u4", count=2 * number, offset=pos).astype(np.int64)
            parts.append((rec[0::2], rec[1::2] | (overflow << 31)))
        pos += length
    data = np.concatenate([d for d, _ in parts]) if parts else np.zeros(0, np.int64)
    t = np.concatenate([ts for _, ts in parts]) if parts else np.zeros(0, np.int64)
    valid = (data & 1).astype(bool)
    data, t = data[valid], t[valid]
    return {"t": t, "x": (data >> 17) & 0x7FFF, "y": (data >> 2) & 0x7FFF, "p": (data >> 1) & 1}
