"""Selective-scan benchmark: reference loop vs the blocked torch path (and peers if installed).

    python benchmarks/bench_scan.py [--quick] [--out benchmarks/out/bench_scan.json]

Shapes B=8, D=384, N=16, float32, torch.set_num_threads(2). Times are the median of `repeats`
runs after one warm-up; fwd runs under torch.no_grad(), fwd+bwd backpropagates a fixed random
dy into every input. Peak memory: each (impl, L) runs in a fresh subprocess; after the inputs
exist the kernel's peak-RSS mark is reset (write 5 to /proc/self/clear_refs), and the figure
is VmHWM minus VmRSS at that point, i.e. the extra resident memory of the first fwd+bwd run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

SHAPE = dict(B=8, D=384, N=16)
THREADS = 2


# ----------------------------------------------------------------------------- memory
def _status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- impls
def make_inputs(L, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    B, D, N = SHAPE["B"], SHAPE["D"], SHAPE["N"]
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(
        u=r(B, D, L), delta=r(B, D, L) * 0.5 - 2.0,
        A=-torch.exp(torch.log(torch.arange(1, N + 1, dtype=dtype)).repeat(D, 1)),  # S4D-real init
        B=r(B, N, L), C=r(B, N, L), D=torch.ones(D, dtype=dtype), z=r(B, D, L), delta_bias=r(D) * 0.1,
    )


def get_impl(name):
    """Return fn(**inputs) -> y, or a string saying why it cannot run."""
    if name == "reference":
        from smolmamba.ops import selective_scan_ref
        return selective_scan_ref
    if name == "fast":
        from smolmamba.ops import selective_scan
        return lambda **kw: selective_scan(**kw, impl="torch")
    if name == "mamba_ssm_ref":
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_ref as ref
        except Exception as exc:  # noqa: BLE001
            return f"not installed ({type(exc).__name__})"
        return lambda **kw: ref(**{k: v for k, v in kw.items() if k != "positions"}, delta_softplus=True)
    if name == "mambapy_pscan":
        try:
            from mambapy.pscan import pscan
        except Exception as exc:  # noqa: BLE001
            return f"not installed ({type(exc).__name__})"

        def run(u, delta, A, B, C, D, z, delta_bias, positions=None):
            dt = torch.nn.functional.softplus(delta + delta_bias[:, None]).transpose(1, 2)  # (B, L, D)
            dA = torch.exp(dt.unsqueeze(-1) * A)  # (B, L, D, N)
            bx = dt.unsqueeze(-1) * B.transpose(1, 2).unsqueeze(2) * u.transpose(1, 2).unsqueeze(-1)
            hs = pscan(dA, bx)  # (B, L, D, N)
            y = (hs @ C.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)  # (B, D, L)
            return (y + D[:, None] * u) * torch.nn.functional.silu(z)
        return run
    raise ValueError(name)


def time_it(fn, repeats):
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def worker(impl, L, repeats, keep=None, seed=0):
    """One (impl, L[, keep]) measurement in this process; returns a dict."""
    torch.set_num_threads(THREADS)
    fn = get_impl(impl)
    if isinstance(fn, str):
        return dict(impl=impl, L=L, status=fn)
    inp = make_inputs(L if keep is None else max(1, round(keep * L)), seed)
    if keep is not None:  # compact inputs of the kept tokens + their original positions
        g = torch.Generator().manual_seed(seed + 1)
        Lk = inp["u"].shape[-1]
        inp["positions"] = torch.stack([torch.randperm(L, generator=g)[:Lk].sort().values for _ in range(SHAPE["B"])])
    leaves = {k: v.requires_grad_() if v.is_floating_point() else v for k, v in inp.items()}
    grads_of = [v for v in leaves.values() if v.requires_grad]
    dy = torch.randn_like(inp["u"])

    def fwd():
        with torch.no_grad():
            return fn(**leaves)

    def fwdbwd():
        torch.autograd.grad(fn(**leaves), grads_of, dy)

    exact = _reset_peak()
    base = _status_mb("VmRSS")
    fwdbwd()
    peak = _status_mb("VmHWM") - base
    return dict(impl=impl, L=L, keep=keep, status="ok", fwd_ms=time_it(fwd, repeats),
                fwdbwd_ms=time_it(fwdbwd, repeats), peak_extra_mb=round(peak, 1), peak_exact=exact)


def spawn(impl, L, repeats, keep=None):
    cmd = [sys.executable, __file__, "--worker", impl, str(L), str(repeats)] + ([str(keep)] if keep is not None else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return dict(impl=impl, L=L, keep=keep, status=f"failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report
def machine():
    model = platform.processor() or "?"
    try:
        txt = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in txt.splitlines() if ln.startswith("Model name")), model)
    except OSError:
        pass
    return dict(cpu=model, cores=os.cpu_count(), torch=torch.__version__, threads=THREADS,
                python=platform.python_version(), loadavg_start=os.getloadavg())


def fmt(x, spec="{:.1f}"):
    return "-" if x is None else spec.format(x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (L=64, 2 repeats)")
    p.add_argument("--out", default="benchmarks/out/bench_scan.json")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 7, reference 5)")
    p.add_argument("--lengths", type=int, nargs="+", default=None, help="L values (default 64 196 256 1024)")
    args = p.parse_args(argv)
    Ls = args.lengths or ([64] if args.quick else [64, 196, 256, 1024])
    rep = args.repeats or (2 if args.quick else 7)
    rep_ref = args.repeats or (2 if args.quick else 5)
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores, torch {info['torch']}, threads={THREADS}, "
          f"B={SHAPE['B']} D={SHAPE['D']} N={SHAPE['N']} float32, load {info['loadavg_start']}", flush=True)
    print("\n| L | impl | fwd ms | fwd+bwd ms | peak extra MB (fwd+bwd) | speed-up vs reference fwd / fwd+bwd |")
    print("|---|---|---|---|---|---|", flush=True)
    rows = []
    for L in Ls:
        base = None
        for impl in ("reference", "fast", "mamba_ssm_ref", "mambapy_pscan"):
            r = spawn(impl, L, rep_ref if impl == "reference" else rep)
            rows.append(r)
            if r["status"] != "ok":
                print(f"| {L} | {impl} | {r['status']} | | | |", flush=True)
                continue
            base = r if impl == "reference" else base
            if base:
                r["speedup_fwd"] = base["fwd_ms"] / r["fwd_ms"]
                r["speedup_fwdbwd"] = base["fwdbwd_ms"] / r["fwdbwd_ms"]
            print(f"| {L} | {impl} | {fmt(r['fwd_ms'])} | {fmt(r['fwdbwd_ms'])} | {fmt(r['peak_extra_mb'])} "
                  f"| {fmt(r.get('speedup_fwd'), '{:.1f}x')} / {fmt(r.get('speedup_fwdbwd'), '{:.1f}x')} |", flush=True)
    L_al = 64 if args.quick else 1024
    dense = spawn("fast", L_al, rep)
    aligned = [spawn("fast", L_al, rep, keep) for keep in (1.0, 0.7, 0.5, 0.3)]
    print(f"\nAligned scan (fast path, positions given), L={L_al}; ratio = time / dense fast scan without positions")
    print("| keep ratio | kept tokens | fwd ms | fwd+bwd ms | fwd ratio | fwd+bwd ratio | target <= |")
    print("|---|---|---|---|---|---|---|")
    print(f"| dense (no positions) | {L_al} | {fmt(dense['fwd_ms'])} | {fmt(dense['fwdbwd_ms'])} | 1.00 | 1.00 | |")
    for keep, r in zip((1.0, 0.7, 0.5, 0.3), aligned):
        r["fwd_ratio"] = r["fwd_ms"] / dense["fwd_ms"]
        r["fwdbwd_ratio"] = r["fwdbwd_ms"] / dense["fwdbwd_ms"]
        print(f"| {keep} | {max(1, round(keep * L_al))} | {fmt(r['fwd_ms'])} | {fmt(r['fwdbwd_ms'])} "
              f"| {r['fwd_ratio']:.2f} | {r['fwdbwd_ratio']:.2f} | {keep + 0.1:.1f} |", flush=True)
    info["loadavg_end"] = os.getloadavg()
    print(f"\nload average at end: {info['loadavg_end']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(machine=info, shape=SHAPE, dtype="float32", repeats=rep, repeats_reference=rep_ref,
                                   results=rows, aligned_dense=dense, aligned=aligned), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        impl, L, repeats = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        keep = float(sys.argv[5]) if len(sys.argv) > 5 else None
        print(json.dumps(worker(impl, L, repeats, keep)))
    else:
        main()
