"""Compile the Triton kernels' launches for sm_90 without a GPU and print one JSON line per kernel.

Runs small selective_scan_triton and lif_triton calls (forward and backward) on CPU tensors with
the kernels replaced by recorders, then compiles each recorded launch (same arguments, constexprs
and warps) with triton.compile for an sm_90 target; ptxas ships with triton. Resource usage comes
from the bundled cuobjdump. Needs TRITON_INTERPRET unset or 0: test_triton_compile.py runs it in a
subprocess, as the test process itself has the interpreter on.
"""

import json
import os
import subprocess
import sys
import tempfile

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from smolmamba.ops import lif_triton_kernels, scan_triton_kernels, triton_runtime
from smolmamba.ops.lif_triton import lif_triton
from smolmamba.ops.scan_triton import selective_scan_triton

TYPES = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.float16: "*fp16", torch.float64: "*fp64",
         torch.int64: "*i64"}
BIN = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")


class Recorder:
    """Stands in for a kernel: `kernel[grid](*args, **kwargs)` records the launch instead of running it."""

    def __init__(self, kernel):
        self.kernel, self.launches = kernel, []

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launches.append((args, kwargs))


def compile_launch(kernel, args, kwargs) -> dict:
    kwargs = dict(kwargs)
    num_warps = kwargs.pop("num_warps", 4)
    sig, constexprs = {}, dict(kwargs)
    for name, value in zip(kernel.arg_names, args):
        if value is None:
            sig[name], constexprs[name] = "constexpr", None
        elif isinstance(value, torch.Tensor):
            sig[name] = TYPES[value.dtype]
        else:
            sig[name] = "i32"
    sig.update({name: "constexpr" for name in kwargs})
    compiled = triton.compile(ASTSource(kernel, sig, constexprs=constexprs), target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": num_warps})
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        usage = subprocess.run([os.path.join(BIN, "cuobjdump"), "-res-usage", f.name], capture_output=True,
                               text=True, check=True).stdout
    fields = dict(kv.split(":") for line in usage.splitlines() if "REG:" in line for kv in line.split())
    dtype = next(v for v in sig.values() if v.startswith("*fp") or v.startswith("*bf"))
    return {"kernel": kernel.__name__, "dtype": dtype[1:], "num_warps": num_warps,
            "constexprs": {k: str(v) for k, v in constexprs.items()},
            "registers": int(fields["REG"]), "stack_bytes": int(fields["STACK"])}


def record_calls():
    """-> {kernel name: (kernel, [launches])} for the scan and LIF variants worth compiling."""
    recorders = {}
    for module in (scan_triton_kernels, lif_triton_kernels):
        for name in ("scan_fwd_kernel", "scan_bwd_kernel", "lif_fwd_kernel", "lif_bwd_kernel"):
            if hasattr(module, name):
                recorders[name] = Recorder(getattr(module, name))
                setattr(module, name, recorders[name])
    triton_runtime.interpreting = lambda: True  # lif_triton accepts the CPU tensors; nothing runs on them
    g = torch.Generator().manual_seed(0)
    B, D, N, L = 2, 40, 16, 70
    for dtype, full in ((torch.float32, True), (torch.bfloat16, True), (torch.float32, False)):
        r = lambda *s: torch.randn(*s, generator=g).to(dtype).requires_grad_()  # noqa: E731
        opt = dict(D=r(D), z=r(B, D, L), delta_bias=r(D), positions=torch.arange(L).repeat(B, 1)) if full else {}
        y, last = selective_scan_triton(r(B, D, L), r(B, D, L), r(D, N), r(B, N, L), r(B, N, L), **opt,
                                        delta_softplus=full, return_last_state=True)
        (y.sum() + (last.sum() if full else 0)).backward()
    x = torch.randn(4, 3000, generator=g, requires_grad=True)
    for surrogate in ("sigmoid", "atan", "rect", "triangle"):
        s, h = lif_triton(x, surrogate=surrogate)
        (s.sum() + h.sum()).backward()
    s, h = lif_triton(x.bfloat16(), soft_reset=True, detach_reset=True, decay_input=False)
    s.float().sum().backward()
    return recorders


def main() -> int:
    if triton_runtime.interpreting():
        print("run with TRITON_INTERPRET=0: the interpreter replaces the compiler", file=sys.stderr)
        return 2
    seen = set()
    for rec in record_calls().values():
        for args, kwargs in rec.launches:
            line = json.dumps(compile_launch(rec.kernel, args, kwargs))
            if line not in seen:
                seen.add(line)
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
