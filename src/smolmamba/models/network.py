"""SpikingVisionNet: spiking patch embedding -> residual blocks (one mixer kind) -> head.

Vision SmolMamba is this network with the SSM mixer and the SST-TP pruner; the Spiking Mamba peer
is the same with pruner=None, naive pruning is align=False.
Shapes: images [B, C, H, W] or event frames [B, T, 2, H, W] -> logits [B, num_classes];
inside, tokens are [T, B, n, D] with n the tokens kept so far.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor, nn

from smolmamba.layers.attention import SpikingSelfAttention
from smolmamba.layers.block import Block
from smolmamba.layers.carry import BlockCarry, InputPruning, PruningTrace
from smolmamba.layers.dstsp import DSTSP, FusingTokenPruner, with_fused_position
from smolmamba.layers.mixer_cfg import MixerCfg, SSACfg, SSMCfg
from smolmamba.layers.patch_embed import SpikingPatchEmbed, check_finite, check_input, tracing
from smolmamba.layers.pruning import TokenPruner
from smolmamba.layers.smixer import SpikingTokenMixer
from smolmamba.layers.ssm import SpikingSSM
from smolmamba.models import intermediates, pretrained
from smolmamba.models.config import ModelCfg
from smolmamba.models.config_parts import InputCfg, PruningCfg
from smolmamba.models.grad_checkpoint import checkpoint_block


def stage_starts(depth: int, num_stages: int, first: int = 0) -> list[int]:
    """Index of the first block of each of num_stages near-equal stages of blocks first..depth-1."""
    span = depth - first
    return [first + (s * span + num_stages - 1) // num_stages for s in range(num_stages)]


def build_mixer(mixer: MixerCfg, dim: int, num_tokens: int, lif_kwargs: dict) -> nn.Module:
    """The token mixer `mixer` configures; num_tokens: the SMixer's token slots (with a fused token's)."""
    if isinstance(mixer, SSMCfg):
        return SpikingSSM(dim, mixer, lif_kwargs)
    if isinstance(mixer, SSACfg):
        return SpikingSelfAttention(dim, mixer.num_heads, lif_kwargs, mixer.attn_scale)
    return SpikingTokenMixer(dim, num_tokens, lif_kwargs)  # SMixerCfg


def build_pruner(pruning: PruningCfg, keep_ratio: float, num_tokens: int, lif_kwargs: dict) -> TokenPruner:
    """A block's pruner: keep the top tokens; with pruning.fuse_pruned merge the rest (EViT)."""
    if pruning.fuse_pruned:
        return FusingTokenPruner(pruning.pruner, keep_ratio, num_tokens, lif_kwargs,
                                 straight_through=pruning.pruner_ste)
    return TokenPruner(pruning.pruner, keep_ratio, num_tokens, straight_through=pruning.pruner_ste)


def build_input_pruner(pruning: PruningCfg, lif_kwargs: dict) -> nn.Module | None:
    """The pruner applied once to the patch-embedding tokens (pruning.input_pruner), or None."""
    if pruning.input_pruner == "dstsp":
        return DSTSP(pruning.spatial_prune_rate, pruning.temporal_prune_rate, pruning.fuse_pruned, lif_kwargs)
    return None


def build_patch_embed(inp: InputCfg, dim: int, lif_kwargs: dict) -> SpikingPatchEmbed:
    """Images or event frames of `inp`'s size and channels -> tokens of dim channels."""
    return SpikingPatchEmbed(inp.img_size, inp.patch_size, inp.in_chans, dim, lif_kwargs)


def token_positions(tokens: Tensor, positions: Tensor, num_tokens: int) -> Tensor:
    """positions [B, k] of tokens [T, B, k (+1 fused), D] -> [B, k (+1)]: a fused token gets num_tokens."""
    return with_fused_position(positions, num_tokens) if tokens.shape[2] > positions.shape[1] else positions


torch.fx.wrap("token_positions")  # a leaf for torch.fx: whether a fused token exists follows the shapes


class SpikingVisionNet(nn.Module):
    """forward(x) -> logits [B, classes]; forward_features(x) -> tokens [T, B, n, D];
    forward_features_with_info(x) -> (tokens, PruningTrace); forward_head(tokens).

    timm's model interface: num_classes, num_features, head_hidden_size, in_chans, pretrained_cfg /
    default_cfg, get_classifier, reset_classifier, set_grad_checkpointing, feature_info,
    forward_intermediates, prune_intermediate_layers (levels and pruned positions: models/intermediates.py).
    num_classes=0 gives a model without a head (pooled features [B, D] out). feature_dim = -1: the
    channels of forward_features' tokens [T, B, n, D] are the last axis.
    Event models take frames [B, T, 2, H, W] or the same packed as [B, T*2, H, W] (t major), the layout
    pretrained_cfg["input_size"] states for timm's generic tooling.
    check_finite: None (default) checks inputs for NaN/inf in eval mode only (training skips the
    pass over the batch); True always, False never. A plain attribute: model.check_finite = False.
    Every input check is skipped while torch.fx, torch.export or torch.compile trace the model.
    """

    feature_dim = -1

    def __init__(self, cfg: ModelCfg, check_finite: bool | None = None):
        super().__init__()
        self.cfg = cfg
        self.check_finite = check_finite
        lif_kwargs, pruning, num_tokens = cfg.neuron.lif_kwargs, cfg.pruning, cfg.input.num_tokens
        self.patch_embed = build_patch_embed(cfg.input, cfg.embed_dim, lif_kwargs)
        starts = stage_starts(cfg.depth, len(pruning.keep_ratios), pruning.prune_start) if pruning.prunes else []
        self.stage_starts = starts
        mixer_tokens = num_tokens + int(pruning.fuse_pruned)  # one extra SMixer W_M row/column for a fused token
        blocks = []
        for i in range(cfg.depth):
            pruner = None
            if i in starts:
                pruner = build_pruner(pruning, pruning.keep_ratios[starts.index(i)], num_tokens, lif_kwargs)
            blocks.append(Block(cfg.embed_dim, build_mixer(cfg.mixer, cfg.embed_dim, mixer_tokens, lif_kwargs),
                                int(cfg.mlp_ratio * cfg.embed_dim), lif_kwargs, pruner=pruner, align=pruning.align))
        self.blocks = nn.ModuleList(blocks)
        self.input_pruner = build_input_pruner(pruning, lif_kwargs)
        self.head_norm = nn.LayerNorm(cfg.embed_dim)
        self.head = build_head(cfg.embed_dim, cfg.num_classes)
        self.num_features = cfg.embed_dim
        self.feature_info = intermediates.feature_info(cfg.depth, cfg.embed_dim, cfg.input.patch_size)
        self.grad_checkpointing = False
        self._timm_cfg: dict = {}  # what timm's factory files in pretrained_cfg (architecture, file, ...)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    @property
    def head_hidden_size(self) -> int:
        """Width of forward_head(..., pre_logits=True): D."""
        return self.num_features

    @property
    def in_chans(self) -> int:
        """Channels of the tensor timm feeds, pretrained_cfg["input_size"][0] (T*2 for packed events)."""
        return self.pretrained_cfg["input_size"][0]

    @property
    def pretrained_cfg(self) -> dict:
        """Input size, T, channels, mean/std and classes of this model (timm's keys plus T), over the
        fields timm's factory filed (architecture, tag, file): those that describe the model follow cfg."""
        return {**self._timm_cfg, **pretrained.pretrained_cfg(self.cfg)}

    @pretrained_cfg.setter
    def pretrained_cfg(self, cfg: dict) -> None:
        self._timm_cfg = dict(cfg)

    @property
    def default_cfg(self) -> dict:
        """timm's older name of pretrained_cfg."""
        return self.pretrained_cfg

    @default_cfg.setter
    def default_cfg(self, cfg: dict) -> None:
        self.pretrained_cfg = cfg

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new, freshly initialised head for num_classes (0: no head); self.cfg follows."""
        if global_pool not in (None, "avg"):
            raise ValueError(f"global_pool={global_pool!r}: the head always averages over tokens and T; "
                             f"pass None or 'avg'")
        self.cfg = self.cfg.replace(num_classes=num_classes)
        weight = self.patch_embed.convs[0].weight
        self.head = build_head(self.num_features, num_classes).to(weight.device, weight.dtype).train(self.training)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward instead of storing them (training only)."""
        self.grad_checkpointing = enable

    def pruning_active(self) -> bool:
        """Whether the block pruners run in the current mode (cfg.pruning.runs)."""
        return self.cfg.pruning.prunes and self.cfg.pruning.runs(self.training)

    def input_pruning_active(self) -> bool:
        """Whether the input pruner runs: same pruning mode rule as the block pruners."""
        return self.input_pruner is not None and self.cfg.pruning.runs(self.training)

    def check(self, x: Tensor) -> None:
        """ValueError unless x fits the model: shape, channels, T, device, dtype (and finite values,
        per check_finite)."""
        inp = self.cfg.input
        check_input(x, inp.in_chans, inp.img_size, inp.time_steps, inp.events)
        weight = self.patch_embed.convs[0].weight
        if x.device != weight.device:
            raise ValueError(f"input is on {x.device} but the model is on {weight.device}; "
                             f"move one of them, e.g. x.to({str(weight.device)!r})")
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ValueError(f"input dtype {x.dtype} differs from the model's {weight.dtype}; cast the input "
                             f"(x.to({weight.dtype})) or the model (model.to({x.dtype})), or use torch.autocast")
        if self.check_finite or (self.check_finite is None and not self.training):
            check_finite(x)

    def embed(self, x: Tensor) -> Tensor:
        """Input -> tokens [T, B, N, D]; eager calls check x first (tracing skips the checks)."""
        inp = self.cfg.input
        if not tracing():  # torch.fx, torch.export, torch.compile, torch.onnx.export
            self.check(x)
        if inp.events:  # [B, T, 2, H, W] or packed [B, T*2, H, W] -> (T, B, 2, H, W)
            frames = x.reshape(x.shape[0], inp.time_steps, 2, inp.img_size, inp.img_size).transpose(0, 1)
            return self.patch_embed(frames, static=False)
        frames = x.unsqueeze(0).expand(inp.time_steps, -1, -1, -1, -1)  # direct encoding, (T, B, C, H, W)
        return self.patch_embed(frames, static=True)

    def forward_features(self, x: Tensor) -> Tensor:
        """x -> tokens [T, B, n, D] after the last block (n: tokens kept, + 1 with a fused token)."""
        return self.forward_features_with_info(x)[0]

    def forward_features_with_info(self, x: Tensor) -> tuple[Tensor, PruningTrace]:
        """-> tokens [T, B, n, D] and the PruningTrace of this pass (positions and importance per stage,
        the input pruner's selection, tokens_per_stage())."""
        tokens = self.embed(x)
        num_tokens = tokens.shape[2]
        tokens, input_pruning = self.prune_input(tokens)
        positions, importance = [], []
        start = BlockCarry(None if input_pruning is None else input_pruning.positions)
        for tokens, carry in self.run_blocks(tokens, start, self.blocks):
            if carry.importance is not None:
                positions.append(carry.positions)
                importance.append(carry.importance)
        return tokens, PruningTrace(num_tokens, tuple(positions), tuple(importance), input_pruning)

    def prune_input(self, tokens: Tensor) -> tuple[Tensor, InputPruning | None]:
        """tokens [T, B, N, D] -> (tokens [T', B, n, D], DSTSP's selection or None when it does not run)."""
        if not self.input_pruning_active():
            return tokens, None
        pruned = self.input_pruner(tokens)  # DSTSP: [T', B, N' (+1 fused), D], positions [B, N' (+1)]
        positions = token_positions(pruned.tokens, pruned.positions, self.cfg.input.num_tokens)
        return pruned.tokens, InputPruning(positions, pruned.time_index, pruned.importance)

    def run_blocks(self, tokens: Tensor, carry: BlockCarry,
                   blocks: nn.ModuleList) -> Iterator[tuple[Tensor, BlockCarry]]:
        """Run `blocks` in turn from tokens [T, B, n, D] and the carry into the first; yield (tokens,
        carry) after each (carry.positions [B, k] or None)."""
        prune = self.pruning_active()
        recompute = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for block in blocks:
            args = (tokens, carry, prune)
            tokens, carry = checkpoint_block(block, *args) if recompute else block(*args)
            yield tokens, carry

    def forward_intermediates(self, x: Tensor, indices: int | list[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """timm's: -> (tokens [T, B, n, D] as forward_features, maps) or maps alone (intermediates_only).
        maps: [B, D, H/p, W/p] per level in indices (None: all; int n: the last n), level 0 the patch
        embedding, level i block i - 1; pruned positions are zeros (models/intermediates.py).
        norm: head_norm on each map's tokens. stop_early: run no block after the last level taken."""
        take, last = intermediates.take_indices(len(self.blocks) + 1, indices)
        grid, maps = self.patch_embed.grid, []

        def tap(level: int, tokens: Tensor, positions: Tensor | None) -> None:
            if level in take:
                maps.append(intermediates.token_map(self.head_norm(tokens) if norm else tokens, positions, grid,
                                                    output_fmt))

        tokens = self.embed(x)
        tap(0, tokens, None)
        tokens, input_pruning = self.prune_input(tokens)
        start = BlockCarry(None if input_pruning is None else input_pruning.positions)
        blocks = self.blocks[:last] if stop_early or intermediates_only else self.blocks
        for i, (tokens, carry) in enumerate(self.run_blocks(tokens, start, blocks)):
            tap(i + 1, tokens, carry.positions)
        return maps if intermediates_only else (tokens, maps)

    def prune_intermediate_layers(self, indices: int | list[int] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """timm's: drop the blocks after the last level in indices (and head_norm, the head);
        -> the levels, as forward_intermediates takes them. cfg still describes the unpruned model."""
        take, last = intermediates.take_indices(len(self.blocks) + 1, indices)
        self.blocks = self.blocks[:last]
        self.feature_info = self.feature_info[: last + 1]
        if prune_norm:
            self.head_norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0)
        return take

    def head_modules(self) -> tuple[nn.Module, ...]:
        """The classifier's layers: the energy meter and the profile count them as "head"."""
        return self.head_norm, self.head

    def forward_head(self, tokens: Tensor, pre_logits: bool = False) -> Tensor:
        """tokens [T, B, n, D] -> logits [B, classes]: norm, mean over kept tokens and T, linear;
        pre_logits=True stops before the linear: pooled features [B, D]."""
        pooled = self.head_norm(tokens).mean(dim=(0, 2))
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def build_head(dim: int, num_classes: int) -> nn.Module:
    """Linear classifier, or Identity for num_classes=0 (timm's convention for a headless model)."""
    return nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def tokens_per_stage(model: SpikingVisionNet, x: Tensor) -> list[int]:
    """Token counts entering the blocks, measured on a forward pass of x: [N, (after DSTSP,) k_1, ...]."""
    return model.forward_features_with_info(x)[1].tokens_per_stage()


@torch.no_grad()
def calibrate_norms(model: nn.Module, batches) -> None:
    """Re-estimate BatchNorm / ScaleNorm running statistics as exact averages over `batches`
    (inputs only), e.g. after switching pruning on for zero-shot evaluation. Leaves eval mode."""
    from smolmamba.layers.norms import ScaleNorm

    norms = [m for m in model.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, ScaleNorm))]
    saved = [m.momentum for m in norms]
    for m in norms:
        if isinstance(m, ScaleNorm):
            m.running_ms.zero_()
        else:
            m.reset_running_stats()
    model.train()
    for i, x in enumerate(batches):
        for m in norms:  # cumulative average: momentum 1/(i+1)
            m.momentum = 1.0 / (i + 1)
        model(x)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()
