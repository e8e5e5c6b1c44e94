"""Triton kernels of the fused selective scan; ops/scan_triton.py launches them. Letters as in ops/scan.py.

One program owns batch row b and BD channels, keeps the state [BD, BN] and walks L in chunks of
BL steps. In a chunk the recurrence h_t = a_t h_{t-1} + b_t (a = exp(dt*A), b = x*B) is one
associative scan of the pairs (a, b) over a [BD, BN, BL] tile; padded channels, states and steps
are identity pairs (a = 1, b = 0). Forward stores the state at the end of every chunk. Backward
walks the chunks in reverse, recomputes a chunk's states from the stored one before it and runs the
adjoint g_t = a_{t+1} g_{t+1} + dy_t C_t as a reverse scan of the same pairs. Sums over channels
(dB, dC) and over the batch (dA, dD, d delta_bias) leave as per-program partials, summed by torch.
ACC is float64 for float64 inputs, else float32.
"""

import triton
import triton.language as tl


@triton.jit
def _combine(a1, b1, a2, b2):
    """h -> a1 h + b1, then h -> a2 h + b2."""
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _bias(bias_ptr, d, dmask, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr):
    """-> (delta_bias [BD] (0 without one), delta0 [BD]: the decay step of a pruned token)."""
    bias = tl.zeros(d.shape, dtype=ACC)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + d, mask=dmask, other=0.0).to(ACC)
    d0 = bias
    if SOFTPLUS:  # softplus(0) = log 2 without a bias, as in scan_inputs
        d0 = tl.where(bias > 20.0, bias, tl.log(1.0 + tl.exp(tl.minimum(bias, 20.0))))
    return bias, d0


@triton.jit
def _decay_step(delta_ptr, gap_ptr, row, grow, t, m2, tm, bias, d0,
                HAS_GAPS: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr):
    """-> (p = delta + bias, s = softplus(p) or p, dt = s + gap * delta0), each [BD, BL]."""
    p = tl.load(delta_ptr + row + t[None, :], mask=m2, other=0.0).to(ACC) + bias[:, None]
    s = p
    if SOFTPLUS:
        s = tl.where(p > 20.0, p, tl.log(1.0 + tl.exp(tl.minimum(p, 20.0))))
    dt = s
    if HAS_GAPS:
        gap = tl.load(gap_ptr + grow + t, mask=tm, other=0).to(ACC)
        dt = s + gap[None, :] * d0[:, None]
    return p, s, dt


@triton.jit
def _pairs(dt, x, A, Bt, tm):
    """-> (a = exp(dt*A), b = x*B), each [BD, BN, BL]; a = 1 on steps past L (x is 0 there)."""
    a = tl.exp(dt[:, None, :] * A[:, :, None])
    return tl.where(tm[None, None, :], a, 1.0), x[:, None, :] * Bt[None, :, :]


@triton.jit
def _states(a, b, h0):
    """States h_t [BD, BN, BL] of the chunk from the state before it, h0 [BD, BN]."""
    acum, hpart = tl.associative_scan((a, b), 2, _combine)
    return acum * h0[:, :, None] + hpart


@triton.jit
def _column(x, j, col: tl.constexpr):
    """x[:, :, col] of a [BD, BN, BL] tile, [BD, BN]."""
    return tl.sum(tl.where(j[None, None, :] == col, x, 0.0), axis=2)


@triton.jit
def scan_fwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, gap_ptr, out_ptr, hs_ptr,
                    DIM, N, L, n_chunks, n_dblk,
                    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_GAPS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, ACC: tl.constexpr, BD: tl.constexpr, BN: tl.constexpr,
                    BL: tl.constexpr):
    """out [B, D, L] = gated scan output; hs [B, D, n_chunks, N] = state at the end of each chunk."""
    b = (tl.program_id(0) // n_dblk).to(tl.int64)
    d = (tl.program_id(0) % n_dblk) * BD + tl.arange(0, BD)
    n, j = tl.arange(0, BN), tl.arange(0, BL)
    dmask, nmask = d < DIM, n < N
    smask = dmask[:, None] & nmask[None, :]
    A = tl.load(A_ptr + d[:, None] * N + n[None, :], mask=smask, other=0.0).to(ACC)  # (BD, BN)
    bias, d0 = _bias(bias_ptr, d, dmask, HAS_BIAS, SOFTPLUS, ACC)
    if HAS_D:
        Dv = tl.load(D_ptr + d, mask=dmask, other=0.0).to(ACC)
    row = b * DIM * L + d[:, None] * L  # (BD, 1) into u, delta, z, out
    brow = b * N * L + n[:, None] * L  # (BN, 1) into B, C
    srow = (b * DIM + d[:, None]) * n_chunks * N + n[None, :]  # (BD, BN) into hs
    h = tl.zeros([BD, BN], dtype=ACC)
    for k in range(n_chunks):
        t = k * BL + j
        tm = t < L
        m2, mb = dmask[:, None] & tm[None, :], nmask[:, None] & tm[None, :]
        u = tl.load(u_ptr + row + t[None, :], mask=m2, other=0.0).to(ACC)  # (BD, BL)
        p, s, dt = _decay_step(delta_ptr, gap_ptr, row, b * L, t, m2, tm, bias, d0, HAS_GAPS, SOFTPLUS, ACC)
        Bt = tl.load(B_ptr + brow + t[None, :], mask=mb, other=0.0).to(ACC)  # (BN, BL)
        Ct = tl.load(C_ptr + brow + t[None, :], mask=mb, other=0.0).to(ACC)
        a, bx = _pairs(dt, s * u, A, Bt, tm)
        hs = _states(a, bx, h)  # (BD, BN, BL)
        y = tl.sum(hs * Ct[None, :, :], axis=1)  # (BD, BL)
        if HAS_D:
            y += Dv[:, None] * u
        if HAS_Z:
            z = tl.load(z_ptr + row + t[None, :], mask=m2, other=0.0).to(ACC)
            y = y * z * _sigmoid(z)
        tl.store(out_ptr + row + t[None, :], y, mask=m2)
        h = _column(hs, j, BL - 1)
        tl.store(hs_ptr + srow + k * N, h, mask=smask)


@triton.jit
def scan_bwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, gap_ptr, hs_ptr,
                    dout_ptr, dlast_ptr, du_ptr, ddelta_ptr, dz_ptr, dBp_ptr, dCp_ptr, dAp_ptr, dDp_ptr, dbp_ptr,
                    DIM, N, L, n_chunks, n_dblk, BATCH,
                    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_GAPS: tl.constexpr,
                    HAS_DLAST: tl.constexpr, SOFTPLUS: tl.constexpr, ACC: tl.constexpr, BD: tl.constexpr,
                    BN: tl.constexpr, BL: tl.constexpr):
    """du, ddelta, dz [B, D, L]; partials dB, dC [n_dblk, B, N, L], dA [B, D, N], dD, d delta_bias [B, D]."""
    b = (tl.program_id(0) // n_dblk).to(tl.int64)
    dblk = tl.program_id(0) % n_dblk
    d = dblk * BD + tl.arange(0, BD)
    n, j = tl.arange(0, BN), tl.arange(0, BL)
    dmask, nmask = d < DIM, n < N
    smask = dmask[:, None] & nmask[None, :]
    A = tl.load(A_ptr + d[:, None] * N + n[None, :], mask=smask, other=0.0).to(ACC)
    bias, d0 = _bias(bias_ptr, d, dmask, HAS_BIAS, SOFTPLUS, ACC)
    if HAS_D:
        Dv = tl.load(D_ptr + d, mask=dmask, other=0.0).to(ACC)
    row = b * DIM * L + d[:, None] * L
    brow = b * N * L + n[:, None] * L
    prow = (dblk.to(tl.int64) * BATCH + b) * N * L + n[:, None] * L  # (BN, 1) into the dB, dC partials
    srow = (b * DIM + d[:, None]) * n_chunks * N + n[None, :]
    carry = tl.zeros([BD, BN], dtype=ACC)  # adjoint at the first step of the chunk after this one
    if HAS_DLAST:
        carry = tl.load(dlast_ptr + (b * DIM + d[:, None]) * N + n[None, :], mask=smask, other=0.0).to(ACC)
    dA = tl.zeros([BD, BN], dtype=ACC)
    dDv = tl.zeros([BD], dtype=ACC)
    dbias = tl.zeros([BD], dtype=ACC)
    dd0 = tl.zeros([BD], dtype=ACC)  # sum of ddt * gap: d loss / d delta0
    for kk in range(n_chunks):
        k = n_chunks - 1 - kk
        t = k * BL + j
        tm, tn = t < L, t + 1 < L
        m2, mb = dmask[:, None] & tm[None, :], nmask[:, None] & tm[None, :]
        u = tl.load(u_ptr + row + t[None, :], mask=m2, other=0.0).to(ACC)
        p, s, dt = _decay_step(delta_ptr, gap_ptr, row, b * L, t, m2, tm, bias, d0, HAS_GAPS, SOFTPLUS, ACC)
        _, _, dt_next = _decay_step(delta_ptr, gap_ptr, row, b * L, t + 1, dmask[:, None] & tn[None, :], tn,
                                    bias, d0, HAS_GAPS, SOFTPLUS, ACC)
        Bt = tl.load(B_ptr + brow + t[None, :], mask=mb, other=0.0).to(ACC)
        Ct = tl.load(C_ptr + brow + t[None, :], mask=mb, other=0.0).to(ACC)
        x = s * u
        a, bx = _pairs(dt, x, A, Bt, tm)
        a_next = tl.where(tn[None, None, :], tl.exp(dt_next[:, None, :] * A[:, :, None]), 1.0)  # a_{t+1}
        h0 = tl.load(hs_ptr + srow + (k - 1) * N, mask=smask & (k > 0), other=0.0).to(ACC)
        hs = _states(a, bx, h0)
        dy = tl.load(dout_ptr + row + t[None, :], mask=m2, other=0.0).to(ACC)
        if HAS_Z:  # out = y * silu(z)
            z = tl.load(z_ptr + row + t[None, :], mask=m2, other=0.0).to(ACC)
            sz = _sigmoid(z)
            y = tl.sum(hs * Ct[None, :, :], axis=1)
            if HAS_D:
                y += Dv[:, None] * u
            tl.store(dz_ptr + row + t[None, :], dy * y * sz * (1.0 + z * (1.0 - sz)), mask=m2)
            dy = dy * z * sz
        c = dy[:, None, :] * Ct[None, :, :]  # (BD, BN, BL)
        pn, gpart = tl.associative_scan((a_next, c), 2, _combine, reverse=True)
        g = pn * carry[:, :, None] + gpart  # adjoint d loss / d h_t
        carry = _column(g, j, 0)
        tl.store(dCp_ptr + prow + t[None, :], tl.sum(dy[:, None, :] * hs, axis=0), mask=mb)
        tl.store(dBp_ptr + prow + t[None, :], tl.sum(x[:, None, :] * g, axis=0), mask=mb)
        dx = tl.sum(Bt[None, :, :] * g, axis=1)  # (BD, BL)
        q = tl.where(tm[None, None, :], g * (hs - bx), 0.0)  # d loss / d(dt*A); hs - bx = a_t h_{t-1}
        ddt = tl.sum(A[:, :, None] * q, axis=1)
        dA += tl.sum(dt[:, None, :] * q, axis=2)
        ds = ddt + dx * u
        if SOFTPLUS:
            ds = tl.where(p > 20.0, ds, ds * _sigmoid(p))
        tl.store(ddelta_ptr + row + t[None, :], ds, mask=m2)
        du = dx * s
        if HAS_D:
            du += dy * Dv[:, None]
            dDv += tl.sum(dy * u, axis=1)
        tl.store(du_ptr + row + t[None, :], du, mask=m2)
        dbias += tl.sum(ds, axis=1)
        if HAS_GAPS:
            gap = tl.load(gap_ptr + b * L + t, mask=tm, other=0).to(ACC)
            dd0 += tl.sum(ddt * gap[None, :], axis=1)
    tl.store(dAp_ptr + (b * DIM + d[:, None]) * N + n[None, :], dA, mask=smask)
    if HAS_D:
        tl.store(dDp_ptr + b * DIM + d, dDv, mask=dmask)
    if HAS_BIAS:
        if SOFTPLUS:
            dd0 = tl.where(bias > 20.0, dd0, dd0 * _sigmoid(bias))
        tl.store(dbp_ptr + b * DIM + d, dbias + dd0, mask=dmask)
