"""Process-level CPU tuning: keep large activations out of freshly mapped pages.

glibc serves every allocation above its mmap threshold (at most 32 MiB) with new mmap'd pages and
unmaps them on free, so each large activation pays a page fault per 4 KiB page on every forward.
Measured on the 2-core CI machine (docs/PERFORMANCE.md): allocating and filling a 50 MiB tensor took
13 ms with the defaults and 0.5 ms with mmap off; the whole smolmamba_cifar forward at batch 64
ran 1.6x faster. The CLI calls `tune_cpu_allocator()` first; library users may call it themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30
OPT_OUT_ENV = "SMOLMAMBA_MALLOC_TUNING"


def tune_cpu_allocator() -> bool:
    """Serve large tensors from the reused heap (glibc: mmap off, trim above 1 GiB free).

    Returns True when applied; False on non-glibc systems or with SMOLMAMBA_MALLOC_TUNING=0.
    The cost: freed memory stays with the process for reuse instead of going back to the OS.
    """
    if os.environ.get(OPT_OUT_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
