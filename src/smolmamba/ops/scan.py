"""Selective scan (Mamba's S6) with pruning-aware hidden-state alignment.

Letters are mamba_ssm's, and only this module (with scan_torch.py, scan_cuda.py, scan_triton.py and
scan_triton_kernels.py) keeps them: u, delta, z: [B, D, L] (batch, channels, length); A: [D, N], N the state size;
B, C: [B, N, L]; D, delta_bias: [D]; y: [B, D, L]; the state h: [B, D, N].

    delta <- softplus(delta + delta_bias)          (bias if given, softplus if delta_softplus)
    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,   h_{-1} = 0
    y_t = <C_t, h_t> + D * u_t;   y <- y * silu(z) if z is given

Alignment (Exploring Token Pruning in Vision SSMs, NeurIPS 2024, eq. 5-6): ``positions``
[B, L] (integer, strictly increasing, >= 0) are the original indices of the L kept tokens.
A pruned position still advances the state as a silent token: u = 0 and a zero pre-activation,
i.e. delta0 = softplus(delta_bias) (delta_bias without softplus; log 2 / 0 if delta_bias is None).
Across g pruned positions the state decays by exp(g * delta0 * A) and gets no input, so the
aligned scan is a plain scan on the kept tokens with

    decay step  dt = delta + g * delta0,    input weight  x = delta * u   (delta after bias/softplus)

and the D * u skip on the original u. ``scan_inputs`` forms (dt, x) for every impl; no division,
so it is exact also for delta = 0. Zeros before the first kept token leave the state at zero.
Contiguous positions give g = 0 and reproduce positions=None bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import backend, scan_cpu, scan_cuda
from .alignment import position_gaps
from .softplus import softplus
from .scan_torch import scan_core

__all__ = [
    "IMPLS",
    "ScanParams",
    "bidirectional_scan",
    "flip_positions",
    "position_gaps",
    "resolve_impl",
    "scan_inputs",
    "selective_scan",
    "selective_scan_ref",
    "softplus",
]

IMPLS = backend.OPS["scan"]
_LOWP = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------- validation
def _shape_err(fn, name, t, expected):
    return ValueError(f"{fn}: {name} has shape {tuple(t.shape)}, expected {expected}")


def _validate(fn, u, delta, A, B, C, D, z, delta_bias, positions, check_inputs):
    """Raise ValueError naming the argument; value checks (a sync on GPU) only if check_inputs."""
    named = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)
    for name, t in named.items():
        if t is not None and not isinstance(t, torch.Tensor):
            raise ValueError(f"{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if u.dim() != 3 or 0 in u.shape:
        raise _shape_err(fn, "u", u, "3 dims [B, D, L], none of them 0")
    Bsz, Dm, L = u.shape
    if A.dim() != 2 or A.shape[0] != Dm:
        raise _shape_err(fn, "A", A, f"[D, N] with D={Dm} (from u)")
    N = A.shape[1]
    want = {
        "delta": (Bsz, Dm, L), "z": (Bsz, Dm, L), "B": (Bsz, N, L), "C": (Bsz, N, L),
        "D": (Dm,), "delta_bias": (Dm,),
    }
    for name, shape in want.items():
        t = named[name]
        if t is not None and tuple(t.shape) != shape:
            dims = "[B, D, L]" if len(shape) == 3 and name in ("delta", "z") else "[B, N, L]" if len(shape) == 3 else "[D]"
            raise _shape_err(fn, name, t, f"{dims} = {shape} (B, D, L from u, N from A)")
    if not u.is_floating_point():
        raise ValueError(f"{fn}: u has dtype {u.dtype}, expected a floating dtype")
    for name, t in named.items():
        if t is None:
            continue
        if t.dtype != u.dtype:
            raise ValueError(f"{fn}: mixed dtypes, {name} is {t.dtype} but u is {u.dtype}; cast all to one dtype")
        if t.device != u.device:
            raise ValueError(f"{fn}: {name} is on {t.device} but u is on {u.device}")
    if positions is not None:
        if not isinstance(positions, torch.Tensor) or positions.dtype.is_floating_point or positions.dtype in (torch.bool, torch.complex64, torch.complex128):
            got = positions.dtype if isinstance(positions, torch.Tensor) else type(positions).__name__
            raise ValueError(f"{fn}: positions must be an integer tensor (torch.int64), got {got}")
        if tuple(positions.shape) != (Bsz, L):
            raise _shape_err(fn, "positions", positions, f"[B, L] = {(Bsz, L)} (from u)")
        if positions.device != u.device:
            raise ValueError(f"{fn}: positions is on {positions.device} but u is on {u.device}")
    if check_inputs:
        bad = [n for n, t in (("u", u), ("delta", delta)) if t.numel() and not _finite(t)]
        if bad:
            raise ValueError(f"{fn}: {bad[0]} contains NaN or inf (pass check_inputs=False to skip this check)")
        if positions is not None and positions.numel():
            if bool((positions < 0).any()):
                raise ValueError(f"{fn}: positions must be >= 0, got min {int(positions.min())}")
            if L > 1 and not bool((positions[:, 1:] > positions[:, :-1]).all()):
                raise ValueError(f"{fn}: positions must be strictly increasing along L (shape {tuple(positions.shape)})")


def _finite(t):
    lo, hi = torch.aminmax(t.detach())  # one pass; NaN propagates into both
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def resolve_impl(impl: str, tensor: torch.Tensor) -> str:
    """Which backend runs for `impl` on `tensor`'s device and dtype (ops/backend.py, op "scan")."""
    return backend.resolve("scan", impl, tensor)


# ----------------------------------------------------------------------------- alignment
def flip_positions(positions: torch.Tensor) -> torch.Tensor:
    """Positions of the L-flipped sequence: same gaps in reverse order, still >= 0 and increasing."""
    return positions[:, -1:] - positions.flip(-1)


def scan_inputs(u, delta, delta_bias=None, delta_softplus=True, positions=None):
    """(decay step dt, input weight x = delta*u), both [B, D, L]; see the module docstring."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = softplus(delta)
    x = delta * u
    if positions is None:
        return delta, x
    if delta_bias is not None:
        delta0 = softplus(delta_bias) if delta_softplus else delta_bias  # (D,)
    else:
        delta0 = torch.full((u.shape[1],), math.log(2.0) if delta_softplus else 0.0, dtype=u.dtype, device=u.device)
    gaps = position_gaps(positions).to(u.dtype)  # (B, L)
    return torch.addcmul(delta, gaps[:, None, :], delta0[:, None]), x  # one pass, no [B, D, L] temporary


# ----------------------------------------------------------------------------- impls
def _ref_core(dt, x, A, B, C):
    """Plain loop over L; the state is [B, D, N], never [B, D, L, N]."""
    Bsz, Dm, L = dt.shape
    h = dt.new_zeros(Bsz, Dm, A.shape[1])  # (B, D, N)
    ys = []
    for t in range(L):
        h = torch.exp(dt[:, :, t, None] * A) * h + x[:, :, t, None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))  # (B, D)
    return torch.stack(ys, dim=-1), h


def _run(core, u, delta, A, B, C, D, z, delta_bias, delta_softplus, positions, return_last_state):
    out_dtype = u.dtype
    if out_dtype in _LOWP:  # accumulate the state in float32
        u, delta, A, B, C, D, z, delta_bias = (
            None if t is None else t.float() for t in (u, delta, A, B, C, D, z, delta_bias)
        )
    dt, x = scan_inputs(u, delta, delta_bias, delta_softplus, positions)
    y, last = core(dt, x, A, B, C)
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    y = y.to(out_dtype)
    return (y, last.to(out_dtype)) if return_last_state else y


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True,
                       return_last_state=False, positions=None):
    """Slow obvious loop; same arguments and result as selective_scan. y: [B, D, L]."""
    _validate("selective_scan_ref", u, delta, A, B, C, D, z, delta_bias, positions, check_inputs=False)
    return _run(_ref_core, u, delta, A, B, C, D, z, delta_bias, delta_softplus, positions, return_last_state)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True,
                   positions=None, impl="auto", *, return_last_state=False, check_inputs=True,
                   block_size=None):
    """Selective scan, y: [B, D, L] (and last state [B, D, N] if return_last_state).

    positions: [B, L] original indices of kept tokens (alignment, see module docstring).
    impl: 'auto' (on CUDA tensors 'triton' if Triton imports, else 'cuda' if mamba_ssm does, else
    'torch'; on CPU float tensors the fused 'numba' core), 'numba', 'torch', 'reference', 'triton',
    'cuda' (ops/backend.py); resolve_impl(impl, u) says which ran. check_inputs: also check that u and delta are
    finite and positions valid (costs a pass over u, delta and, on GPU, a sync); shapes, dtypes
    and devices are always checked. block_size: steps per block of the 'torch' impl.
    """
    _validate("selective_scan", u, delta, A, B, C, D, z, delta_bias, positions, check_inputs)
    if block_size is not None and (not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"selective_scan: block_size must be a positive int or None, got {block_size!r}")
    which = resolve_impl(impl, u)
    if which == "reference":
        core = _ref_core
    elif which == "torch":
        def core(dt, x, A_, B_, C_):
            return scan_core(dt, x, A_, B_, C_, block_size)
    elif which == "numba":
        core = scan_cpu.scan_core_numba
    elif which == "triton":
        from .scan_triton import selective_scan_triton

        return selective_scan_triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus, positions,
                                     return_last_state)
    else:
        if positions is None:
            return scan_cuda.selective_scan_cuda(
                u, None, None, A, B, C, D, z, delta=delta, delta_bias=delta_bias,
                delta_softplus=delta_softplus, return_last_state=return_last_state)
        dt, x = scan_inputs(u, delta, delta_bias, delta_softplus, positions)
        return scan_cuda.selective_scan_cuda(
            u, dt, x, A, B, C, D, z, return_last_state=return_last_state, aligned=True)
    return _run(core, u, delta, A, B, C, D, z, delta_bias, delta_softplus, positions, return_last_state)


torch.fx.wrap("selective_scan")  # a leaf for torch.fx: one node per call, the impl chosen when it runs


# ----------------------------------------------------------------------------- bidirectional
@dataclass(frozen=True)
class ScanParams:
    """One direction's inputs, in original token order: u, delta [B, D, L]; A [D, N];
    B, C [B, N, L]; D, delta_bias [D] or None."""

    u: torch.Tensor
    delta: torch.Tensor
    A: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    D: torch.Tensor | None = None
    delta_bias: torch.Tensor | None = None


def bidirectional_scan(fwd: ScanParams, bwd: ScanParams | None = None, z=None, *, positions=None,
                       delta_softplus=True, gate="sum", impl="auto", check_inputs=True, block_size=None):
    """Forward scan plus a scan over the L-flipped sequence, flipped back and summed: [B, D, L].

    bwd: the backward direction's params in original order (None: reuse fwd's, weight-tied).
    gate: 'sum' applies silu(z) once to the sum (our default); 'per_direction' gates each
    direction before summing, as Vim's bimamba v2 does. positions align both directions.
    """
    if gate not in ("sum", "per_direction"):
        raise ValueError(f"bidirectional_scan: gate must be 'sum' or 'per_direction', got {gate!r}")
    bwd = fwd if bwd is None else bwd
    if z is not None and (not isinstance(z, torch.Tensor) or tuple(z.shape) != tuple(fwd.u.shape)):
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"bidirectional_scan: z has shape {got}, expected [B, D, L] = {tuple(fwd.u.shape)} like u")
    pos_b = None if positions is None else flip_positions(positions)
    z_f = z if gate == "per_direction" else None
    kw = dict(delta_softplus=delta_softplus, impl=impl, check_inputs=check_inputs, block_size=block_size)
    y_f = selective_scan(fwd.u, fwd.delta, fwd.A, fwd.B, fwd.C, fwd.D, z_f, fwd.delta_bias, positions=positions, **kw)
    flip = lambda t: None if t is None else t.flip(-1)  # noqa: E731
    y_b = selective_scan(flip(bwd.u), flip(bwd.delta), bwd.A, flip(bwd.B), flip(bwd.C), bwd.D, flip(z_f),
                         bwd.delta_bias, positions=pos_b, **kw)
    y = y_f + y_b.flip(-1)
    if z is not None and gate == "sum":
        y = y * F.silu(z)
    return y
