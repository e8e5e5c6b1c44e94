"""DDP on CPU (gloo, 2 processes) against one process with the same global batch.

torch's SyncBatchNorm refuses CPU tensors, so under DDP each rank normalises its own micro-batch.
One process with accum_steps=2 does the same: `epoch_batches` hands micro-batch m of rank r chunk
r * accum + m of each global batch, so both runs see the same samples in the same BatchNorm groups
and average the same per-chunk gradients. They may differ only in float summation order (gloo
all-reduce vs accumulation, thread counts), so parameters are compared with atol 1e-5 after 3 AdamW
steps at lr 3e-3: far below one update (~lr), far above float32 rounding of the averaged gradients
(observed difference on the 2-core CI machine: 0). BatchNorm running statistics are not compared: the
ranks end with rank 0's (DDP broadcasts them), accumulation updates them with both chunks; they do
not enter training-mode forwards.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from smolmamba.models import create_model
from smolmamba.train.config import load_config
from smolmamba.train.loop import main
from smolmamba.train.setup import epoch_batches

from train_helpers import TINY_MODEL, tiny_overrides

HERE = Path(__file__).parent
COMMON = dict(augment=False, epochs=1, train_subset=96, save_every=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_and_accumulation_split_the_same_chunks():
    ddp = [epoch_batches(96, 16, seed=0, epoch=3, rank=r, world_size=2) for r in (0, 1)]
    single = epoch_batches(96, 16, seed=0, epoch=3, accum_steps=2)
    assert [b for step in zip(*ddp) for b in step] == single
    assert sorted(i for b in single for i in b) == list(range(96))
    assert epoch_batches(96, 16, 0, 4) != epoch_batches(96, 16, 0, 3)


@pytest.mark.slow
def test_ddp_matches_single_process(tmp_path):
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
           str(free_port()), str(HERE / "ddp_worker.py"), str(tmp_path),
           *tiny_overrides(tmp_path / "ddp", batch_size=16, **COMMON)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])

    single = main(load_config(None, tiny_overrides(tmp_path / "single", batch_size=16, accum_steps=2,
                                                     **COMMON))).model.state_dict()
    params = [n for n, _ in create_model("smolmamba_tiny", **TINY_MODEL).named_parameters()]
    worst = max((ranks[0][n] - single[n]).abs().max().item() for n in params)
    # all-reduce averages (g0 + g1) / 2, accumulation sums g0 / 2 + g1 / 2: float32 rounding differs by
    # ~1e-7 relative, and Adam's m / sqrt(v) amplifies it on parameters with tiny gradients. A real
    # mismatch (wrong batches, missing sync) moves weights by ~lr = 1e-2 per step.
    assert worst < 2e-4, f"largest parameter difference {worst:.3g}"
    start = create_model("smolmamba_tiny", **TINY_MODEL).state_dict()
    assert any(not torch.allclose(start[n], single[n]) for n in params)  # it did train


def test_sync_bn_on_cpu_names_the_fix():
    from smolmamba.train.distributed import DistInfo, wrap_model

    with pytest.raises(ValueError, match="sync_bn=True needs CUDA.*accum_steps"):
        wrap_model(torch.nn.Linear(2, 2), DistInfo(world_size=2), sync_bn=True)
