"""2-D max pooling with nn.MaxPool2d's values and gradients, faster on CPU.

On CPU, torch's max_pool2d is slow for contiguous (NCHW) input: 13 ms forward for [128, 64, 16, 16] (kernel 3,
stride 2, padding 1) against 0.9 ms for the same tensor in channels-last layout. Its backward is fast only when
the incoming gradient has the indices' layout (0.8 ms; 4.4 ms for a contiguous gradient against channels-last
indices). So the CPU path converts the input to channels-last, pools there, returns a contiguous output, and
converts the gradient to channels-last before scattering it. Forward + backward at the patch embedding's shapes:
1.1-2.8x as fast, the layout conversions included (benchmarks/bench_max_pool.py). Both layouts scan
each window in the same order, so the chosen maxima, ties of binary spikes included, are the same
(tests/ops/test_max_pool.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

__all__ = ["MaxPool2d", "max_pool2d"]

_CHANNELS_LAST = torch.channels_last


class _ChannelsLastMaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, kernel_size: list, stride: list, padding: list) -> Tensor:
        out, indices = torch.ops.aten.max_pool2d_with_indices(x.contiguous(memory_format=_CHANNELS_LAST),
                                                              kernel_size, stride, padding)
        ctx.save_for_backward(indices)
        ctx.geometry = (x.shape, x.dtype, kernel_size, stride, padding)
        return out.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        (indices,) = ctx.saved_tensors
        shape, dtype, kernel_size, stride, padding = ctx.geometry
        # the kernel reads only the input's shape and layout (it scatters grad_out to `indices`)
        layout = torch.empty(shape, dtype=dtype, memory_format=_CHANNELS_LAST)
        grad = torch.ops.aten.max_pool2d_with_indices_backward(
            grad_out.contiguous(memory_format=_CHANNELS_LAST), layout, kernel_size, stride, padding, [1, 1], False,
            indices)
        return grad.contiguous(), None, None, None


def max_pool2d(x: Tensor, kernel_size: int | tuple, stride: int | tuple, padding: int | tuple) -> Tensor:
    """F.max_pool2d(x, kernel_size, stride, padding) (dilation 1, floor mode) for x [B, C, H, W]; on CPU through
    the channels-last kernels (module docstring), elsewhere and under torch.compile torch's own call."""
    if x.device.type != "cpu" or x.dim() != 4 or torch.compiler.is_compiling():
        return nn.functional.max_pool2d(x, kernel_size, stride, padding)
    return _ChannelsLastMaxPool2d.apply(x, list(_pair(kernel_size)), list(_pair(stride)), list(_pair(padding)))


torch.fx.wrap("max_pool2d")  # a leaf for torch.fx: the path depends on the device, known when it runs


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d (dilation 1, no indices, floor mode) computed by `max_pool2d`. Still an nn.MaxPool2d, so the
    energy meter counts it as one."""

    def __init__(self, kernel_size: int | tuple, stride: int | tuple, padding: int | tuple = 0):
        super().__init__(kernel_size, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)
