"""Leaky integrate-and-fire (LIF) neurons with surrogate gradients.

Shapes: x, spikes and membrane are [T, ...], time first (inside the model [T, B, N, D]).
Each call starts at V_reset: there is no hidden state and nothing to reset.

One step (k = 1 - 1/tau):
    decay_input=True:  H_t = V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau
    decay_input=False: H_t = V_{t-1} - (V_{t-1} - V_reset) / tau + X_t
    S_t = Heaviside(H_t - V_th)            backward: surrogate derivative
    hard reset: V_t = H_t * (1 - S_t) + V_reset * S_t
    soft reset: V_t = H_t - S_t * V_th
`lif_ref` runs the loop under autograd; `lif` runs it without a graph and backpropagates
through time by hand, saving only H, with a fused kernel (numba on CPU, ops/lif_cpu.py; Triton on
CUDA, ops/lif_triton.py) or plain torch ops (ops/lif_torch.py); ops/backend.py picks (`lif_kernel` says which).
Surrogate gradients are in surrogates.py.
"""

from typing import Callable

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from smolmamba.ops import backend, lif_cpu, lif_torch
from smolmamba.precision import autocast_dtype, float32_if_low
from smolmamba.surrogates import SURROGATES, resolve_surrogate

__all__ = ["KERNELS", "LIF", "SURROGATES", "heaviside_surrogate", "lif", "lif_kernel", "lif_ref"]


def _spike(u: Tensor) -> Tensor:
    return (u >= 0).to(u.dtype)


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, grad_fn: Callable, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.grad_fn, ctx.alpha = grad_fn, alpha
        return _spike(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.grad_fn(x, ctx.alpha), None, None


def heaviside_surrogate(x: Tensor, surrogate: str = "sigmoid", alpha: float | None = None) -> Tensor:
    """(x >= 0) in x's dtype; backward uses the named surrogate derivative. x: any shape."""
    grad_fn, alpha = resolve_surrogate(surrogate, alpha)
    return _Heaviside.apply(x, grad_fn, alpha)


# ---------------------------------------------------------------- LIF


def _check_params(tau: float, v_threshold: float, v_reset: float) -> None:
    if not tau > 0:
        raise ValueError(f"tau={tau} must be > 0 (tau >= 1 is usual: tau < 1 makes 1 - 1/tau negative)")
    if not v_threshold > v_reset:
        raise ValueError(
            f"v_threshold={v_threshold} must be > v_reset={v_reset}, else the neuron fires at rest"
        )


def _check_input(x: Tensor) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor, got {got}; cast with x.float()")
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be [T, ...] with T >= 1 time steps, got shape {tuple(x.shape)}")


def _charge(v: Tensor, x: Tensor, tau: float, v_reset: float, decay_input: bool) -> Tensor:
    """H_t from V_{t-1} and X_t."""
    if decay_input:
        return v + (x - (v - v_reset)) / tau
    return v - (v - v_reset) / tau + x


def _reset(h: Tensor, s: Tensor, v_threshold: float, v_reset: float, soft_reset: bool) -> Tensor:
    """V_t from H_t and S_t."""
    if soft_reset:
        return h - s * v_threshold
    return h * (1.0 - s) + v_reset * s


def lif_ref(
    x: Tensor,
    tau: float = 2.0,
    v_threshold: float = 1.0,
    v_reset: float = 0.0,
    surrogate: str = "sigmoid",
    alpha: float | None = None,
    soft_reset: bool = False,
    detach_reset: bool = False,
    decay_input: bool = True,
    return_membrane: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Reference LIF: loop over T under autograd. x [T, ...] -> spikes [T, ...] (, H [T, ...])."""
    _check_input(x)
    _check_params(tau, v_threshold, v_reset)
    grad_fn, alpha = resolve_surrogate(surrogate, alpha)
    v = torch.full_like(x[0], v_reset)
    spikes, membrane = [], []
    for x_t in x:
        h = _charge(v, x_t, tau, v_reset, decay_input)
        s = _Heaviside.apply(h - v_threshold, grad_fn, alpha)
        v = _reset(h, s.detach() if detach_reset else s, v_threshold, v_reset, soft_reset)
        spikes.append(s)
        membrane.append(h)
    spikes = torch.stack(spikes)
    return (spikes, torch.stack(membrane)) if return_membrane else spikes


KERNELS = backend.OPS["lif"]


def lif_kernel(x: Tensor, surrogate: str = "sigmoid", kernel: str = "auto") -> str:
    """Which kernel `lif(x, surrogate=..., kernel=...)` runs (ops/backend.py, op "lif"): 'triton' (fused,
    CUDA; auto picks it when Triton compiles there), 'numba' (fused, CPU, eager) or 'torch' (any device,
    traceable). bf16/fp16 input is integrated in float32, so the kernel is chosen for float32 then.
    An explicit kernel that cannot run is a ValueError saying why."""
    return backend.resolve("lif", kernel, float32_if_low(x), surrogate)


class _LIFFunction(torch.autograd.Function):
    """Forward without a graph; backward runs BPTT from the saved H alone (either kernel)."""

    @staticmethod
    def forward(ctx, x, kernel, spike_dtype, tau, v_threshold, v_reset, surrogate, alpha, soft_reset, detach_reset,
                decay_input):
        if kernel == "numba":  # writes the spikes in spike_dtype itself
            spikes, membrane = lif_cpu.lif_forward(x, tau, v_threshold, v_reset, soft_reset, decay_input, spike_dtype)
        else:
            spikes, membrane = lif_torch.lif_forward(x, tau, v_threshold, v_reset, soft_reset, decay_input)
            spikes = spikes.to(spike_dtype)
        ctx.save_for_backward(membrane)
        ctx.set_materialize_grads(False)
        ctx.kernel, ctx.input_dtype = kernel, x.dtype
        ctx.args = (tau, v_threshold, v_reset, surrogate, alpha, soft_reset, detach_reset, decay_input)
        return spikes, membrane

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes, grad_membrane):
        (h,) = ctx.saved_tensors
        none = (None,) * 10
        if grad_spikes is None and grad_membrane is None:
            return (None,) + none
        tau, v_threshold, v_reset, surrogate, alpha, soft_reset, detach_reset, decay_input = ctx.args
        if ctx.kernel == "numba":  # reads bf16 dL/dS and writes dL/dx in x's dtype itself
            grad = lif_cpu.lif_backward(h, grad_spikes, grad_membrane, tau, v_threshold, v_reset, surrogate,
                                        alpha, soft_reset, detach_reset, decay_input, ctx.input_dtype)
        else:
            if grad_spikes is not None:  # bf16/fp16 spikes: their gradient joins the float32 BPTT
                grad_spikes = grad_spikes.to(h.dtype)
            grad = lif_torch.lif_backward(h, grad_spikes, grad_membrane, tau, v_threshold, v_reset,
                                          SURROGATES[surrogate].grad, alpha, soft_reset, detach_reset, decay_input)
        return (grad,) + none


def lif(
    x: Tensor,
    tau: float = 2.0,
    v_threshold: float = 1.0,
    v_reset: float = 0.0,
    surrogate: str = "sigmoid",
    alpha: float | None = None,
    soft_reset: bool = False,
    detach_reset: bool = False,
    decay_input: bool = True,
    return_membrane: bool = False,
    kernel: str = "auto",
    autocast_spikes: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Fast LIF, same math as `lif_ref`; saves only H. x [T, ...] -> spikes [T, ...] (, H [T, ...]).
    kernel: 'auto' (the fused kernel of the device where it runs, see lif_kernel), 'numba', 'triton'
    or 'torch'. bf16/fp16 x is integrated in float32 (H float32), its spikes come in x's dtype;
    autocast_spikes: under torch.autocast, spikes come in autocast's dtype instead (exact: 0 and 1)."""
    _check_input(x)
    _check_params(tau, v_threshold, v_reset)
    _, alpha = resolve_surrogate(surrogate, alpha)
    spike_dtype = (autocast_dtype(x.device.type) if autocast_spikes else None) or x.dtype
    which = lif_kernel(x, surrogate, kernel)
    if not (which == "numba" and x.dtype == torch.bfloat16):  # the numba kernel reads bf16 itself
        x = float32_if_low(x)
    if which == "triton":
        from smolmamba.ops.lif_triton import lif_triton

        spikes, membrane = lif_triton(x, tau, v_threshold, v_reset, surrogate, alpha, soft_reset, detach_reset,
                                      decay_input)
        spikes = spikes.to(spike_dtype)
    else:
        spikes, membrane = _LIFFunction.apply(
            x, which, spike_dtype, tau, v_threshold, v_reset, surrogate, alpha, soft_reset, detach_reset,
            decay_input
        )
    return (spikes, membrane) if return_membrane else spikes


_IMPLS = ("fast", "reference")
torch.fx.wrap("lif")  # torch.fx records each call as one node (a leaf): tracing runs no kernel choice
torch.fx.wrap("lif_ref")


class LIF(nn.Module):
    """Multi-step LIF neuron; stateless, every forward starts at v_reset. impl 'fast' (lif, with
    `kernel` and `autocast_spikes` as lif's) or 'reference' (lif_ref). autocast_spikes is a mixed-precision
    lever (precision.Levers.spikes): a plain attribute."""

    autocast_spikes = True

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        surrogate: str = "sigmoid",
        alpha: float | None = None,
        soft_reset: bool = False,
        detach_reset: bool = False,
        decay_input: bool = True,
        impl: str = "fast",
        kernel: str = "auto",
    ):
        super().__init__()
        if impl not in _IMPLS:
            raise ValueError(f"impl={impl!r} is unknown; use one of {sorted(_IMPLS)}")
        backend.check_name("lif", kernel)
        _check_params(tau, v_threshold, v_reset)
        _, alpha = resolve_surrogate(surrogate, alpha)
        self.tau, self.v_threshold, self.v_reset = float(tau), float(v_threshold), float(v_reset)
        self.surrogate, self.alpha = surrogate, alpha
        self.soft_reset, self.detach_reset, self.decay_input = soft_reset, detach_reset, decay_input
        self.impl, self.kernel = impl, kernel

    def forward(self, x: Tensor, return_membrane: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """x [T, ...] -> spikes [T, ...] (, pre-reset membrane H [T, ...])."""
        fn, kernel = ((lif, {"kernel": self.kernel, "autocast_spikes": self.autocast_spikes}) if self.impl == "fast"
                      else (lif_ref, {}))
        return fn(  # looked up by name, so torch.fx's wrap of lif / lif_ref applies
            x,
            tau=self.tau,
            v_threshold=self.v_threshold,
            v_reset=self.v_reset,
            surrogate=self.surrogate,
            alpha=self.alpha,
            soft_reset=self.soft_reset,
            detach_reset=self.detach_reset,
            decay_input=self.decay_input,
            return_membrane=return_membrane,
            **kernel,
        )

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
            f"surrogate={self.surrogate!r}, alpha={self.alpha}, soft_reset={self.soft_reset}, "
            f"detach_reset={self.detach_reset}, decay_input={self.decay_input}, impl={self.impl!r}, "
            f"kernel={self.kernel!r}"
        )
