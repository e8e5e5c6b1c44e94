"""Every test starts from the same random state, so a test that draws random inputs is repeatable.

Without CUDA, Triton's kernels run in its CPU interpreter: TRITON_INTERPRET=1 is set here, before
anything imports triton (triton reads it when it first decorates its own functions, at import; an
explicit TRITON_INTERPRET wins). Tests marked `cuda` are skipped, with the reason, without a GPU.
"""

import os
import random

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False); "
                                   "scripts/gpu_check.sh runs these on a GPU machine")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
