"""Registered peers of Vision SmolMamba: Spikformer (SSA), Spikformer + EViT pruning, SMixer (+ DSTSP).

All share SmolMamba's patch embedding, LIF neurons, Block, spiking MLP and head; only the mixer
(and the pruner) differ. Parameter counts (`smolmamba models`), against the papers:
    spikformer_4_384  9.318M  (Spikformer-4-384, CIFAR: 9.32M)
    spikformer_8_512  29.68M  (Spikformer-8-512, ImageNet: 29.68M)
    spikformer_8_768  66.33M  (Spikformer-8-768, ImageNet: 66.34M)
    spikformer_2_256  2.566M  (Spikformer-2-256, DVS: 2.57M)
Deviations, all < 0.2 %: our MLP linears are bias-free (Spikformer's have biases), SSA linears carry
biases at every size (as Spikformer's CIFAR model), our head adds a LayerNorm.
Heads: 12 (4-384), 8 (8-512), 12 (8-768), 16 (2-256); tiny peers use head_dim 32 as 4-384 does.
The SMixer paper (ICLR 2026) gives no SMixer sizes, so smixer_cifar uses Spikformer-4-384's and the tiny ones SmolMamba
tiny's; SMixer drops Q and K, so it is smaller: smixer_cifar 8.149M, smixer_tiny 0.248M (-5.8 % vs
smolmamba_tiny 0.263M; spikformer_tiny 0.265M, +0.6 %).
DSTSP defaults follow the SMixer paper: P_S = 0.30, T' = 1, dropped tokens merged into a fused token.
"""

from __future__ import annotations

from smolmamba.models import presets
from smolmamba.models.config import ModelCfg
from smolmamba.models.presets import TINY, TINY_EVENTS
from smolmamba.models.registry import register_model

SPIKFORMER_CIFAR = dict(presets.CIFAR, num_heads=12)
IMAGENET_512 = dict(presets.IMAGENET_INPUT, embed_dim=512, depth=8, num_heads=8)
IMAGENET_768 = dict(IMAGENET_512, embed_dim=768, num_heads=12)
DVS = dict(presets.DVS, num_heads=16)

SSA = dict(mixer="ssa", pruner=None)
SSA_TINY = dict(SSA, num_heads=2)
EVIT = dict(mixer="ssa", num_heads=2, pruner="sst_tp", fuse_pruned=True)  # SmolMamba's keep ratios
SMIXER = dict(mixer="smixer", pruner=None)
DSTSP = dict(SMIXER, input_pruner="dstsp", fuse_pruned=True)


@register_model
def spikformer_4_384() -> ModelCfg:
    return ModelCfg.from_flat(**SPIKFORMER_CIFAR, **SSA)


@register_model
def spikformer_8_512() -> ModelCfg:
    return ModelCfg.from_flat(**IMAGENET_512, **SSA)


@register_model
def spikformer_8_768() -> ModelCfg:
    return ModelCfg.from_flat(**IMAGENET_768, **SSA)


@register_model
def spikformer_2_256() -> ModelCfg:
    return ModelCfg.from_flat(**DVS, **SSA)


@register_model
def spikformer_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY, **SSA_TINY)


@register_model
def spikformer_tiny_events() -> ModelCfg:
    return ModelCfg.from_flat(**TINY_EVENTS, **SSA_TINY)


@register_model
def spikformer_evit_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY, **EVIT)


@register_model
def smixer_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY, **DSTSP)


@register_model
def smixer_tiny_events() -> ModelCfg:
    return ModelCfg.from_flat(**TINY_EVENTS, **DSTSP)


@register_model
def smixer_cifar() -> ModelCfg:
    return ModelCfg.from_flat(**presets.CIFAR, **DSTSP)


@register_model
def smixer_dense_tiny() -> ModelCfg:
    return ModelCfg.from_flat(**TINY, **SMIXER)


@register_model
def smixer_dense_cifar() -> ModelCfg:
    return ModelCfg.from_flat(**presets.CIFAR, **SMIXER)
