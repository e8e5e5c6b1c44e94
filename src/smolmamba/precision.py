"""Mixed precision: what runs in bf16 (or fp16) under torch.autocast, and what stays float32.

torch.autocast runs every Linear layer in the low dtype, casting each fp32 master weight once per forward
(autocast's weight cache). The model adds, per module, three levers (`Levers`, set by `set_levers`):
  spikes   LIFs emit their spikes in the autocast dtype (0 and 1 are exact), so the projections read them
           without a cast; membrane potentials are integrated in float32 either way (the numba kernel reads bf16
           input and bf16 spike gradients as they are and writes a bf16 input gradient directly, with no casts)
  norms    BatchNorm computes in its input's dtype (autocast's own rule; default) or in float32 (a forward pre-hook
           upcasts its input: no faster for the Mamba models, 8-12 % slower for Spikformer and SMixer, bench
           --levers-only); statistics accumulate in float32 inside torch's kernel either way, running ones stay
           float32
  convs    the patch embedding's convolutions: "low" all in the low dtype (autocast's own rule; default), "float32"
           none, "split" the forward and the input gradient in the low dtype and the weight gradient in float32.
           On a quiet 2-core AVX-512 CPU "low" is fastest (bench --levers-only; bf16 conv passes 0.7-7.7x as fast
           as float32, benchmarks/bench_conv_precision.py); beside another busy process oneDNN's bf16 weight
           gradient waits in 4 ms steps (988 ms against 6 ms float32 at one shape), which "split" avoids
Always float32: the selective scan's state and its A, D and dt bias (as mamba_ssm advises against the known bf16
failure of Mamba models), ScaleNorm's mean square, the loss, the optimizer and its state.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

LOW_PRECISION = (torch.bfloat16, torch.float16)
CONV_MODES = ("low", "float32", "split")
AMP_MODES = ("none", "bf16", "fp16", "auto")


@dataclass(frozen=True)
class Levers:
    """The per-module mixed-precision choices (module docstring); the defaults are the chosen path."""

    spikes: bool = True
    norms_float32: bool = False
    convs: str = "low"

    def __post_init__(self):
        if self.convs not in CONV_MODES:
            raise ValueError(f"convs={self.convs!r} is unknown; choose one of {CONV_MODES}")


def _upcast_input(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: the first input in float32."""
    return (float32_if_low(args[0]),) + args[1:]


def set_levers(model: nn.Module, levers: Levers) -> nn.Module:
    """Set `levers` on every LIF, BatchNorm and patch-embedding convolution of `model`; -> model."""
    for module in model.modules():
        if hasattr(module, "autocast_spikes"):
            module.autocast_spikes = levers.spikes
        if hasattr(module, "conv_precision"):
            module.conv_precision = levers.convs
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            for key, hook in list(module._forward_pre_hooks.items()):
                if hook is _upcast_input:
                    del module._forward_pre_hooks[key]
            if levers.norms_float32:
                module.register_forward_pre_hook(_upcast_input)
    return model


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The low dtype autocast runs in on `device_type`, or None when autocast is off there (or has no such device,
    e.g. meta)."""
    if not (torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)):
        return None
    return torch.get_autocast_dtype(device_type)


def float32_if_low(x: Tensor) -> Tensor:
    """x upcast to float32 if it is bf16/fp16, else x itself. Callers in a traced forward wrap it as a torch.fx
    leaf (torch.fx.wrap("float32_if_low") in their module): the dtype is known only when it runs."""
    return x.float() if x.dtype in LOW_PRECISION else x


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX), so bf16 matrix products pay; asked once
    (resolve_amp runs every training step)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_amp(amp: str, device: torch.device) -> str:
    """amp "auto" -> "bf16" on CUDA and on CPUs with native bf16, else "none"; other modes as given."""
    if amp not in AMP_MODES:
        raise ValueError(f"amp={amp!r}; choose one of {AMP_MODES}")
    if amp != "auto":
        return amp
    return "bf16" if device.type == "cuda" or (device.type == "cpu" and native_bf16()) else "none"
