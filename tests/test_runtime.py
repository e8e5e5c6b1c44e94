"""The allocator tuning keeps freed large tensors in the process (no fresh page faults next time)."""

import subprocess
import sys

import pytest

SCRIPT = """
import sys, torch
from smolmamba.runtime import tune_cpu_allocator
applied = tune_cpu_allocator() if sys.argv[1] == "tuned" else False
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
x = torch.ones(96 * 2**20 // 4)  # 96 MiB, above glibc's largest mmap threshold
held = rss_mb()
del x
print(applied, held - rss_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt and /proc are Linux-only")
@pytest.mark.parametrize("mode", ["default", "tuned"])
def test_large_free_stays_in_process_only_when_tuned(mode):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    applied, released_mb = out.stdout.split()
    released_mb = float(released_mb)
    if mode == "default":
        assert applied == "False" and released_mb > 80  # munmap gave the pages back
    else:
        assert applied == "True" and released_mb < 16  # kept in the heap for the next tensor


def test_opt_out(monkeypatch):
    from smolmamba.runtime import OPT_OUT_ENV, tune_cpu_allocator

    monkeypatch.setenv(OPT_OUT_ENV, "0")
    assert tune_cpu_allocator() is False
