"""Surrogate gradients of the spike (Heaviside) function, by name: d/dx of a smooth step.

Each `*_grad(x, alpha)` stands in for dHeaviside/dx at x = H - V_th; SURROGATES maps a name to the
function and its default sharpness alpha. Shared by neurons.py and the fused kernels (ops/).
"""

import math
from typing import Callable, NamedTuple

import torch
from torch import Tensor

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


def resolve_surrogate(surrogate: str, alpha: float | None) -> tuple[Callable, float]:
    """Name and optional alpha -> (grad function, alpha); raises ValueError on bad values."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate={surrogate!r} is unknown; use one of {sorted(SURROGATES)}")
    grad, default = SURROGATES[surrogate]
    alpha = default if alpha is None else float(alpha)
    if not alpha > 0:
        raise ValueError(f"alpha={alpha} must be > 0 (or None for the default {default})")
    return grad, alpha
