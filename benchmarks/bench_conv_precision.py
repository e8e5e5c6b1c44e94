"""The patch embedding's convolutions in float32 and bf16, each pass timed alone: why the bf16 path splits them
(ops/conv_precision.py: forward and input gradient in bf16, weight gradient in float32).

    python benchmarks/bench_conv_precision.py [--rounds 7] [--threads 2]

Prints a table and writes benchmarks/out/conv_precision.json. Shapes: those of smolmamba_tiny (digits, batch 32,
T=4) and smolmamba_cifar (batch 16); input spikes (20 % ones), 3x3 kernels, stride 1, padding 1.
"""

from __future__ import annotations

import statistics
import time

import torch

from smolmamba.bench.measure import script_args, write_rows_json

SHAPES = [  # (batch, in channels, out channels, height = width)
    (32, 1, 8, 16), (128, 8, 16, 16), (128, 16, 32, 16), (128, 32, 64, 16), (128, 64, 64, 8),
    (64, 48, 96, 32), (64, 96, 192, 32), (64, 192, 384, 16), (64, 384, 384, 8),
]


def median_ms(fn, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def passes(batch: int, cin: int, cout: int, size: int, dtype: torch.dtype, rounds: int) -> dict:
    """Median ms of the forward, the input gradient and the weight gradient, each alone, in `dtype`."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, cin, size, size, generator=gen) < 0.2).to(dtype)
    w = (torch.randn(cout, cin, 3, 3, generator=gen) * 0.1).to(dtype)
    g = torch.randn(batch, cout, size, size, generator=gen).to(dtype)
    backward = torch.ops.aten.convolution_backward

    def grad(which):
        return lambda: backward(g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, which)
    return {"forward": median_ms(lambda: torch.nn.functional.conv2d(x, w, padding=1), rounds),
            "input_grad": median_ms(grad([True, False, False]), rounds),
            "weight_grad": median_ms(grad([False, True, False]), rounds)}


def main() -> None:
    args = script_args(__doc__, 7, "benchmarks/out/conv_precision.json")
    rows = []
    print("| B, Cin, Cout, HxW | pass | float32 ms | bf16 ms | bf16 speed-up |")
    print("|---|---|---|---|---|")
    for shape in SHAPES:
        f32, bf16 = (passes(*shape, dtype, args.rounds) for dtype in (torch.float32, torch.bfloat16))
        for name in f32:
            rows.append({"shape": shape, "pass": name, "float32_ms": f32[name], "bf16_ms": bf16[name]})
            print(f"| {shape[0]}, {shape[1]}, {shape[2]}, {shape[3]}x{shape[3]} | {name} | {f32[name]:.2f} | "
                  f"{bf16[name]:.2f} | {f32[name] / bf16[name]:.2f}x |")
    print(f"wrote {write_rows_json(args.out, args.threads, rows)}")


if __name__ == "__main__":
    main()
