"""Optional adapter to mamba_ssm's CUDA selective scan; mamba_ssm is imported lazily.

Letters as in ops/scan.py: u, delta, z: [B, D, L]; A: [D, N]; B, C: [B, N, L]; D, delta_bias: [D].
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

__all__ = ["INSTALL_HINT", "is_available", "load_selective_scan_fn", "selective_scan_cuda"]

INSTALL_HINT = (
    "install mamba_ssm on a machine with a CUDA GPU and nvcc: "
    "`pip install mamba-ssm --no-build-isolation` (it must match your torch and CUDA versions; "
    "see https://github.com/state-spaces/mamba), or pass impl='torch'"
)


@functools.lru_cache(maxsize=1)
def _import_fn():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as exc:  # ImportError, or OSError from a broken CUDA extension
        return None, f"{type(exc).__name__}: {exc}"
    return selective_scan_fn, ""


def is_available() -> bool:
    """True if mamba_ssm's selective_scan_fn imports (says nothing about the device)."""
    return _import_fn()[0] is not None


def load_selective_scan_fn():
    """Return mamba_ssm's selective_scan_fn or raise RuntimeError saying how to install it."""
    fn, why = _import_fn()
    if fn is None:
        raise RuntimeError(f"impl='cuda' needs mamba_ssm, which did not import ({why}); {INSTALL_HINT}")
    return fn


def selective_scan_cuda(u, dt, x, A, B, C, D=None, z=None, delta=None, delta_bias=None,
                        delta_softplus=True, return_last_state=False, aligned=False, scan_fn=None):
    """Run mamba_ssm's kernel; returns y [B, D, L] (and last state [B, D, N]).

    Unaligned: the raw inputs (u, delta, delta_bias, delta_softplus, D, z) go straight to the kernel.
    Aligned: ops/scan.py has already formed the decay step dt and input weight x = delta*u;
    the kernel, which only knows delta*u, gets delta=dt and u' = x/dt (0 where dt == 0), and
    the D skip and z gating are applied here from the original u. Exact up to one rounding
    of the division; needs dt > 0 wherever x != 0 (always so with delta_softplus=True).
    """
    fn = load_selective_scan_fn() if scan_fn is None else scan_fn
    if not aligned:
        return fn(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias,
                  delta_softplus=delta_softplus, return_last_state=return_last_state)
    u_eff = torch.where(dt != 0, x / torch.where(dt != 0, dt, torch.ones_like(dt)), torch.zeros_like(x))
    out = fn(u_eff, dt, A, B, C, D=None, z=None, delta_bias=None,
             delta_softplus=False, return_last_state=return_last_state)
    y, last = (out if return_last_state else (out, None))
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return (y, last) if return_last_state else y
