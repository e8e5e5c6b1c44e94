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
through time by hand, saving only H.
"""

import math
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

# ---------------------------------------------------------------- surrogates


def sigmoid_grad(x: Tensor, alpha: float) -> Tensor:
    """d/dx sigmoid(alpha * x); equals alpha / 4 at 0."""
    sg = torch.sigmoid(alpha * x)
    return alpha * sg * (1.0 - sg)


def atan_grad(x: Tensor, alpha: float) -> Tensor:
    """d/dx (atan(pi/2 * alpha * x) / pi + 1/2); equals alpha / 2 at 0."""
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


def rect_grad(x: Tensor, alpha: float) -> Tensor:
    """Box of height alpha on |x| < 1 / (2 alpha) (unit area)."""
    return alpha * (x.abs() < 0.5 / alpha).to(x.dtype)


def triangle_grad(x: Tensor, alpha: float) -> Tensor:
    """Triangle of height alpha on |x| < 1 / alpha (unit area)."""
    return alpha * torch.relu(1.0 - alpha * x.abs())


class Surrogate(NamedTuple):
    grad: Callable[[Tensor, float], Tensor]  # stands in for dHeaviside/dx
    alpha: float  # default sharpness


SURROGATES: dict[str, Surrogate] = {
    "sigmoid": Surrogate(sigmoid_grad, 4.0),
    "atan": Surrogate(atan_grad, 2.0),
    "arctan": Surrogate(atan_grad, 2.0),
    "rect": Surrogate(rect_grad, 1.0),
    "triangle": Surrogate(triangle_grad, 1.0),
}


def _resolve_surrogate(surrogate: str, alpha: float | None) -> tuple[Callable, float]:
    """Name and optional alpha -> (grad function, alpha); raises ValueError on bad values."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate={surrogate!r} is unknown; use one of {sorted(SURROGATES)}")
    grad, default = SURROGATES[surrogate]
    alpha = default if alpha is None else float(alpha)
    if not alpha > 0:
        raise ValueError(f"alpha={alpha} must be > 0 (or None for the default {default})")
    return grad, alpha


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
    grad_fn, alpha = _resolve_surrogate(surrogate, alpha)
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
    grad_fn, alpha = _resolve_surrogate(surrogate, alpha)
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


def _lif_steps(x, tau, v_threshold, v_reset, soft_reset, decay_input):
    """-> (spikes, H), both like x. The same operations as `_charge`/`_spike`/`_reset` in the same
    order (bitwise equal to lif_ref), written in place into preallocated buffers: 5-6 passes per
    step instead of ~13, and no allocation inside the loop. (h >= v_th) equals (h - v_th >= 0)."""
    spikes, membrane = torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(
        x, memory_format=torch.contiguous_format)
    v = torch.full_like(membrane[0], v_reset)
    leak = torch.empty_like(v) if (v_reset != 0.0 or not decay_input) else None
    keep = None if soft_reset else torch.empty_like(v)
    for t in range(x.shape[0]):
        h, s = membrane[t], spikes[t]
        if decay_input:  # H = V + (X - (V - V_reset)) / tau
            torch.sub(x[t], v if leak is None else torch.sub(v, v_reset, out=leak), out=h)
            h.div_(tau).add_(v)
        else:  # H = V - (V - V_reset) / tau + X
            torch.sub(v, torch.sub(v, v_reset, out=leak).div_(tau), out=h)
            h.add_(x[t])
        torch.ge(h, v_threshold, out=s)
        if soft_reset:  # V = H - S * V_th
            torch.sub(h, s, alpha=v_threshold, out=v)
        else:  # V = H * (1 - S) + V_reset * S
            torch.mul(h, torch.lt(h, v_threshold, out=keep), out=v)
            if v_reset != 0.0:
                v.add_(s, alpha=v_reset)
    return spikes, membrane


def _reset_factor(h, ds_dh, v_threshold, v_reset, soft_reset, detach_reset):
    """dV_t/dH_t for every step at once ([T, ...], or a float); the path through S_t only when not
    detached: soft 1 - V_th S'(H), hard (1 - S) + (V_reset - H) S'(H)."""
    if soft_reset:
        return 1.0 if detach_reset else (ds_dh * -v_threshold).add_(1.0)
    keep = (h < v_threshold).to(h.dtype)
    return keep if detach_reset else keep.addcmul_(h.neg().add_(v_reset), ds_dh)


class _LIFFunction(torch.autograd.Function):
    """Forward loops over T without a graph; backward runs BPTT from the saved H alone."""

    @staticmethod
    def forward(ctx, x, tau, v_threshold, v_reset, grad_fn, alpha, soft_reset, detach_reset, decay_input):
        spikes, membrane = _lif_steps(x, tau, v_threshold, v_reset, soft_reset, decay_input)
        ctx.save_for_backward(membrane)
        ctx.set_materialize_grads(False)
        ctx.args = (tau, v_threshold, v_reset, grad_fn, alpha, soft_reset, detach_reset, decay_input)
        return spikes, membrane

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes, grad_membrane):
        """dL/dH_t = dL/dS_t S'(H_t) + dL/dH_t (membrane output) + k dL/dH_{t+1} dV_t/dH_t, k = 1 - 1/tau;
        the surrogate and dV/dH are computed for all steps at once, only the carry runs over T."""
        (h,) = ctx.saved_tensors
        tau, v_threshold, v_reset, grad_fn, alpha, soft_reset, detach_reset, decay_input = ctx.args
        if grad_spikes is None and grad_membrane is None:
            return (None,) * 9
        ds_dh = grad_fn(h - v_threshold, alpha)  # (T, ...)
        grad_h = torch.zeros_like(h) if grad_spikes is None else grad_spikes * ds_dh
        if grad_membrane is not None:
            grad_h.add_(grad_membrane)
        if h.shape[0] > 1:
            factor = _reset_factor(h, ds_dh, v_threshold, v_reset, soft_reset, detach_reset)
            k = 1.0 - 1.0 / tau  # dH_t/dV_{t-1}
            for t in range(h.shape[0] - 2, -1, -1):
                if isinstance(factor, float):
                    grad_h[t].add_(grad_h[t + 1], alpha=k * factor)
                else:
                    grad_h[t].addcmul_(grad_h[t + 1], factor[t], value=k)
        return (grad_h.div_(tau) if decay_input else grad_h), None, None, None, None, None, None, None, None


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
) -> Tensor | tuple[Tensor, Tensor]:
    """Fast LIF, same math as `lif_ref`; saves only H. x [T, ...] -> spikes [T, ...] (, H [T, ...])."""
    _check_input(x)
    _check_params(tau, v_threshold, v_reset)
    grad_fn, alpha = _resolve_surrogate(surrogate, alpha)
    spikes, membrane = _LIFFunction.apply(
        x, tau, v_threshold, v_reset, grad_fn, alpha, soft_reset, detach_reset, decay_input
    )
    return (spikes, membrane) if return_membrane else spikes


_IMPLS = {"fast": lif, "reference": lif_ref}


class LIF(nn.Module):
    """Multi-step LIF neuron; stateless, every forward starts at v_reset."""

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
    ):
        super().__init__()
        if impl not in _IMPLS:
            raise ValueError(f"impl={impl!r} is unknown; use one of {sorted(_IMPLS)}")
        _check_params(tau, v_threshold, v_reset)
        _, alpha = _resolve_surrogate(surrogate, alpha)
        self.tau, self.v_threshold, self.v_reset = float(tau), float(v_threshold), float(v_reset)
        self.surrogate, self.alpha = surrogate, alpha
        self.soft_reset, self.detach_reset, self.decay_input = soft_reset, detach_reset, decay_input
        self.impl = impl

    def forward(self, x: Tensor, return_membrane: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """x [T, ...] -> spikes [T, ...] (, pre-reset membrane H [T, ...])."""
        return _IMPLS[self.impl](
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
        )

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
            f"surrogate={self.surrogate!r}, alpha={self.alpha}, soft_reset={self.soft_reset}, "
            f"detach_reset={self.detach_reset}, decay_input={self.decay_input}, impl={self.impl!r}"
        )
