"""Fused multi-step LIF in Triton: one kernel over T forward, one backward through time.

x, spikes, membrane H: [T, ...], time first. Same semantics as neurons.lif_ref (every surrogate by
name, alpha, hard/soft reset, v_reset, detach_reset, decay_input); saves only H for the backward.
bf16/fp16 inputs are carried in float32 (H and spikes are stored in the input dtype), float64 in
float64. Runs on CUDA tensors, or on CPU tensors under Triton's interpreter (triton_runtime.py).
Imports without Triton: is_available() is then False. Kernels are in lif_triton_kernels.py.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from smolmamba.surrogates import SURROGATES

from . import triton_runtime

__all__ = ["BLOCK", "is_available", "lif_triton"]

BLOCK = 1024  # elements of M per program
_CODES = {"sigmoid": 0, "atan": 1, "arctan": 1, "rect": 2, "triangle": 3}  # the kernels' SURROGATE


def is_available(tensor: Tensor) -> bool:
    """True if the compiled kernel runs on `tensor`: a CUDA tensor, Triton imports, interpreter off."""
    return triton_runtime.compiled_available(tensor)


def _launch_args(x: Tensor, tau, v_threshold, v_reset, alpha):
    """-> (prm, ACC, BLOCK, grid) of an [T, M] input."""
    import triton

    f64 = x.dtype == torch.float64
    prm = torch.tensor([tau, v_threshold, v_reset, alpha, math.pi / 2.0 * alpha],
                       dtype=torch.float64 if f64 else torch.float32, device=x.device)
    block = min(BLOCK, triton.next_power_of_2(max(1, x.shape[1])))
    return prm, triton.language.float64 if f64 else triton.language.float32, block, (max(1, triton.cdiv(x.shape[1], block)),)


class _LIFTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, tau, v_threshold, v_reset, code, alpha, soft_reset, detach_reset, decay_input):
        from . import lif_triton_kernels as kernels

        xf = x.contiguous().view(x.shape[0], math.prod(x.shape[1:]))  # (T, M)
        prm, acc, block, grid = _launch_args(xf, tau, v_threshold, v_reset, alpha)
        spikes, membrane = torch.empty_like(xf), torch.empty_like(xf)
        kernels.lif_fwd_kernel[grid](xf, spikes, membrane, prm, xf.shape[0], xf.shape[1],
                                     SOFT_RESET=soft_reset, DECAY_INPUT=decay_input, ACC=acc, BLOCK=block)
        ctx.save_for_backward(membrane, prm)
        ctx.args = (code, soft_reset, detach_reset, decay_input, acc, block, grid, x.shape)
        ctx.set_materialize_grads(False)
        return spikes.view(x.shape), membrane.view(x.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes, grad_membrane):
        from . import lif_triton_kernels as kernels

        membrane, prm = ctx.saved_tensors
        code, soft_reset, detach_reset, decay_input, acc, block, grid, shape = ctx.args
        if grad_spikes is None and grad_membrane is None:
            return (None,) * 9
        flat = lambda g: None if g is None else g.contiguous().view(membrane.shape)  # noqa: E731
        dx = torch.empty_like(membrane)
        kernels.lif_bwd_kernel[grid](membrane, flat(grad_spikes), flat(grad_membrane), dx, prm, *membrane.shape,
                                     HAS_GS=grad_spikes is not None, HAS_GH=grad_membrane is not None,
                                     SURROGATE=code, SOFT_RESET=soft_reset, DETACH_RESET=detach_reset,
                                     DECAY_INPUT=decay_input, ACC=acc, BLOCK=block)
        return dx.view(shape), None, None, None, None, None, None, None, None


def _check(x, tau, v_threshold, v_reset, surrogate, alpha) -> float:
    """Raise ValueError naming the bad argument; -> alpha (the surrogate's default if None)."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"lif_triton: x must be a floating-point tensor, got {got}; cast with x.float()")
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"lif_triton: x must be [T, ...] with T >= 1 time steps, got shape {tuple(x.shape)}")
    if surrogate not in _CODES:
        raise ValueError(f"lif_triton: surrogate={surrogate!r} is unknown; use one of {sorted(_CODES)}")
    alpha = SURROGATES[surrogate].alpha if alpha is None else float(alpha)
    if not alpha > 0:
        raise ValueError(f"lif_triton: alpha={alpha} must be > 0 (or None for the surrogate's default)")
    if not tau > 0:
        raise ValueError(f"lif_triton: tau={tau} must be > 0")
    if not v_threshold > v_reset:
        raise ValueError(f"lif_triton: v_threshold={v_threshold} must be > v_reset={v_reset}")
    triton_runtime.check_runnable("lif_triton", x, "neurons.lif")
    return alpha


def lif_triton(x: Tensor, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
               surrogate: str = "sigmoid", alpha: float | None = None, soft_reset: bool = False,
               detach_reset: bool = False, decay_input: bool = True) -> tuple[Tensor, Tensor]:
    """x [T, ...] -> (spikes [T, ...], pre-reset membrane H [T, ...]); math of neurons.lif_ref."""
    alpha = _check(x, tau, v_threshold, v_reset, surrogate, alpha)
    return _LIFTriton.apply(x, float(tau), float(v_threshold), float(v_reset), _CODES[surrogate], alpha,
                            bool(soft_reset), bool(detach_reset), bool(decay_input))
