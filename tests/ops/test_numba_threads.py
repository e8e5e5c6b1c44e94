"""numba's kernels keep torch's thread count: numba's OpenMP layer, starting its pool, used to set the
process-wide OpenMP count to NUMBA_NUM_THREADS, so a process told to use 1 thread ran torch on every core
(two such processes on 2 cores: 18x slower). Checked in a fresh process, where the pool starts."""

import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = """
import torch
torch.set_num_threads(1)
from smolmamba.ops.lif_cpu import lif_forward
lif_forward(torch.rand(4, 4096), 2.0, 1.0, 0.0, False, True)
after_lif = torch.get_num_threads()
torch.set_num_threads(2)
lif_forward(torch.rand(4, 4096), 2.0, 1.0, 0.0, False, True)
print(after_lif, torch.get_num_threads())
"""


def test_numba_kernels_leave_torch_on_its_own_thread_count():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                         env={"PATH": "", "NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
    assert out.stdout.split() == ["1", "2"]
