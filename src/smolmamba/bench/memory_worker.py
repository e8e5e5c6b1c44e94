"""Fresh-process peak memory of one case: `python -m smolmamba.bench.memory_worker '<case json>' THREADS`.

Prints one JSON line {"peak_mib": ...}: the memory the case's first step adds at its peak (CPU: resident
set, process-wide, hence a fresh process per case; CUDA: torch's allocator peak).
"""

from __future__ import annotations

import json
import sys

import torch

from smolmamba.bench.cases import Case, build_step
from smolmamba.bench.measure import cpu_peak_extra_mib, cuda_peak_extra_mib
from smolmamba.runtime import tune_cpu_allocator


def main(argv: list[str]) -> None:
    case = Case(**json.loads(argv[0]))
    torch.set_num_threads(int(argv[1]))
    tune_cpu_allocator()
    step, _ = build_step(case)
    if case.device.startswith("cuda"):
        peak = cuda_peak_extra_mib(step, torch.device(case.device))
    else:
        peak = cpu_peak_extra_mib(step)
    print(json.dumps({"peak_mib": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
