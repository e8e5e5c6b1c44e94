"""The patch embedding's max-pool, forward + backward: torch's call on contiguous input against the channels-last
path of ops/max_pool.py, alternating in one process.

    python benchmarks/bench_max_pool.py [--rounds 9] [--threads 2]

Prints a table and writes benchmarks/out/max_pool.json. Shapes: the pooled feature maps of smolmamba_tiny (digits,
batch 32, T=4) and smolmamba_cifar (batch 16, T=4); kernel 3, stride 2, padding 1; real-valued input.
"""

from __future__ import annotations

import torch

from smolmamba.bench.measure import interleaved_times, median_ms, script_args, write_rows_json
from smolmamba.ops.max_pool import max_pool2d

SHAPES = [(128, 64, 16, 16), (64, 192, 32, 32), (64, 384, 16, 16)]  # (T*B, C, H, W)


def forward_backward(pool, x: torch.Tensor, grad_out: torch.Tensor):
    return lambda: pool(x, 3, 2, 1).backward(grad_out)


def main() -> None:
    args = script_args(__doc__, 9, "benchmarks/out/max_pool.json")
    rows = []
    print("| T*B, C, HxW | dtype | torch ms | channels-last path ms | speed-up |")
    print("|---|---|---|---|---|")
    for shape in SHAPES:
        for dtype in (torch.float32, torch.bfloat16):
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(shape, generator=gen).to(dtype).requires_grad_()
            grad_out = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2, generator=gen).to(dtype)
            ms = median_ms(interleaved_times({"torch": forward_backward(torch.nn.functional.max_pool2d, x, grad_out),
                                              "channels_last": forward_backward(max_pool2d, x, grad_out)},
                                             torch.device("cpu"), args.rounds))
            name = str(dtype).removeprefix("torch.")
            rows.append({"shape": shape, "dtype": name, "torch_ms": ms["torch"],
                         "channels_last_ms": ms["channels_last"]})
            print(f"| {shape[0]}, {shape[1]}, {shape[2]}x{shape[3]} | {name} | {ms['torch']:.2f} | "
                  f"{ms['channels_last']:.2f} | {ms['torch'] / ms['channels_last']:.2f}x |")
    print(f"wrote {write_rows_json(args.out, args.threads, rows)}")


if __name__ == "__main__":
    main()
