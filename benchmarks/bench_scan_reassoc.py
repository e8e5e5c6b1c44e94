"""The numba scan's backward kernel with and without reassociated sums (ops/numba_runtime.jit_reassoc): the kernel
alone at the tiny models' scan shapes, then whole training steps, the two compiled kernels alternating in one
process so both see the same machine.

    python benchmarks/bench_scan_reassoc.py [--rounds 12] [--threads 2]

Prints two tables and writes benchmarks/out/scan_reassoc.json. "ordered" is the same kernel source compiled without
fastmath (its sums over D in source order, which keeps LLVM from vectorising the loop around them); "reassoc" is
what ops/scan_cpu.py runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from smolmamba.bench.cases import Case, build_step
from smolmamba.ops import scan_cpu
from smolmamba.ops.numba_runtime import numba, set_threads

KERNEL_SHAPES = [(128, 51, 64, 8), (128, 26, 64, 8), (32, 51, 64, 8)]  # (B*T, L, D, N): smolmamba_tiny, batch 32 / 8
STEP_CASES = [(model, variant, batch) for model in ("smolmamba_tiny", "spiking_mamba_tiny", "smolmamba_naive_tiny")
              for variant in ("default", "bf16") for batch in (32, 8)]


def kernel_inputs(nb: int, steps: int, dim: int, nstate: int) -> tuple:
    """Random float32 inputs of _backward at one shape, with the checkpoints of a real forward."""
    rng = np.random.default_rng(0)
    dt = rng.uniform(0.001, 0.1, (nb, steps, dim)).astype(np.float32)
    x = rng.standard_normal((nb, steps, dim)).astype(np.float32)
    A = -rng.uniform(0.5, 8.0, (nstate, dim)).astype(np.float32)
    Bm, Cm = (rng.standard_normal((nb, steps, nstate)).astype(np.float32) for _ in range(2))
    chunks = -(-steps // scan_cpu.CHUNK)
    ckpt, last = np.empty((nb, chunks, nstate, dim), np.float32), np.empty((nb, nstate, dim), np.float32)
    scan_cpu._forward(dt, x, A, Bm, Cm, np.empty_like(dt), ckpt, last, True)
    return dt, x, A, Bm, Cm, ckpt, rng.standard_normal((nb, steps, dim)).astype(np.float32), last


def run_kernel(kernel, inputs: tuple) -> list[np.ndarray]:
    dt, x, A, Bm, Cm, ckpt, dy, last = inputs
    grads = [np.empty_like(dt), np.empty_like(x), np.empty_like(Bm), np.empty_like(Cm),
             np.empty((dt.shape[0],) + A.shape, np.float32)]
    kernel(dt, x, A, Bm, Cm, ckpt, dy, last, *grads, np.float32(0), False, True)
    return grads


def alternating_ms(calls: dict, rounds: int) -> dict:
    """Median ms of each call, the calls taking turns round by round (after one warm-up round)."""
    times = {name: [] for name in calls}
    for r in range(rounds + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if r:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/out/scan_reassoc.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    set_threads()
    reassoc = scan_cpu._backward
    ordered = numba.njit(parallel=True, nogil=True, error_model="numpy")(reassoc.py_func)  # no cache: own flags
    kernels = {"ordered": ordered, "reassoc": reassoc}

    kernel_rows = []
    print("| B*T | L | D | N | ordered ms | reassoc ms | speed-up | max rel. difference |\n|---|---|---|---|---|---|---|---|")
    for shape in KERNEL_SHAPES:
        inputs = kernel_inputs(*shape)
        a, b = run_kernel(ordered, inputs), run_kernel(reassoc, inputs)
        diff = max(float(np.abs(u - v).max() / (np.abs(u).max() + 1e-30)) for u, v in zip(a, b))
        ms = alternating_ms({name: lambda k=k: run_kernel(k, inputs) for name, k in kernels.items()}, args.rounds)
        kernel_rows.append(dict(shape=shape, **ms, speedup=ms["ordered"] / ms["reassoc"], max_rel_diff=diff))
        print(f"| {' | '.join(map(str, shape))} | {ms['ordered']:.2f} | {ms['reassoc']:.2f} | "
              f"{ms['ordered'] / ms['reassoc']:.2f}x | {diff:.1e} |", flush=True)

    step_rows = []
    print("\n| model | variant | batch | step ms, ordered | step ms, reassoc | speed-up |\n|---|---|---|---|---|---|")
    for model, variant, batch in STEP_CASES:
        step = build_step(Case(model, batch, mode="train", variant=variant))

        def with_kernel(kernel):
            scan_cpu._backward = kernel  # _NumbaScan.backward reads the module global at each call
            step()

        ms = alternating_ms({name: lambda k=k: with_kernel(k) for name, k in kernels.items()}, args.rounds)
        scan_cpu._backward = reassoc
        step_rows.append(dict(model=model, variant=variant, batch=batch, **ms, speedup=ms["ordered"] / ms["reassoc"]))
        print(f"| {model} | {variant} | {batch} | {ms['ordered']:.1f} | {ms['reassoc']:.1f} | "
              f"{ms['ordered'] / ms['reassoc']:.2f}x |", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
                               "kernel": kernel_rows, "training_step": step_rows}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
