"""Fused multi-step LIF for CPU tensors (numba): one pass over memory forward, one backward.

Same math as neurons.lif_ref. The forward uses the same float operations in the same order as
ops/lif_torch.py (bitwise equal; no fast-math, no FMA contraction, scalars cast to the tensor's
dtype as torch does). Work is split into blocks of `BLOCK` elements: the state lives in a small
local array, time runs in the outer loop and the elements in the inner one, which LLVM
vectorises (1-D slices, numpy error model: no per-element checks). The backward first computes
the surrogate derivative of a block into a scratch array, then runs the carry; for float32 the
sigmoid's exp is the Cephes polynomial (about 1 ulp), which vectorises where libm's exp does not.

Shapes: x, spikes, membrane H, grad_spikes, grad_x: [T, M] contiguous (M = the flattened rest). bf16 tensors
(numpy has no bf16) pass as their uint16 bit patterns: bf16 input and bf16 dL/dS are widened exactly inside the
kernels, a bf16 dL/dx is rounded there to nearest even, as torch rounds.
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

    @_inline
    def _charge_row(xt, ht, st, v, tau, v_th, v_reset, one, zero, spike_one, spike_zero, soft_reset, decay_input):
        """One step of one block: H, S and the new V from X (xt) and V (v), in place."""
        for j in range(v.shape[0]):
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
    def _bf16_to_f32(bits, wide):
        """bf16 bit patterns (uint16) -> their float32 values (exact), through `wide` (uint32 scratch like bits)."""
        for j in range(bits.shape[0]):
            wide[j] = np.uint32(bits[j]) << np.uint32(16)
        return wide.view(np.float32)

    @_inline
    def _f32_to_bf16(values, bits):
        """float32 values -> bf16 bit patterns (uint16), rounded to nearest even as torch rounds; NaN -> 0x7FC0."""
        wide = values.view(np.uint32)
        for j in range(bits.shape[0]):
            w = wide[j]
            rounded = (w + np.uint32(0x7FFF) + ((w >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
            bits[j] = np.uint16(0x7FC0) if (w & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000) else np.uint16(rounded)

    @_jit
    def _forward(x, spikes, membrane, tau, v_th, v_reset, one, zero, spike_one, spike_zero, soft_reset,
                 decay_input):
        steps, m = x.shape
        for blk in numba.prange((m + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            n = min(BLOCK, m - lo)
            v = np.full(n, v_reset, dtype=x.dtype)
            for t in range(steps):
                _charge_row(x[t, lo:lo + n], membrane[t, lo:lo + n], spikes[t, lo:lo + n], v, tau, v_th, v_reset,
                            one, zero, spike_one, spike_zero, soft_reset, decay_input)

    @_jit
    def _forward_bf16_input(x_bits, spikes, membrane, tau, v_th, v_reset, one, zero, spike_one, spike_zero,
                            soft_reset, decay_input):
        """_forward for bf16 x given as its bit patterns (uint16 [T, M]); H float32."""
        steps, m = x_bits.shape
        for blk in numba.prange((m + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            n = min(BLOCK, m - lo)
            v = np.full(n, v_reset, dtype=np.float32)
            wide = np.empty(n, dtype=np.uint32)
            for t in range(steps):
                xt = _bf16_to_f32(x_bits[t, lo:lo + n], wide)
                _charge_row(xt, membrane[t, lo:lo + n], spikes[t, lo:lo + n], v, tau, v_th, v_reset, one, zero,
                            spike_one, spike_zero, soft_reset, decay_input)

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

    @_inline
    def _carry_row(ht, gst, ght, gxt, nxt, ds, v_th, v_reset, one, zero, k, scale, soft_reset, detach_reset,
                   has_grad_s, has_grad_h):
        """One step of one block, backward: dL/dX_t into gxt and dL/dH_t into nxt; ds holds S'(H_t)."""
        for j in range(nxt.shape[0]):
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

    @_jit
    def _backward(h, grad_s, grad_h_out, grad_x, c, v_th, v_reset, k, scale, code, soft_reset,
                  detach_reset, has_grad_s, has_grad_h, fast_exp):
        """grad_x [T, M]: dL/dH_t = dL/dS_t S'(H_t) + dL/dH_t(out) + k dV_t/dH_t dL/dH_{t+1}."""
        steps, m = h.shape
        for blk in numba.prange((m + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            n = min(BLOCK, m - lo)
            nxt = np.zeros(n, dtype=h.dtype)  # dL/dH_{t+1}
            ds = np.empty(n, dtype=h.dtype)
            bits = np.empty(n, dtype=np.int32)
            for t in range(steps - 1, -1, -1):
                ht = h[t, lo:lo + n]
                _surrogate_block(ht, ds, bits, code, c, v_th, fast_exp)
                _carry_row(ht, grad_s[t, lo:lo + n], grad_h_out[t, lo:lo + n], grad_x[t, lo:lo + n], nxt, ds,
                           v_th, v_reset, c[1], c[2], k, scale, soft_reset, detach_reset, has_grad_s, has_grad_h)

    @_jit
    def _backward_bf16(h, grad_s_bits, grad_h_out, grad_x, grad_x_bits, c, v_th, v_reset, k, scale, code,
                       soft_reset, detach_reset, has_grad_s, has_grad_h, bf16_grad_x):
        """_backward for float32 H with dL/dS given as bf16 bit patterns (uint16 [T, M]); dL/dX into grad_x
        (float32) or, if bf16_grad_x, into grad_x_bits (bf16 bit patterns, rounded as torch rounds)."""
        steps, m = h.shape
        for blk in numba.prange((m + BLOCK - 1) // BLOCK):
            lo = blk * BLOCK
            n = min(BLOCK, m - lo)
            nxt = np.zeros(n, dtype=np.float32)
            ds = np.empty(n, dtype=np.float32)
            bits = np.empty(n, dtype=np.int32)
            wide = np.empty(n, dtype=np.uint32)
            row = np.empty(n, dtype=np.float32)  # dL/dX_t before rounding to bf16
            for t in range(steps - 1, -1, -1):
                ht = h[t, lo:lo + n]
                _surrogate_block(ht, ds, bits, code, c, v_th, True)
                gst = _bf16_to_f32(grad_s_bits[t, lo:lo + n], wide) if has_grad_s else ds
                if bf16_grad_x:
                    _carry_row(ht, gst, grad_h_out[t, lo:lo + n], row, nxt, ds, v_th, v_reset, c[1], c[2], k, scale,
                               soft_reset, detach_reset, has_grad_s, has_grad_h)
                    _f32_to_bf16(row, grad_x_bits[t, lo:lo + n])
                else:
                    _carry_row(ht, gst, grad_h_out[t, lo:lo + n], grad_x[t, lo:lo + n], nxt, ds, v_th, v_reset,
                               c[1], c[2], k, scale, soft_reset, detach_reset, has_grad_s, has_grad_h)

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


def _bf16_rows(t: torch.Tensor) -> np.ndarray:
    """[T, ...] bf16 tensor -> [T, M] numpy uint16 view of its bit patterns (contiguous first)."""
    return _rows(t.contiguous().view(torch.int16)).view(np.uint16)


def lif_forward(x: torch.Tensor, tau: float, v_threshold: float, v_reset: float, soft_reset: bool,
                decay_input: bool, spike_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """x [T, ...] float32/64, or bf16 (read as it is, integrated in float32) -> (spikes in spike_dtype (None: x's;
    bf16 and fp16 written directly), H in x's dtype, float32 for bf16 x), both contiguous."""
    x = x.contiguous()
    spikes, spike_rows, spike_one, spike_zero = _spike_buffer(x, spike_dtype or x.dtype)
    bf16_input = x.dtype == torch.bfloat16
    membrane = torch.empty(x.shape, dtype=torch.float32 if bf16_input else x.dtype)
    cast = _scalar(membrane.dtype)
    scalars = (cast(tau), cast(v_threshold), cast(v_reset), cast(1), cast(0), spike_one, spike_zero,
               bool(soft_reset), bool(decay_input))
    set_threads()
    if bf16_input:
        _forward_bf16_input(_bf16_rows(x), spike_rows, _rows(membrane), *scalars)
    else:
        _forward(_rows(x), spike_rows, _rows(membrane), *scalars)
    return spikes, membrane


def lif_backward(h: torch.Tensor, grad_spikes: torch.Tensor | None, grad_membrane: torch.Tensor | None,
                 tau: float, v_threshold: float, v_reset: float, surrogate: str, alpha: float,
                 soft_reset: bool, detach_reset: bool, decay_input: bool,
                 grad_dtype: torch.dtype | None = None) -> torch.Tensor:
    """dL/dx [T, ...] from the saved H and the output gradients (either may be None), in grad_dtype (None: H's).
    bf16 dL/dS is read as it is, and a bf16 dL/dx written directly (rounded once, as .to(torch.bfloat16) would);
    the carry over T runs in H's dtype either way."""
    grad_dtype = grad_dtype or h.dtype
    cast = _scalar(h.dtype)
    consts = np.array([alpha, 1.0, 0.0, math.pi / 2.0 * alpha, alpha / 2.0, 0.5 / alpha], dtype=cast)
    given = lambda t: _rows(h if t is None else t.contiguous())  # noqa: E731  (h: an unread stand-in)
    scalars = (cast(v_threshold), cast(v_reset), cast(1.0 - 1.0 / tau), cast(1.0 / tau if decay_input else 1.0),
               SURROGATE_CODES[surrogate], bool(soft_reset), bool(detach_reset), grad_spikes is not None,
               grad_membrane is not None)
    set_threads()
    bf16_spikes = grad_spikes is not None and grad_spikes.dtype == torch.bfloat16
    if (h.dtype == torch.float32 and grad_dtype in (torch.float32, torch.bfloat16)
            and (bf16_spikes or (grad_spikes is None and grad_dtype == torch.bfloat16))):
        grad = torch.empty(h.shape, dtype=grad_dtype)
        unused = np.zeros((1, 1), dtype=np.float32), np.zeros((1, 1), dtype=np.uint16)
        _backward_bf16(_rows(h), _bf16_rows(grad_spikes) if grad_spikes is not None else unused[1],
                       given(grad_membrane),
                       _rows(grad) if grad_dtype == torch.float32 else unused[0],
                       _bf16_rows(grad) if grad_dtype == torch.bfloat16 else unused[1], consts, *scalars,
                       grad_dtype == torch.bfloat16)
        return grad
    if grad_spikes is not None and grad_spikes.dtype != h.dtype:
        grad_spikes = grad_spikes.to(h.dtype)
    grad = torch.empty_like(h)
    _backward(_rows(h), given(grad_spikes), given(grad_membrane), _rows(grad), consts, *scalars,
              h.dtype == torch.float32)
    return grad.to(grad_dtype)
