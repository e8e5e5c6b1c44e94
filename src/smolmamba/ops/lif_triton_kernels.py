"""Triton kernels of the fused multi-step LIF; ops/lif_triton.py launches them.

x, spikes, membrane H: [T, M] (time first, M = everything else), one program per BLOCK of M, the
loop over T inside. prm holds (tau, V_th, V_reset, alpha, pi/2 * alpha) in ACC, the compute dtype
(float64 for float64 inputs, else float32), so no constant is rounded to float32 on the way.
Same operations in the same order as neurons.lif_ref (see neurons.py for the step equations).
SURROGATE: 0 sigmoid, 1 atan, 2 rect, 3 triangle.
"""

import triton
import triton.language as tl


@triton.jit
def lif_fwd_kernel(x_ptr, s_ptr, h_ptr, prm_ptr, T, M,
                   SOFT_RESET: tl.constexpr, DECAY_INPUT: tl.constexpr, ACC: tl.constexpr, BLOCK: tl.constexpr):
    """spikes, H [T, M] from x [T, M]; V starts at V_reset."""
    m = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = m < M
    tau, v_th, v_reset = tl.load(prm_ptr), tl.load(prm_ptr + 1), tl.load(prm_ptr + 2)
    v = tl.zeros([BLOCK], dtype=ACC) + v_reset
    for t in range(T):
        off = m + t * M.to(tl.int64)
        x = tl.load(x_ptr + off, mask=mask, other=0.0).to(ACC)
        if DECAY_INPUT:
            h = v + (x - (v - v_reset)) / tau
        else:
            h = v - (v - v_reset) / tau + x
        s = (h - v_th >= 0.0).to(ACC)
        if SOFT_RESET:
            v = h - s * v_th
        else:
            v = h * (1.0 - s) + v_reset * s
        tl.store(s_ptr + off, s, mask=mask)
        tl.store(h_ptr + off, h, mask=mask)


@triton.jit
def _surrogate(x, alpha, c, SURROGATE: tl.constexpr):
    """The surrogate dHeaviside/dx at x = H - V_th; c = pi/2 * alpha (atan)."""
    if SURROGATE == 0:
        sg = 1.0 / (1.0 + tl.exp(-(alpha * x)))
        g = alpha * sg * (1.0 - sg)
    elif SURROGATE == 1:
        g = (alpha / 2.0) / (1.0 + (c * x) * (c * x))
    elif SURROGATE == 2:
        g = tl.where(tl.abs(x) < 0.5 / alpha, alpha, 0.0)
    else:
        g = alpha * tl.maximum(1.0 - alpha * tl.abs(x), 0.0)
    return g


@triton.jit
def lif_bwd_kernel(h_ptr, gs_ptr, gh_ptr, dx_ptr, prm_ptr, T, M,
                   HAS_GS: tl.constexpr, HAS_GH: tl.constexpr, SURROGATE: tl.constexpr, SOFT_RESET: tl.constexpr,
                   DETACH_RESET: tl.constexpr, DECAY_INPUT: tl.constexpr, ACC: tl.constexpr, BLOCK: tl.constexpr):
    """dx [T, M] from H and the gradients of spikes (gs) and H (gh), backward through time.

    dL/dH_t = gs_t S'(H_t) + gh_t + k dV_t/dH_t dL/dH_{t+1},  k = 1 - 1/tau,  dx_t = dL/dH_t (/ tau).
    """
    m = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = m < M
    tau, v_th, v_reset = tl.load(prm_ptr), tl.load(prm_ptr + 1), tl.load(prm_ptr + 2)
    alpha, c = tl.load(prm_ptr + 3), tl.load(prm_ptr + 4)
    k = 1.0 - 1.0 / tau
    g_next = tl.zeros([BLOCK], dtype=ACC)  # dL/dH_{t+1}
    for i in range(T):
        off = m + (T - 1 - i) * M.to(tl.int64)
        h = tl.load(h_ptr + off, mask=mask, other=0.0).to(ACC)
        ds = _surrogate(h - v_th, alpha, c, SURROGATE)
        g = tl.zeros([BLOCK], dtype=ACC)
        if HAS_GS:
            g += tl.load(gs_ptr + off, mask=mask, other=0.0).to(ACC) * ds
        if HAS_GH:
            g += tl.load(gh_ptr + off, mask=mask, other=0.0).to(ACC)
        if SOFT_RESET:  # V = H - S V_th
            dv_dh = tl.zeros([BLOCK], dtype=ACC) + 1.0
            if not DETACH_RESET:
                dv_dh -= v_th * ds
        else:  # V = H (1 - S) + V_reset S
            dv_dh = 1.0 - (h - v_th >= 0.0).to(ACC)
            if not DETACH_RESET:
                dv_dh += (v_reset - h) * ds
        g += k * dv_dh * g_next
        if DECAY_INPUT:
            tl.store(dx_ptr + off, g / tau, mask=mask)
        else:
            tl.store(dx_ptr + off, g, mask=mask)
        g_next = g
