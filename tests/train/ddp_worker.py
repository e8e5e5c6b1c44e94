"""Launched by test_distributed.py under torchrun: train, then dump this rank's weights.

usage: python -m torch.distributed.run --nproc-per-node 2 ddp_worker.py OUT key=value ...
"""

import os
import sys

from safetensors.torch import save_file

from smolmamba.train.checkpoint import tensors_of
from smolmamba.train.config import load_config
from smolmamba.train.loop import main

if __name__ == "__main__":
    out, overrides = sys.argv[1], sys.argv[2:]
    result = main(load_config(None, overrides))
    save_file(tensors_of(result.model), os.path.join(out, f"rank{os.environ['RANK']}.safetensors"))
