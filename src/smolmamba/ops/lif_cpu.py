"""Fused multi-step LIF for CPU tensors (numba): one pass over memory forward, one backward.

Same math as neurons.lif_ref. The forward uses the same float operations in the same order as
ops/lif_torch.py (bitwise equal; no fast-math, no FMA contraction, scalars cast to the tensor's
dtype as torch does). Work is split into blocks of `BLOCK` elements: the state lives in a small
local array, time runs in the outer loop and the elements in the inner one, which LLVM
vectorises (1-D slices, numpy error model: no per-element checks). The backward first computes
the surrogate derivative of a block into a scratch array, then runs the carry; for float32 the
sigmoid's exp is the Cephes polynomial (about 1 ulp), which vectorises where libm's exp does not.

Shapes: x, spikes, membrane H, grad_spikes, grad_x: [T, M] contiguous (M = the flattened rest).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from smolmamba.ops.numba_runtime import numba, set_threads

BLOCK = 4096
SURROGATE_CODES = {"sigmoid": 0, "atan": 1, "arctan": 1, "rect": 2, "triangle": 3}


if numba is not None:
    from smolmamba.ops.numba_runtime import exp_f32, inline as _inline, jit as _jit

    @_jit
    def _forward(x, spikes, membrane, tau, v_th, v_reset, one, zero, spike_one, spike_zero, soft_reset,
                 decay_input):
        steps, m = x.shape
        for blk in numba.prange((m + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            n = min(BLOCK, m - lo)
            v = np.full(n, v_reset, dtype=x.dtype)
            for t in range(steps):
                xt, ht, st = x[t, lo:lo + n], membrane[t, lo:lo + n], spikes[t, lo:lo + n]
                for j in range(n):
                    vj = v[j]
                    if decay_input:  # H = V + (X - (V - V_reset)) / tau
                        h = vj + (xt[j] - (vj - v_reset)) / tau
                    else:  # H = V - (V - V_reset) / tau + X
                        h = vj - (vj - v_reset) / tau + xt[j]
                    fired = h >= v_th
                    s = one if fired else zero
                    ht[j] = h
                    st[j] = spike_one if fired else spike_zero
                    v[j] = h - s * v_th if soft_reset else h * (one - s) + v_reset * s

    @_inline
    def _surrogate_block(ht, ds, bits, code, c, v_th, fast_exp):
        """ds[:] <- surrogate derivative at H - V_th (neurons.SURROGATES[...].grad);
        c = (alpha, 1, 0, pi/2 alpha, alpha/2, 1/(2 alpha)) in the tensor's dtype."""
        alpha, one, zero = c[0], c[1], c[2]
        n = ds.shape[0]
        if code == 0:  # alpha sg (1 - sg), sg = sigmoid(alpha u)
            for j in range(n):
                ds[j] = -(alpha * (ht[j] - v_th))
            if fast_exp:
                exp_f32(ds, bits)
            else:
                for j in range(n):
                    ds[j] = math.exp(ds[j])
            for j in range(n):
                sg = one / (one + ds[j])
                ds[j] = alpha * sg * (one - sg)
        elif code == 1:
            for j in range(n):
                w = c[3] * (ht[j] - v_th)
                ds[j] = c[4] / (one + w * w)
        elif code == 2:
            for j in range(n):
                ds[j] = alpha if abs(ht[j] - v_th) < c[5] else zero
        else:
            for j in range(n):
                ds[j] = alpha * max(zero, one - alpha * abs(ht[j] - v_th))

    @_jit
    def _backward(h, grad_s, grad_h_out, grad_x, c, v_th, v_reset, k, scale, code, soft_reset,
                  detach_reset, has_grad_s, has_grad_h, fast_exp):
        """grad_x [T, M]: dL/dH_t = dL/dS_t S'(H_t) + dL/dH_t(out) + k dV_t/dH_t dL/dH_{t+1}."""
        steps, m = h.shape
        one, zero = c[1], c[2]
        for blk in numba.prange((m + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            n = min(BLOCK, m - lo)
            nxt = np.zeros(n, dtype=h.dtype)  # dL/dH_{t+1}
            ds = np.empty(n, dtype=h.dtype)
            bits = np.empty(n, dtype=np.int32)
            for t in range(steps - 1, -1, -1):
                ht, gst, ght, gxt = h[t, lo:lo + n], grad_s[t, lo:lo + n], grad_h_out[t, lo:lo + n], \
                    grad_x[t, lo:lo + n]
                _surrogate_block(ht, ds, bits, code, c, v_th, fast_exp)
                for j in range(n):
                    if soft_reset:
                        factor = one if detach_reset else one - v_th * ds[j]
                    else:
                        keep = one if ht[j] < v_th else zero
                        factor = keep if detach_reset else keep + (v_reset - ht[j]) * ds[j]
                    g = k * factor * nxt[j]
                    if has_grad_s:
                        g += gst[j] * ds[j]
                    if has_grad_h:
                        g += ght[j]
                    gxt[j] = g * scale
                    nxt[j] = g


def _scalar(dtype: torch.dtype):
    return np.dtype(str(dtype).removeprefix("torch.")).type


def _rows(t: torch.Tensor) -> np.ndarray:
    """[T, ...] contiguous tensor -> [T, M] numpy view (shared memory)."""
    return t.view(t.shape[0], -1).numpy()


def _spike_buffer(x: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, np.ndarray, object, object]:
    """-> (spikes tensor of x's shape in `dtype`, its [T, M] numpy view, a spike and a silence in that view).
    bf16/fp16 (no numpy dtype) are written through their 16-bit patterns: 1.0 is 0x3F80 / 0x3C00."""
    spikes = torch.empty(x.shape, dtype=dtype)
    if dtype in (torch.bfloat16, torch.float16):
        bits = spikes.view(torch.int16)
        return spikes, _rows(bits), np.int16(torch.ones(1, dtype=dtype).view(torch.int16).item()), np.int16(0)
    return spikes, _rows(spikes), _scalar(dtype)(1), _scalar(dtype)(0)


def lif_forward(x: torch.Tensor, tau: float, v_threshold: float, v_reset: float, soft_reset: bool,
                decay_input: bool, spike_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """x [T, ...] float32/64 -> (spikes in spike_dtype (None: x's; bf16 and fp16 written directly), H like x),
    both contiguous."""
    x = x.contiguous()
    spikes, spike_rows, spike_one, spike_zero = _spike_buffer(x, spike_dtype or x.dtype)
    membrane = torch.empty_like(x)
    cast = _scalar(x.dtype)
    set_threads()
    _forward(_rows(x), spike_rows, _rows(membrane), cast(tau), cast(v_threshold), cast(v_reset), cast(1),
             cast(0), spike_one, spike_zero, bool(soft_reset), bool(decay_input))
    return spikes, membrane


def lif_backward(h: torch.Tensor, grad_spikes: torch.Tensor | None, grad_membrane: torch.Tensor | None,
                 tau: float, v_threshold: float, v_reset: float, surrogate: str, alpha: float,
                 soft_reset: bool, detach_reset: bool, decay_input: bool) -> torch.Tensor:
    """dL/dx [T, ...] from the saved H and the output gradients (either may be None), in H's dtype."""
    grad = torch.empty_like(h)
    cast = _scalar(h.dtype)
    consts = np.array([alpha, 1.0, 0.0, math.pi / 2.0 * alpha, alpha / 2.0, 0.5 / alpha], dtype=cast)
    given = lambda t: _rows(h if t is None else t.contiguous())  # noqa: E731  (h: an unread stand-in)
    set_threads()
    _backward(_rows(h), given(grad_spikes), given(grad_membrane), _rows(grad), consts, cast(v_threshold),
              cast(v_reset), cast(1.0 - 1.0 / tau), cast(1.0 / tau if decay_input else 1.0),
              SURROGATE_CODES[surrogate], bool(soft_reset), bool(detach_reset), grad_spikes is not None,
              grad_membrane is not None, h.dtype == torch.float32)
    return grad
