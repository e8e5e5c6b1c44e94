"""Spiking patch splitting (Spikformer's SPS): images or event frames -> tokens [T, B, N, D].

Shapes: images arrive as [B, C, H, W] and are presented at each of T steps (direct encoding);
event frames arrive as [B, T, 2, H, W]. Inside the model tokens are [T, B, N, D], time first,
converted once here. N = (H / p) * (W / p).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from smolmamba.neurons import LIF
from smolmamba.ops.conv_precision import conv2d
from smolmamba.ops.max_pool import MaxPool2d

torch.fx.wrap("conv2d")  # a leaf for torch.fx: the precision is chosen from autocast's state when it runs

NUM_CONV_STAGES = 4


def tracing() -> bool:
    """True while torch.fx, torch.export or torch.compile trace the model: the input checks, which
    branch on values and shapes, are skipped then (they run on every eager call)."""
    return torch.fx._symbolic_trace.is_fx_symbolic_tracing() or torch.compiler.is_compiling()


def check_input(x: Tensor, in_chans: int, img_size: int, time_steps: int, events: bool) -> None:
    """Raise ValueError naming what arrived and what the model expects."""
    if not isinstance(x, Tensor):
        raise ValueError(f"input must be a torch.Tensor, got {type(x).__name__}; convert with torch.as_tensor(x)")
    if not torch.is_floating_point(x):
        raise ValueError(f"input must be a floating tensor, got dtype {x.dtype}; convert with x.float()")
    if x.dim() >= 1 and x.shape[0] == 0:
        raise ValueError(f"input batch is empty (shape {tuple(x.shape)}); pass at least one sample")
    if events and x.dim() == 4:  # packed [B, T*2, H, W], t major (timm's generic (C, H, W) input)
        if x.shape[1] != time_steps * in_chans:
            raise ValueError(
                f"event frames must be [B, T, {in_chans}, H, W] or packed [B, T*{in_chans}, H, W] (t major); "
                f"got {tuple(x.shape)}: {x.shape[1]} channels where the model expects T*{in_chans} = "
                f"{time_steps * in_chans}"
            )
    elif events:
        if x.dim() != 5:
            raise ValueError(
                f"event frames must be [B, T, {in_chans}, H, W] or packed [B, T*{in_chans}, H, W], "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[2] != in_chans:
            raise ValueError(
                f"event frames have {x.shape[2]} polarity channels at dim 2, the model expects "
                f"{in_chans} (shape [B, T, {in_chans}, H, W]); got {tuple(x.shape)}"
            )
        if x.shape[1] != time_steps:
            raise ValueError(
                f"event frames have T={x.shape[1]} time bins, the model was built for T={time_steps}; "
                f"re-bin the events or build the model with time_steps={x.shape[1]}"
            )
    else:
        if x.dim() != 4:
            raise ValueError(f"images must be [B, C, H, W], got shape {tuple(x.shape)}")
        if x.shape[1] != in_chans:
            raise ValueError(
                f"images have {x.shape[1]} channels, the model expects in_chans={in_chans}; "
                f"got shape {tuple(x.shape)}"
            )
    h, w = x.shape[-2:]
    if (h, w) != (img_size, img_size):
        raise ValueError(
            f"input size ({h}x{w}) doesn't match the model ({img_size}x{img_size}); resize the input "
            f"or build the model with img_size={h}"
        )


def check_finite(x: Tensor) -> None:
    """Raise ValueError if x holds NaN or inf. One float32 sum (a GPU sync); the exact count is
    computed only when that sum is not finite. Meta tensors hold no values: nothing to check."""
    if x.is_meta or torch.isfinite(x.sum(dtype=torch.float32)):
        return
    bad = int((~torch.isfinite(x)).sum())
    if bad == 0:  # finite values whose sum overflows float32: not an input error
        return
    raise ValueError(
        f"input holds {bad} NaN/inf value(s) of {x.numel()} (shape {tuple(x.shape)}); clean the data "
        f"(e.g. torch.nan_to_num) or set model.check_finite = False to skip this check"
    )


def check_patch_grid(img_size: int, patch_size: int) -> None:
    """ValueError unless patch_size is a power of two the conv stages can pool to, dividing img_size."""
    if patch_size < 1 or patch_size & (patch_size - 1) or patch_size > 2**NUM_CONV_STAGES:
        raise ValueError(f"patch_size must be a power of two between 1 and {2**NUM_CONV_STAGES}, got {patch_size}")
    if img_size % patch_size:
        raise ValueError(f"img_size={img_size} is not divisible by patch_size={patch_size}; choose a patch size "
                         f"that divides the image size (no silent crop)")


class Conv2d(nn.Conv2d):
    """A bias-free, stride-1, same-padding nn.Conv2d whose precision under autocast is `conv_precision`
    (ops/conv_precision.py; precision.Levers.convs), a plain attribute."""

    conv_precision = "low"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(x, self.weight, self.conv_precision)


class SpikingPatchEmbed(nn.Module):
    """Four conv-BN-LIF stages (channels D/8, D/4, D/2, D) with log2(p) 2x max-pools on the last
    stages, then a relative position embedding conv-BN-LIF added to the features.

    forward: [T, B, C, H, W] -> tokens [T, B, N, D] (real-valued: features + position spikes).
    The first conv sees pixels (real values); every later conv sees spikes.
    """

    profile_label = "patch_embed"  # one component, neurons included

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int, lif_kwargs: dict):
        super().__init__()
        check_patch_grid(img_size, patch_size)
        if embed_dim % 8:
            raise ValueError(f"embed_dim must be a multiple of 8 for the patch embedding, got {embed_dim}")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.grid = img_size // patch_size
        self.num_tokens = self.grid**2
        num_pools = int(math.log2(patch_size))
        channels = [in_chans, embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.lifs = nn.ModuleList()
        self.pools = nn.ModuleList()
        for i in range(NUM_CONV_STAGES):
            self.convs.append(Conv2d(channels[i], channels[i + 1]))
            self.norms.append(nn.BatchNorm2d(channels[i + 1]))
            self.lifs.append(LIF(**lif_kwargs))
            pooled = i >= NUM_CONV_STAGES - num_pools
            self.pools.append(MaxPool2d(3, stride=2, padding=1) if pooled else nn.Identity())
        self.rpe_conv = Conv2d(embed_dim, embed_dim)
        self.rpe_norm = nn.BatchNorm2d(embed_dim)
        self.rpe_lif = LIF(**lif_kwargs)

    def forward(self, x: Tensor, static: bool) -> Tensor:
        """x: [T, B, C, H, W]; static=True means all T frames are the same image (conv once)."""
        t, b = x.shape[:2]
        if static:
            first = self.norms[0](self.convs[0](x[0]))  # (B, C1, H, W), identical for every step
            h = first.unsqueeze(0).expand(t, -1, -1, -1, -1)
        else:
            h = self.norms[0](self.convs[0](x.flatten(0, 1))).unflatten(0, (t, b))
        for i in range(NUM_CONV_STAGES):
            if i > 0:
                h = self.norms[i](self.convs[i](h.flatten(0, 1))).unflatten(0, (t, b))
            if i == NUM_CONV_STAGES - 1:
                feat = self.pools[i](h.flatten(0, 1))  # (T*B, D, h, w) real-valued features
                break
            h = self.lifs[i](h)
            h = self.pools[i](h.flatten(0, 1)).unflatten(0, (t, b))
        spikes = self.lifs[-1](feat.unflatten(0, (t, b))).flatten(0, 1)
        rpe = self.rpe_lif(self.rpe_norm(self.rpe_conv(spikes)).unflatten(0, (t, b)))
        tokens = feat.unflatten(0, (t, b)) + rpe  # (T, B, D, h, w)
        return tokens.flatten(3).transpose(2, 3).contiguous()  # (T, B, N, D)
