"""SpikingVisionNet: spiking patch embedding -> residual blocks (one mixer kind) -> head.

Vision SmolMamba is this network with the SSM mixer and the SST-TP pruner; the Spiking Mamba peer
is the same with pruner=None, naive pruning is align=False.
Shapes: images [B, C, H, W] or event frames [B, T, 2, H, W] -> logits [B, num_classes];
inside, tokens are [T, B, n, D] with n the tokens kept so far.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from smolmamba.layers.block import Block
from smolmamba.layers.patch_embed import SpikingPatchEmbed, check_input
from smolmamba.layers.pruning import TokenPruner
from smolmamba.layers.ssm import SpikingSSM
from smolmamba.models.config import ModelCfg


def stage_starts(depth: int, num_stages: int) -> list[int]:
    """Index of the first block of each of num_stages near-equal stages."""
    return [(s * depth + num_stages - 1) // num_stages for s in range(num_stages)]


def build_mixer(cfg: ModelCfg) -> nn.Module:
    """The token mixer named by cfg.mixer."""
    if cfg.mixer == "ssm":
        return SpikingSSM(cfg.embed_dim, cfg.expand, cfg.d_state, cfg.dt_rank, cfg.lif_kwargs, cfg.scan_impl)
    raise ValueError(f"unknown mixer {cfg.mixer!r}")


class SpikingVisionNet(nn.Module):
    """forward(x) -> logits; forward_features(x) -> (tokens [T,B,n,D], info) with per-stage positions."""

    def __init__(self, cfg: ModelCfg):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = SpikingPatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.embed_dim,
                                             cfg.lif_kwargs)
        starts = stage_starts(cfg.depth, len(cfg.keep_ratios)) if cfg.prunes else []
        self.stage_starts = starts
        blocks = []
        for i in range(cfg.depth):
            pruner = None
            if i in starts:
                ratio = cfg.keep_ratios[starts.index(i)]
                pruner = TokenPruner(cfg.pruner, ratio, cfg.num_tokens)
            blocks.append(Block(cfg.embed_dim, build_mixer(cfg), int(cfg.mlp_ratio * cfg.embed_dim),
                                cfg.lif_kwargs, pruner=pruner, align=cfg.align))
        self.blocks = nn.ModuleList(blocks)
        self.head_norm = nn.LayerNorm(cfg.embed_dim)
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def pruning_active(self) -> bool:
        """Whether pruners run in the current mode (zero_shot prunes only in eval)."""
        mode = self.cfg.pruning_mode
        return self.cfg.prunes and (mode == "train" or (mode == "zero_shot" and not self.training))

    def embed(self, x: Tensor) -> Tensor:
        """Input -> tokens [T, B, N, D] after checking shape, channels and T."""
        cfg = self.cfg
        check_input(x, cfg.in_chans, cfg.img_size, cfg.time_steps, cfg.events)
        if cfg.events:
            return self.patch_embed(x.transpose(0, 1), static=False)  # (T, B, 2, H, W) in
        frames = x.unsqueeze(0).expand(cfg.time_steps, *x.shape)  # direct encoding, (T, B, C, H, W)
        return self.patch_embed(frames, static=True)

    def forward_features(self, x: Tensor) -> tuple[Tensor, dict]:
        """-> tokens [T, B, n, D], info {"positions": [[B, k] per stage], "importance": [[B, n] ...]}."""
        tokens = self.embed(x)
        prune = self.pruning_active()
        positions, context = None, {}
        info = {"num_tokens": tokens.shape[2], "positions": [], "importance": []}
        for block in self.blocks:
            tokens, positions, context = block(tokens, positions, context, prune)
            if context["importance"] is not None:
                info["positions"].append(positions)
                info["importance"].append(context["importance"])
        return tokens, info

    def forward_head(self, tokens: Tensor) -> Tensor:
        """tokens [T, B, n, D] -> logits [B, classes]: norm, mean over kept tokens and T, linear."""
        return self.head(self.head_norm(tokens).mean(dim=(0, 2)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x)[0])


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def tokens_per_stage(model: SpikingVisionNet, x: Tensor) -> list[int]:
    """Token counts entering the blocks: [N, k_1, k_2, ...] measured on a forward pass of x."""
    _, info = model.forward_features(x)
    return [info["num_tokens"]] + [p.shape[1] for p in info["positions"]]
