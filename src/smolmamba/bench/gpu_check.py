"""The Python half of scripts/gpu_check.sh: Triton kernels vs the references, and a training step per model.

    python -m smolmamba.bench.gpu_check kernels OUT_DIR   -> OUT_DIR/kernels.json
    python -m smolmamba.bench.gpu_check train OUT_DIR     -> OUT_DIR/train_step.json

`kernels`: the Triton scan (with and without positions) and LIF on model-sized inputs against the
float64 references (max abs error of the output and of every gradient, in float32 and bfloat16;
the LIF also in float64, with spikes compared), and their forward + backward times against the
torch paths. `train`: one bf16 autocast training step of every CIFAR
model of the bench suite (finite loss and gradients, which scan impl 'auto' picks).
Exit status 1 when an error is over its tolerance or a step fails. Defaults are sized for a GPU;
the functions take sizes so tests can run them on CPU (under Triton's interpreter).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from smolmamba.bench.cases import Case, build_inputs
from smolmamba.bench.measure import synchronize
from smolmamba.bench.suite import CIFAR
from smolmamba.io import write_json_atomic
from smolmamba.neurons import lif, lif_ref
from smolmamba.ops import resolve_impl, selective_scan
from smolmamba.ops.lif_triton import lif_triton

SCAN_SIZE = dict(batch=256, dim=384, state=16, length=64, kept=38)  # smolmamba_cifar, batch 64 x T 4
LIF_SHAPE = (4, 64 * 64, 384)  # [T, B*N, D] of smolmamba_cifar at batch 64
TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 5e-2}  # max abs error / (1 + max abs reference)


def median_ms(fn, device: torch.device, rounds: int = 10, warmup: int = 2) -> float:
    """Median wall time of fn() over `rounds` calls after `warmup` calls, in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _outputs_and_grads(fn, inputs: dict, weight: torch.Tensor) -> list[torch.Tensor]:
    """[out, d<weight, out>/d input for every input], in the inputs' order."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    out = fn(**leaves)
    grads = torch.autograd.grad((out * weight.to(out.dtype)).sum(), list(leaves.values()))
    return [out.detach(), *grads]


def _errors(names, got, want, tol: float) -> dict:
    """Per name: max abs error, its scale (1 + max abs reference), ok (error / scale under tol)."""
    res = {}
    for name, g, w in zip(names, got, want):
        err, scale = (g.double() - w).abs().max().item(), 1.0 + w.abs().max().item()
        res[name] = {"max_abs_err": err, "scale": scale, "ok": err / scale < tol}
    return res


def scan_report(device: torch.device, batch, dim, state, length, kept, rounds: int = 10, warmup: int = 2) -> dict:
    """Triton scan vs float64 reference and its speed vs impl='torch', without and with positions."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64).to(device)  # noqa: E731
    inp = dict(u=r(batch, dim, kept), delta=r(batch, dim, kept) * 0.5 - 1.0,
               A=-(torch.rand(dim, state, generator=g, dtype=torch.float64) * 3 + 0.1).to(device),
               B=r(batch, state, kept), C=r(batch, state, kept), D=r(dim), z=r(batch, dim, kept),
               delta_bias=r(dim) * 0.5)
    weight = r(batch, dim, kept)
    pos = torch.stack([torch.randperm(length, generator=g)[:kept].sort().values for _ in range(batch)]).to(device)
    names = ["y", *(f"d{k}" for k in inp)]
    report = {"size": dict(batch=batch, dim=dim, state=state, length=length, kept=kept)}
    for label, positions in (("dense", None), ("aligned", pos)):
        def run(impl, dtype, src):
            cast = {k: v.to(dtype) for k, v in src.items()}
            return lambda: _outputs_and_grads(
                lambda **kw: selective_scan(**kw, positions=positions, impl=impl, check_inputs=False), cast, weight)
        entry = {}
        for dtype in (torch.float32, torch.bfloat16):
            rounded = {k: v.to(dtype).double() for k, v in inp.items()}  # the reference sees the same values
            entry[str(dtype).replace("torch.", "")] = {
                "errors": _errors(names, run("triton", dtype, rounded)(), run("reference", torch.float64, rounded)(),
                                  TOLERANCE[dtype]),
                "ms_fwd_bwd": {impl: median_ms(run(impl, dtype, inp), device, rounds, warmup)
                               for impl in ("triton", "torch")}}
        report[label] = entry
    return report


def off_threshold(shape, generator: torch.Generator) -> torch.Tensor:
    """x in [0, 0.9] or [2.2, 3]: with lif's defaults (tau 2, V_th 1, hard reset to 0) every H is
    below 0.95 or above 1.09, so no spike flips on rounding and low precision can be judged."""
    lo, hi = torch.rand(*shape, generator=generator) * 0.9, torch.rand(*shape, generator=generator) * 0.8 + 2.2
    return torch.where(torch.rand(*shape, generator=generator) < 0.5, lo, hi).double()


def lif_report(device: torch.device, shape, rounds: int = 10, warmup: int = 2) -> dict:
    """Triton LIF vs float64 lif_ref (spikes, membrane, input gradient); its speed vs neurons.lif and lif_ref."""
    g = torch.Generator().manual_seed(1)
    x, weight = off_threshold(shape, g).to(device), torch.randn(*shape, generator=g, dtype=torch.float64).to(device)
    impls = {"triton": lif_triton, "neurons.lif": lambda x: lif(x, return_membrane=True),
             "lif_ref": lambda x: lif_ref(x, return_membrane=True)}

    def run(impl, dtype, src):  # loss = <weight, H>: the gradient flows through the spikes' surrogate too
        return lambda: _outputs_and_grads(lambda x: impls[impl](x)[1], {"x": src.to(dtype)}, weight)

    report = {"shape": list(shape)}
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        rounded = x.to(dtype).double()  # the reference sees the same values
        same = bool((lif_triton(rounded.to(dtype))[0].double() == lif_ref(rounded)).all())
        report[str(dtype).replace("torch.", "")] = {
            "spikes_equal": {"value": same, "ok": same},
            "errors": _errors(["H", "dx"], run("triton", dtype, rounded)(), run("lif_ref", torch.float64, rounded)(),
                              TOLERANCE.get(dtype, 1e-10)),
            "ms_fwd_bwd": {impl: median_ms(run(impl, dtype, x), device, rounds, warmup) for impl in impls}}
    return report


def train_report(device: torch.device, models=CIFAR, batch: int = 32, dtype=torch.bfloat16) -> dict:
    """One autocast training step per model: loss, finite gradients, step time, the scan impl."""
    report = {"batch": batch, "dtype": str(dtype), "models": {}}
    for name in models:
        try:
            model, x, y = build_inputs(Case(name, batch, "train", str(device)))
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            synchronize(device)
            grads = [p.grad for p in model.parameters() if p.requires_grad]
            report["models"][name] = {
                "loss": loss.item(), "seconds": time.perf_counter() - start,
                "params_without_grad": sum(gr is None for gr in grads),
                "grads_finite": all(bool(torch.isfinite(gr).all()) for gr in grads if gr is not None),
                "scan_impl_auto": resolve_impl("auto", x), "ok": None}
            m = report["models"][name]
            m["ok"] = bool(torch.isfinite(loss)) and m["grads_finite"] and m["params_without_grad"] == 0
        except Exception as exc:  # record and go on to the next model
            report["models"][name] = {"error": f"{type(exc).__name__}: {exc}", "ok": False}
    return report


def all_ok(obj) -> bool:
    """False if any nested 'ok' is False (None: reported, not judged)."""
    if isinstance(obj, dict):
        return obj.get("ok") is not False and all(all_ok(v) for v in obj.values())
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("kernels", "train"):
        print(__doc__, file=sys.stderr)
        return 2
    part, out = argv[0], Path(argv[1])
    device = torch.device("cuda")
    if part == "kernels":
        report = {"scan": scan_report(device, **SCAN_SIZE), "lif": lif_report(device, LIF_SHAPE),
                  "device": torch.cuda.get_device_name(device)}
        path = out / "kernels.json"
    else:
        report, path = train_report(device), out / "train_step.json"
    report["ok"] = all_ok(report)
    write_json_atomic(path, report)
    print(f"wrote {path}: {'ok' if report['ok'] else 'FAILED (see the ok fields)'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
