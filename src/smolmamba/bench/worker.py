"""Fresh-process measurements, so each starts from a clean heap and the orchestrating process stays small:

    python -m smolmamba.bench.worker memory '<case json>' THREADS
        -> {"peak_mib": ...}: the memory the case's first step adds at its peak (CPU: resident set,
           process-wide, hence one process per case; CUDA: torch's allocator peak).
    python -m smolmamba.bench.worker time '<[case json, ...]>' THREADS ROUNDS
        -> {"seconds": {case key: [...]}}: the cases' steps timed round-robin in this one process.
"""

from __future__ import annotations

import json
import sys

import torch

from smolmamba.bench.cases import Case, build_step
from smolmamba.bench.measure import cpu_peak_extra_mib, cuda_peak_extra_mib, interleaved_times
from smolmamba.runtime import tune_cpu_allocator


def peak_memory(case: Case) -> dict:
    step = build_step(case)
    if case.device.startswith("cuda"):
        return {"peak_mib": cuda_peak_extra_mib(step, torch.device(case.device))}
    return {"peak_mib": cpu_peak_extra_mib(step)}


def group_times(cases: list[Case], rounds: int) -> dict:
    steps = {c.key: build_step(c) for c in cases}
    return {"seconds": interleaved_times(steps, torch.device(cases[0].device), rounds)}


def main(argv: list[str]) -> None:
    command, payload, threads = argv[0], json.loads(argv[1]), int(argv[2])
    torch.set_num_threads(threads)
    tune_cpu_allocator()
    if command == "memory":
        result = peak_memory(Case(**payload))
    elif command == "time":
        result = group_times([Case(**c) for c in payload], int(argv[3]))
    else:
        raise SystemExit(f"unknown worker command {command!r}; use 'memory' or 'time'")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
