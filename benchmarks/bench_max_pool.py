"""The patch embedding's max-pool, forward + backward: torch's call on contiguous input against the channels-last
path of ops/max_pool.py, alternating in one process.

    python benchmarks/bench_max_pool.py [--rounds 9] [--threads 2]

Prints a table and writes benchmarks/out/max_pool.json. Shapes: the pooled feature maps of smolmamba_tiny (digits,
batch 32, T=4) and smolmamba_cifar (batch 16, T=4); kernel 3, stride 2, padding 1; real-valued input.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from smolmamba.ops.max_pool import max_pool2d

SHAPES = [(128, 64, 16, 16), (64, 192, 32, 32), (64, 384, 16, 16)]  # (T*B, C, H, W)


def forward_backward(pool, x: torch.Tensor, grad_out: torch.Tensor):
    return lambda: pool(x, 3, 2, 1).backward(grad_out)


def alternating_medians(fns: dict, rounds: int) -> dict:
    """Median ms of each callable, called in turn `rounds` times after one warm-up each."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/max_pool.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    print("| T*B, C, HxW | dtype | torch ms | channels-last path ms | speed-up |")
    print("|---|---|---|---|---|")
    for shape in SHAPES:
        for dtype in (torch.float32, torch.bfloat16):
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(shape, generator=gen).to(dtype).requires_grad_()
            grad_out = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2, generator=gen).to(dtype)
            ms = alternating_medians({"torch": forward_backward(torch.nn.functional.max_pool2d, x, grad_out),
                                      "channels_last": forward_backward(max_pool2d, x, grad_out)}, args.rounds)
            name = str(dtype).removeprefix("torch.")
            rows.append({"shape": shape, "dtype": name, "torch_ms": ms["torch"],
                         "channels_last_ms": ms["channels_last"]})
            print(f"| {shape[0]}, {shape[1]}, {shape[2]}x{shape[3]} | {name} | {ms['torch']:.2f} | "
                  f"{ms['channels_last']:.2f} | {ms['torch'] / ms['channels_last']:.2f}x |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"torch": torch.__version__, "threads": args.threads, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
