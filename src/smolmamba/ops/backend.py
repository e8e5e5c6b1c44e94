"""One resolver for the kernels behind the selective scan ("scan") and the LIF neuron ("lif").

One vocabulary for both (OPS lists which backends each op offers):
  auto       the fastest that runs where the tensor is: a compiled Triton kernel on CUDA, else (scan)
             mamba_ssm's CUDA kernel, else the numba kernel on CPU float tensors, else torch
  reference  the plain loop under autograd (scan; the LIF's is LIF(impl="reference"))
  torch      plain torch ops: any device and dtype, traceable
  numba      fused CPU kernels for float32 / float64 (the scan casts half precision to float32 first)
  triton     fused Triton kernels: CUDA tensors, or Triton's CPU interpreter (TRITON_INTERPRET=1)
  cuda       mamba_ssm's selective-scan kernel (scan only)
An explicit backend that cannot run is an error saying why and what to use instead.

What runs depends only on the op, the request, the tensor's device and dtype, the LIF's surrogate and
the environment (which libraries import, Triton's interpreter, whether torch.compile is tracing), so
each such key is resolved once and cached; `resolved()` reports every resolution made so far.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from smolmamba.ops import lif_cpu, numba_runtime, scan_cuda, triton_runtime

__all__ = ["OPS", "Resolution", "resolve", "resolved"]

OPS = {"scan": ("auto", "reference", "torch", "numba", "triton", "cuda"),
       "lif": ("auto", "numba", "triton", "torch")}
PARAM = {"scan": "impl", "lif": "kernel"}  # the argument that names the backend, for messages
_LOWP = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class Resolution:
    """One resolved choice: `backend` runs `op` for `requested` on tensors of `device` and `dtype`."""

    op: str
    requested: str
    device: str
    dtype: str
    backend: str


_RESOLVED: dict[tuple, Resolution] = {}


def check_name(op: str, requested: str) -> None:
    """ValueError unless `requested` is a backend `op` offers."""
    if requested not in OPS[op]:
        param = PARAM[op]
        raise ValueError(f"{param}={requested!r} is unknown: {param} must be one of {OPS[op]}")


def numba_reason(op: str, device: torch.device, dtype: torch.dtype, surrogate: str | None,
                 compiling: bool) -> str | None:
    """Why the numba kernel of `op` cannot run here (None: it can)."""
    if compiling:
        return "torch.compile/torch.export is tracing (it traces the torch kernel)"
    if dtype in _LOWP:
        dtype = torch.float32  # both ops compute half precision in float32
    reason = numba_runtime.unavailable_reason(device, dtype)
    if reason is None and op == "lif" and surrogate not in lif_cpu.SURROGATE_CODES:
        reason = f"surrogate {surrogate!r} has no kernel"
    return reason


def _environment() -> tuple:
    """What, besides the key, decides availability on CUDA or for Triton: part of the cache key there, so
    a change (Triton's interpreter switched on, say) re-resolves."""
    return triton_runtime.import_error(), triton_runtime.interpreting()


@functools.lru_cache(maxsize=None)
def _cached_rule(op: str, requested: str, device: torch.device, dtype: torch.dtype, surrogate: str | None,
                 environment: tuple | None) -> str:
    backend = _rule(op, requested, device, dtype, surrogate, compiling=False)
    _RESOLVED.setdefault((op, requested, device, dtype, backend), Resolution(
        op, requested, str(device), str(dtype).removeprefix("torch."), backend))
    return backend


def _rule(op: str, requested: str, device: torch.device, dtype: torch.dtype, surrogate: str | None,
          compiling: bool) -> str:
    """The availability table: which backend runs, or the error saying why the requested one cannot."""
    if op not in OPS:
        raise ValueError(f"op={op!r} is unknown; use one of {sorted(OPS)}")
    check_name(op, requested)
    param = PARAM[op]
    if requested == "auto":
        if triton_runtime.compiled_available(device):
            return "triton"
        if op == "scan" and device.type == "cuda":
            return "cuda" if scan_cuda.is_available() else "torch"
        return "numba" if numba_reason(op, device, dtype, surrogate, compiling) is None else "torch"
    if requested == "numba":
        reason = numba_reason(op, device, dtype, surrogate, compiling)
        if reason is not None:
            raise ValueError(f"{param}='numba' cannot run: {reason}; use {param}='auto' or 'torch'")
    if requested == "triton":
        triton_runtime.check_runnable(f"{param}='triton'", device, f"{param}='torch'")
    if requested == "cuda":
        scan_cuda.load_selective_scan_fn()  # RuntimeError with the install command
        if device.type != "cuda":
            raise ValueError(f"impl='cuda' needs CUDA tensors, got device {device}; use impl='torch'")
    return requested


def resolve(op: str, requested: str, tensor: torch.Tensor, surrogate: str | None = None) -> str:
    """The backend that runs `op` ("scan" or "lif") for `requested` on tensors like `tensor` (its device
    and dtype); `surrogate`: the LIF's. ValueError for an unknown name, ValueError / RuntimeError saying
    why for an explicit backend that cannot run here."""
    device = tensor.device
    if torch.compiler.is_compiling():  # torch.compile / torch.export trace the rule, not the cache
        return _rule(op, requested, device, tensor.dtype, surrogate, compiling=True)
    # on CPU only an explicit 'triton' depends on Triton's state
    environment = _environment() if device.type == "cuda" or requested == "triton" else None
    return _cached_rule(op, requested, device, tensor.dtype, surrogate, environment)


def resolved() -> tuple[Resolution, ...]:
    """Every (op, request, device, dtype) resolved in this process so far, in order, with its backend."""
    return tuple(_RESOLVED.values())
