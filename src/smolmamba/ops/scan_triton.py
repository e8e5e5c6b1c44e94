"""Fused selective scan in Triton: bias, softplus, alignment gaps, D skip and z gate in one kernel.

Letters as in ops/scan.py: u, delta, z: [B, D, L]; A: [D, N]; B, C: [B, N, L]; D, delta_bias: [D];
positions: [B, L]. Same math as selective_scan_ref, with the pruning gaps in scan_inputs' form
(dt = delta + g * delta0, x = delta * u). The kernels are in scan_triton_kernels.py; the forward
keeps only the state at each chunk end ([B, D, L / chunk, N]), the backward recomputes the rest.
bf16/fp16 inputs are computed in float32, float64 in float64. Runs on CUDA tensors, or on CPU
tensors under Triton's interpreter (see triton_runtime.py). Reached as selective_scan(impl='triton').
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton

from . import scan_triton_kernels as kernels
from .alignment import position_gaps

__all__ = ["CHUNK", "LAUNCH", "selective_scan_triton"]

CHUNK = 32  # steps per chunk (BL), rounded down to the sequence length's power of 2
# per pass: (channels per program BD, largest BD * BN * BL tile, warps). Chosen from ptxas' register
# counts for sm_90 at N=16 (forward 102, backward 239, no spills), not yet from GPU timings.
LAUNCH = {"fwd": (8, 4096, 8), "bwd": (4, 2048, 4)}


class Tiles(NamedTuple):
    """Block sizes, powers of 2: states BN, steps per chunk BL, channels per program of each pass."""

    bn: int
    bl: int
    bd_fwd: int
    bd_bwd: int


def _tiles(D: int, N: int, L: int, chunk: int | None, block_d: int | None) -> Tiles:
    bn = triton.next_power_of_2(N)
    bl = min(triton.next_power_of_2(chunk or CHUNK), triton.next_power_of_2(L))

    def bd(name):
        most, tile, _ = LAUNCH[name]
        return min(triton.next_power_of_2(block_d or max(1, min(most, tile // (bn * bl)))), triton.next_power_of_2(D))
    return Tiles(bn, bl, bd("fwd"), bd("bwd"))


def _acc(dtype: torch.dtype):
    return triton.language.float64 if dtype == torch.float64 else triton.language.float32


class _TritonScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, gaps, softplus: bool, tiles: Tiles):
        u, delta, A, B, C = (t.contiguous() for t in (u, delta, A, B, C))
        D, z, delta_bias = (None if t is None else t.contiguous() for t in (D, z, delta_bias))
        Bsz, Dm, L = u.shape
        N = A.shape[1]
        bd, bn, bl = tiles.bd_fwd, tiles.bn, tiles.bl
        n_chunks, n_dblk = triton.cdiv(L, bl), triton.cdiv(Dm, bd)
        out = torch.empty_like(u)
        hs = torch.empty(Bsz, Dm, n_chunks, N, dtype=torch.float64 if u.dtype == torch.float64 else torch.float32,
                         device=u.device)
        kernels.scan_fwd_kernel[(Bsz * n_dblk,)](
            u, delta, A, B, C, D, z, delta_bias, gaps, out, hs, Dm, N, L, n_chunks, n_dblk,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, HAS_GAPS=gaps is not None,
            SOFTPLUS=softplus, ACC=_acc(u.dtype), BD=bd, BN=bn, BL=bl, num_warps=LAUNCH["fwd"][2])
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, gaps, hs)
        ctx.softplus, ctx.tiles = softplus, tiles
        ctx.set_materialize_grads(False)
        return out, hs[:, :, -1].to(u.dtype, copy=True)

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, gaps, hs = ctx.saved_tensors
        Bsz, Dm, L = u.shape
        N = A.shape[1]
        bd, bn, bl = ctx.tiles.bd_bwd, ctx.tiles.bn, ctx.tiles.bl
        n_chunks, n_dblk = triton.cdiv(L, bl), triton.cdiv(Dm, bd)
        dout = torch.zeros_like(u) if dout is None else dout.contiguous()
        dlast = None if dlast is None else dlast.contiguous()
        du, ddelta = torch.empty_like(u), torch.empty_like(u)
        dz = None if z is None else torch.empty_like(u)
        part = dict(dtype=hs.dtype, device=u.device)
        dBp, dCp = torch.empty(n_dblk, Bsz, N, L, **part), torch.empty(n_dblk, Bsz, N, L, **part)
        dAp = torch.empty(Bsz, Dm, N, **part)
        dDp = None if D is None else torch.empty(Bsz, Dm, **part)
        dbp = None if delta_bias is None else torch.empty(Bsz, Dm, **part)
        kernels.scan_bwd_kernel[(Bsz * n_dblk,)](
            u, delta, A, B, C, D, z, delta_bias, gaps, hs, dout, dlast, du, ddelta, dz, dBp, dCp, dAp, dDp, dbp,
            Dm, N, L, n_chunks, n_dblk, Bsz,
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, HAS_GAPS=gaps is not None,
            HAS_DLAST=dlast is not None, SOFTPLUS=ctx.softplus, ACC=_acc(u.dtype), BD=bd, BN=bn, BL=bl,
            num_warps=LAUNCH["bwd"][2])
        to = lambda t: None if t is None else t.sum(0).to(u.dtype)  # noqa: E731
        return du, ddelta, to(dAp), to(dBp), to(dCp), to(dDp), dz, to(dbp), None, None, None


def selective_scan_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True,
                          positions=None, return_last_state=False, chunk=None, block_d=None):
    """y [B, D, L] (and the last state [B, D, N]); inputs as selective_scan's, already validated.

    chunk: steps per chunk (default CHUNK); block_d: channels per program (default from LAUNCH).
    """
    gaps = None if positions is None else position_gaps(positions).contiguous()
    tiles = _tiles(u.shape[1], A.shape[1], u.shape[2], chunk, block_d)
    y, last = _TritonScan.apply(u, delta, A, B, C, D, z, delta_bias, gaps, bool(delta_softplus), tiles)
    return (y, last) if return_last_state else y
