"""Blocked selective scan in pure PyTorch with a hand-written, recomputing backward.

Letters as in ops/scan.py (mamba_ssm's): dt, x: [B, D, L]; A: [D, N]; Bm, Cm: [B, N, L].
This module only runs the core recurrence

    h_t = exp(dt_t * A) * h_{t-1} + x_t * B_t,   h_{-1} = 0,   y_t = <C_t, h_t>

where ``dt`` is the decay step and ``x`` the input weight (``delta * u`` in mamba terms).
Bias, softplus, the D skip, z gating and pruning alignment are plain autograd ops in scan.py.

Method (see docs/PERFORMANCE.md, "Selective scan"):
- work in time-major layout [L, B, N, D] so every per-step update is one contiguous
  ``addcmul_`` over B*N*D elements and every reduction runs over a middle or leading axis;
- split L into blocks of ``block_size`` steps; per block, ``exp(dt*A)`` and ``x*B`` are
  materialised once into reused [T, B, N, D] buffers (never [B, D, L, N] at once), the
  steps run sequentially, and the readout is one batched matmul;
- ``exp(dt*A)`` is computed as ``exp2(dt * (A*log2 e))``: the same value up to rounding
  of the exponent (torch's exp2 is about 5x faster than exp on x86 CPUs);
- forward keeps only the state at each block start; backward walks blocks in reverse,
  recomputes the block's states from its start, runs the adjoint recurrence
  g_t = a_{t+1} g_{t+1} + dy_t C_t and reduces each gradient per block.
"""

from __future__ import annotations

import math

import torch

__all__ = ["DEFAULT_BLOCK_SIZE", "scan_core"]

DEFAULT_BLOCK_SIZE = 16
_LOG2E = math.log2(math.e)


def _time_major(t: torch.Tensor) -> torch.Tensor:
    """[B, X, L] -> contiguous [L, B, X] (a 2-D transpose: torch's fast path, ~10x a 3-D permute)."""
    b, c, n = t.shape
    return t.reshape(b * c, n).t().contiguous().view(n, b, c)


def _batch_major(t: torch.Tensor) -> torch.Tensor:
    """Contiguous [L, B, X] -> contiguous [B, X, L]."""
    n, b, c = t.shape
    return t.view(n, b * c).t().contiguous().view(b, c, n)


def _block_states(dtp, xp, A2, Bp, h_prev, s, n, a, H, av, Hv):
    """a[:n] = exp(dt*A), H[:n] = states of steps s..s+n-1 starting from h_prev (None: zero).

    av, Hv are a.unbind(0), H.unbind(0), made once per call: indexing in the step loop costs.
    """
    torch.mul(dtp[s : s + n, :, None, :], A2, out=a[:n])  # (n, B, N, D)
    a[:n].exp2_()
    torch.mul(xp[s : s + n, :, None, :], Bp[s : s + n, :, :, None], out=H[:n])  # (n, B, N, D)
    if h_prev is not None:
        Hv[0].addcmul_(av[0], h_prev)
    for t in range(1, n):
        Hv[t].addcmul_(av[t], Hv[t - 1])


class _BlockedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dt, x, A, Bm, Cm, block_size: int):
        Bsz, D, L = dt.shape
        N = A.shape[1]
        T = max(1, min(block_size, L))
        nblk = (L + T - 1) // T
        opts = dict(dtype=dt.dtype, device=dt.device)
        dtp, xp, Bp, Cp = _time_major(dt), _time_major(x), _time_major(Bm), _time_major(Cm)
        A2 = (A * _LOG2E).t().contiguous()  # (N, D)
        a = torch.empty(T, Bsz, N, D, **opts)
        H = torch.empty(T, Bsz, N, D, **opts)
        starts = torch.empty(nblk + 1, Bsz, N, D, **opts)  # starts[k] = state before block k
        starts[0].zero_()
        y = torch.empty(L, Bsz, D, **opts)
        av, Hv = a.unbind(0), H.unbind(0)
        for k in range(nblk):
            s = k * T
            n = min(T, L - s)
            _block_states(dtp, xp, A2, Bp, starts[k] if k else None, s, n, a, H, av, Hv)
            starts[k + 1].copy_(H[n - 1])
            # y[t, b, d] = sum_n C[t, b, n] H[t, b, n, d]
            torch.bmm(Cp[s : s + n].view(n * Bsz, 1, N), H[:n].view(n * Bsz, N, D), out=y[s : s + n].view(n * Bsz, 1, D))
        ctx.save_for_backward(dtp, xp, A, Bp, Cp, starts)
        ctx.T = T
        last = starts[nblk].transpose(1, 2)  # (B, D, N)
        ctx.set_materialize_grads(False)
        return _batch_major(y), last.clone()

    @staticmethod
    def backward(ctx, dy, dlast):
        dtp, xp, A, Bp, Cp, starts = ctx.saved_tensors
        T = ctx.T
        L, Bsz, D = dtp.shape
        N = A.shape[1]
        nblk = starts.shape[0] - 1
        need_dt, need_x, need_A, need_B, need_C = ctx.needs_input_grad[:5]
        opts = dict(dtype=dtp.dtype, device=dtp.device)
        A2 = (A * _LOG2E).t().contiguous()  # (N, D)
        At = A.t().contiguous()  # (N, D)
        dyp = torch.zeros(L, Bsz, D, **opts) if dy is None else _time_major(dy)  # (L, B, D)
        a = torch.empty(T, Bsz, N, D, **opts)
        H = torch.empty(T + 1, Bsz, N, D, **opts)  # H[0] = state before block, H[t+1] = h_t
        G = torch.empty(T, Bsz, N, D, **opts)  # adjoint dLoss/dh_t
        S = torch.empty(T, Bsz, N, D, **opts) if need_dt else None  # scratch
        gcarry = torch.empty(Bsz, N, D, **opts)
        have_carry = dlast is not None
        if have_carry:
            gcarry.copy_(dlast.transpose(1, 2))
        ddt = torch.empty(L, Bsz, D, **opts) if need_dt else None
        dx = torch.empty(L, Bsz, D, **opts) if need_x else None
        dB = torch.empty(L, Bsz, N, **opts) if need_B else None
        dC = torch.empty(L, Bsz, N, **opts) if need_C else None
        dA_acc = torch.zeros(T, Bsz, N, D, **opts) if need_A else None  # (T, B, N, D)
        av, Hv, Gv = a.unbind(0), H.unbind(0), G.unbind(0)
        for k in reversed(range(nblk)):
            s = k * T
            n = min(T, L - s)
            K = n * Bsz
            H[0].copy_(starts[k])
            _block_states(dtp, xp, A2, Bp, starts[k] if k else None, s, n, a, H[1:], av, Hv[1:])
            Hs, Gs, As = H[1 : n + 1], G[:n], a[:n]
            # adjoint: g_t = dy_t C_t + a_{t+1} g_{t+1}
            torch.mul(dyp[s : s + n, :, None, :], Cp[s : s + n, :, :, None], out=Gs)
            if have_carry:
                Gs[n - 1].add_(gcarry)
            for t in range(n - 2, -1, -1):
                Gv[t].addcmul_(av[t + 1], Gv[t + 1])
            if k > 0:
                torch.mul(As[0], Gs[0], out=gcarry)
                have_carry = True
            if need_C:  # dC[t, b, n] = sum_d dy[t, b, d] h_t[b, n, d]
                torch.bmm(dyp[s : s + n].view(K, 1, D), Hs.view(K, N, D).transpose(1, 2), out=dC[s : s + n].view(K, 1, N))
            if need_x:  # dx[t, b, d] = sum_n B[t, b, n] g_t[b, n, d]
                torch.bmm(Bp[s : s + n].view(K, 1, N), Gs.view(K, N, D), out=dx[s : s + n].view(K, 1, D))
            if need_B:  # dB[t, b, n] = sum_d x[t, b, d] g_t[b, n, d]
                torch.bmm(xp[s : s + n].view(K, 1, D), Gs.view(K, N, D).transpose(1, 2), out=dB[s : s + n].view(K, 1, N))
            if need_dt or need_A:
                # Q = dLoss/d(dt*A) = g_t * a_t * h_{t-1}, written over a
                As.mul_(H[:n]).mul_(Gs)
                if need_A:  # dA[n, d] = sum_{t, b} dt[t, b, d] Q[t, b, n, d], summed over t at the end
                    dA_acc[:n].addcmul_(As, dtp[s : s + n, :, None, :])
                if need_dt:  # ddt[t, b, d] = sum_n A[d, n] Q[t, b, n, d]
                    torch.mul(As, At, out=S[:n])
                    torch.sum(S[:n], dim=2, out=ddt[s : s + n])
        dA = dA_acc.view(T * Bsz, N, D).sum(0) if need_A else None  # (N, D)
        back = lambda t: None if t is None else _batch_major(t)  # noqa: E731
        return back(ddt), back(dx), None if dA is None else dA.t().contiguous(), back(dB), back(dC), None


def _traced_scan(dt, x, A, Bm, Cm, block_size: int):
    """_BlockedScan's forward without buffers, out= or in-place writes, for torch.export / torch.compile:
    functionalising writes into views of a buffer makes the exported graph grow quadratically.
    The same kernels in the same order, so the same values; plain autograd differentiates it."""
    Bsz, D, L = dt.shape
    N = A.shape[1]
    T = max(1, min(block_size, L))
    dtp, xp, Bp, Cp = _time_major(dt), _time_major(x), _time_major(Bm), _time_major(Cm)
    A2 = (A * _LOG2E).t().contiguous()  # (N, D)
    h, ys = None, []
    for s in range(0, L, T):
        n = min(T, L - s)
        a = torch.exp2(dtp[s : s + n, :, None, :] * A2)  # (n, B, N, D)
        xb = xp[s : s + n, :, None, :] * Bp[s : s + n, :, :, None]  # (n, B, N, D)
        states = []
        for t in range(n):
            h = xb[t] if h is None else torch.addcmul(xb[t], a[t], h)  # (B, N, D)
            states.append(h)
        H = torch.stack(states)  # (n, B, N, D)
        ys.append(torch.bmm(Cp[s : s + n].reshape(n * Bsz, 1, N), H.view(n * Bsz, N, D)).view(n, Bsz, D))
    return _batch_major(torch.cat(ys)), h.transpose(1, 2).clone()


def scan_core(dt, x, A, Bm, Cm, block_size: int | None = None):
    """Core recurrence; returns (y [B, D, L], last state [B, D, N]). Inputs same dtype/device."""
    block_size = DEFAULT_BLOCK_SIZE if block_size is None else int(block_size)
    if torch.compiler.is_compiling():  # also under torch.export and torch.onnx.export
        return _traced_scan(dt, x, A, Bm, Cm, block_size)
    return _BlockedScan.apply(dt, x, A, Bm, Cm, block_size)
