"""Fused selective-scan core for CPU tensors (numba): the state never leaves the cache.

Letters as in ops/scan.py (mamba_ssm's): dt, x: [B, D, L]; A: [D, N]; Bm, Cm: [B, N, L]. Runs the
same core recurrence as scan_torch.scan_core,

    h_t = exp(dt_t * A) * h_{t-1} + x_t * B_t,   h_{-1} = 0,   y_t = <C_t, h_t>,

but per batch row with the state h [N, D] in a local array: memory traffic is the inputs and
outputs ([B, L, D] and [B, L, N]), not the [L, B, N, D] blocks the torch path materialises
(N times the input). Time-major inner loops run over D (contiguous, vectorised by LLVM; float32
exp via the Cephes polynomial of numba_runtime, float64 via libm).
Forward keeps the state at every CHUNK-th step; backward recomputes a chunk's states (and decays)
from its checkpoint and runs the adjoint g_t = a_{t+1} g_{t+1} + dy_t C_t backwards through it.
Batch rows run in parallel; dA is reduced over rows at the end. The backward's dot products over D (dB, dC)
may be summed in any order (numba_runtime.jit_reassoc), so its inner loop vectorises like the forward's.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from smolmamba.ops.numba_runtime import numba, set_threads

CHUNK = 16


if numba is not None:
    from smolmamba.ops.numba_runtime import exp_f32, inline as _inline, jit as _jit, jit_reassoc as _jit_reassoc

    @_inline
    def _decay(dt_t, A_n, out, bits, fast_exp):
        """out[:] = exp(dt_t * A_n) over D."""
        for d in range(out.shape[0]):
            out[d] = dt_t[d] * A_n[d]
        if fast_exp:
            exp_f32(out, bits)
        else:
            for d in range(out.shape[0]):
                out[d] = math.exp(out[d])

    @_jit
    def _forward(dt, x, A, Bm, Cm, y, ckpt, last, fast_exp):
        """dt, x [B, L, D]; A [N, D]; Bm, Cm [B, L, N] -> y [B, L, D], ckpt [B, nchunk, N, D] (state
        before each chunk), last [B, N, D]."""
        nb, steps, dim = dt.shape
        nstate = A.shape[0]
        for b in numba.prange(nb):
            h = np.zeros((nstate, dim), dtype=dt.dtype)
            a = np.empty(dim, dtype=dt.dtype)
            bits = np.empty(dim, dtype=np.int32)
            for t in range(steps):
                if t % CHUNK == 0:
                    ckpt[b, t // CHUNK] = h
                dt_t, x_t, y_t = dt[b, t], x[b, t], y[b, t]
                y_t[:] = 0
                for n in range(nstate):
                    _decay(dt_t, A[n], a, bits, fast_exp)
                    bn, cn, hn = Bm[b, t, n], Cm[b, t, n], h[n]
                    for d in range(dim):
                        hn[d] = a[d] * hn[d] + x_t[d] * bn
                        y_t[d] += cn * hn[d]
            last[b] = h

    @_jit_reassoc
    def _backward(dt, x, A, Bm, Cm, ckpt, dy, dlast, ddt, dx, dB, dC, dA_rows, zero, has_dlast, fast_exp):
        """Gradients of _forward: ddt, dx [B, L, D]; dB, dC [B, L, N]; dA_rows [B, N, D] (sum over B
        is dA); dy [B, L, D], dlast [B, N, D] (read only if has_dlast)."""
        nb, steps, dim = dt.shape
        nstate = A.shape[0]
        for b in numba.prange(nb):
            g = np.zeros((nstate, dim), dtype=dt.dtype)  # dL/dh_t, carried as a_{t+1} g_{t+1}
            if has_dlast:
                g[:] = dlast[b]
            hs = np.empty((CHUNK + 1, nstate, dim), dtype=dt.dtype)  # hs[0] = state before the chunk
            decays = np.empty((CHUNK, nstate, dim), dtype=dt.dtype)
            bits = np.empty(dim, dtype=np.int32)
            dA_b = dA_rows[b]
            dA_b[:] = 0
            for k in range((steps + CHUNK - 1) // CHUNK - 1, -1, -1):
                s = k * CHUNK
                e = min(s + CHUNK, steps)
                hs[0] = ckpt[b, k]
                for t in range(s, e):  # recompute the chunk's decays and states
                    i = t - s
                    for n in range(nstate):
                        an, prev, cur = decays[i, n], hs[i, n], hs[i + 1, n]
                        _decay(dt[b, t], A[n], an, bits, fast_exp)
                        bn = Bm[b, t, n]
                        for d in range(dim):
                            cur[d] = an[d] * prev[d] + x[b, t, d] * bn
                for t in range(e - 1, s - 1, -1):
                    i = t - s
                    dy_t, x_t, dt_t, dx_t, ddt_t = dy[b, t], x[b, t], dt[b, t], dx[b, t], ddt[b, t]
                    dx_t[:] = 0
                    ddt_t[:] = 0
                    for n in range(nstate):
                        gn, an, hprev, hcur, An, dAn = g[n], decays[i, n], hs[i, n], hs[i + 1, n], A[n], dA_b[n]
                        cn, bn = Cm[b, t, n], Bm[b, t, n]
                        acc_c, acc_b = zero, zero
                        for d in range(dim):
                            gd = gn[d] + dy_t[d] * cn  # g_t
                            acc_c += dy_t[d] * hcur[d]
                            acc_b += x_t[d] * gd
                            dx_t[d] += bn * gd
                            qd = gd * an[d] * hprev[d]  # dL/d(dt * A)
                            ddt_t[d] += An[d] * qd
                            dAn[d] += dt_t[d] * qd
                            gn[d] = an[d] * gd  # carried to t - 1
                        dC[b, t, n] = acc_c
                        dB[b, t, n] = acc_b


def _lead_time(t: torch.Tensor) -> torch.Tensor:
    """[B, X, L] -> contiguous [B, L, X] (a view when the memory is already time-major)."""
    return t.transpose(1, 2).contiguous()


class _NumbaScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dt, x, A, Bm, Cm):
        dt_l, x_l, B_l, C_l = _lead_time(dt), _lead_time(x), _lead_time(Bm), _lead_time(Cm)
        A_t = A.t().contiguous()  # (N, D)
        nb, steps, dim = dt_l.shape
        y = torch.empty_like(dt_l)
        ckpt = dt_l.new_empty(nb, (steps + CHUNK - 1) // CHUNK, A.shape[1], dim)
        last = dt_l.new_empty(nb, A.shape[1], dim)
        set_threads()
        fast = dt.dtype == torch.float32
        _forward(dt_l.numpy(), x_l.numpy(), A_t.numpy(), B_l.numpy(), C_l.numpy(), y.numpy(), ckpt.numpy(),
                 last.numpy(), fast)
        ctx.save_for_backward(dt_l, x_l, A_t, B_l, C_l, ckpt)
        ctx.set_materialize_grads(False)
        return y.transpose(1, 2), last.transpose(1, 2)

    @staticmethod
    def backward(ctx, dy, dlast):
        dt_l, x_l, A_t, B_l, C_l, ckpt = ctx.saved_tensors
        dy_l = torch.zeros_like(dt_l) if dy is None else _lead_time(dy)
        dlast_l = None if dlast is None else dlast.transpose(1, 2).contiguous()  # (B, N, D)
        ddt, dx = torch.empty_like(dt_l), torch.empty_like(x_l)
        dB, dC = torch.empty_like(B_l), torch.empty_like(C_l)
        dA_rows = dt_l.new_empty(dt_l.shape[0], *A_t.shape)
        set_threads()
        _backward(dt_l.numpy(), x_l.numpy(), A_t.numpy(), B_l.numpy(), C_l.numpy(), ckpt.numpy(), dy_l.numpy(),
                  (ckpt[:, 0] if dlast_l is None else dlast_l).numpy(), ddt.numpy(), dx.numpy(), dB.numpy(),
                  dC.numpy(), dA_rows.numpy(), dt_l.numpy().dtype.type(0), dlast_l is not None,
                  dt_l.dtype == torch.float32)
        t = lambda g: g.transpose(1, 2)  # noqa: E731  [B, L, X] -> [B, X, L]
        return t(ddt), t(dx), dA_rows.sum(0).t(), t(dB), t(dC)


def scan_core_numba(dt, x, A, Bm, Cm):
    """Core recurrence; returns (y [B, D, L], last state [B, D, N]). Inputs same dtype, on the CPU."""
    return _NumbaScan.apply(dt, x, A, Bm, Cm)
