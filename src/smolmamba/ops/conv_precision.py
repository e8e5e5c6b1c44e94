"""A bias-free, stride-1 2-D convolution whose precision under torch.autocast is chosen (precision.Levers.convs).

  low      all in autocast's dtype (autocast's own rule; the default)
  float32  autocast off for the convolution
  split    forward and input gradient in autocast's dtype, weight gradient in float32: beside another busy
           process oneDNN's bf16 weight gradient waits in 4 ms steps (docs/PERFORMANCE.md); on a quiet machine it
           is slower than "low"
Without autocast every mode is F.conv2d. Shapes: x [B, C, H, W], weight [O, C, k, k] -> [B, O, H, W] (padding k // 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from smolmamba.precision import autocast_dtype


class _SplitPrecisionConv(torch.autograd.Function):
    """Forward and input gradient in `low`, weight gradient in float32 from the same saved low-precision input."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, padding: int, low: torch.dtype) -> Tensor:
        x_low, w_low = x.to(low), weight.to(low)
        ctx.save_for_backward(x_low, w_low)
        ctx.padding, ctx.x_dtype, ctx.w_dtype = padding, x.dtype, weight.dtype
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(x_low, w_low, padding=padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        x_low, w_low = ctx.saved_tensors
        stride, pad, dilation = [1, 1], [ctx.padding] * 2, [1, 1]
        conv_backward = torch.ops.aten.convolution_backward
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = conv_backward(grad_out.to(x_low.dtype), x_low, w_low, None, stride, pad, dilation, False, [0, 0],
                                   1, [True, False, False])[0].to(ctx.x_dtype)
        if ctx.needs_input_grad[1]:
            grad_w = conv_backward(grad_out.float(), x_low.float(), w_low.float(), None, stride, pad, dilation, False,
                                   [0, 0], 1, [False, True, False])[1].to(ctx.w_dtype)
        return grad_x, grad_w, None, None


def conv2d(x: Tensor, weight: Tensor, mode: str = "low") -> Tensor:
    """x [B, C, H, W] * weight [O, C, k, k], stride 1, padding k // 2 -> [B, O, H, W]; under autocast in `mode`."""
    padding = weight.shape[-1] // 2
    low = autocast_dtype(x.device.type)
    if low is None or mode == "low":
        return F.conv2d(x, weight, padding=padding)
    if mode == "float32":
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(x.float(), weight.float(), padding=padding)
    return _SplitPrecisionConv.apply(x, weight, padding, low)
