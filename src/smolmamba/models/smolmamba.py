"""Registered Vision SmolMamba variants, their dense Spiking Mamba twins and naive-pruning twins.

Sizes: smolmamba_cifar (D=384, depth 4, expand 1) and smolmamba_dvs (D=256, depth 2, expand 1) are
chosen so their parameter counts lie within 10 % of Spikformer-4-384 (9.32M) and Spikformer-2-256
(2.57M); `smolmamba models` prints the counts.
"""

from __future__ import annotations

from smolmamba.models import presets
from smolmamba.models.config import ModelCfg
from smolmamba.models.presets import CIFAR
from smolmamba.models.registry import register_model

TINY = dict(presets.TINY, d_state=8)  # the tiny SSM's state size
TINY_EVENTS = dict(presets.TINY_EVENTS, d_state=8)
IMAGENET = dict(presets.IMAGENET_INPUT, embed_dim=384, depth=12)
DVS = dict(presets.DVS, keep_ratios=(0.7, 0.5))

DENSE = dict(pruner=None)
NAIVE = dict(align=False)


@register_model
def smolmamba_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY)


@register_model
def smolmamba_tiny_events() -> ModelCfg:
    return ModelCfg.from_flat(**TINY_EVENTS)


@register_model
def smolmamba_cifar() -> ModelCfg:
    return ModelCfg.from_flat(**CIFAR)


@register_model
def smolmamba_imagenet() -> ModelCfg:
    return ModelCfg.from_flat(**IMAGENET)


@register_model
def smolmamba_dvs() -> ModelCfg:
    return ModelCfg.from_flat(**DVS)


@register_model
def spiking_mamba_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY, **DENSE)


@register_model
def spiking_mamba_tiny_events() -> ModelCfg:
    return ModelCfg.from_flat(**TINY_EVENTS, **DENSE)


@register_model
def spiking_mamba_cifar() -> ModelCfg:
    return ModelCfg.from_flat(**CIFAR, **DENSE)


@register_model
def spiking_mamba_imagenet() -> ModelCfg:
    return ModelCfg.from_flat(**IMAGENET, **DENSE)


@register_model
def spiking_mamba_dvs() -> ModelCfg:
    return ModelCfg.from_flat(**DVS, **DENSE)


@register_model
def smolmamba_naive_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY, **NAIVE)


@register_model
def smolmamba_naive_tiny_events() -> ModelCfg:
    return ModelCfg.from_flat(**TINY_EVENTS, **NAIVE)


@register_model
def smolmamba_naive_cifar() -> ModelCfg:
    return ModelCfg.from_flat(**CIFAR, **NAIVE)
