"""A model's pretrained_cfg: what it takes and gives, in timm's keys plus T (time_steps) and events.

No torch, timm or data import: the values the data modules normalise with are repeated here (and
tests/models/test_timm.py checks they agree), so building a model stays light.
smolmamba ships no weights, so the cfg describes the model as built, not a weight file.
"""

from __future__ import annotations

from smolmamba.models.config import ModelCfg

# (mean, std) per input kind, as the data modules apply them:
UNIT = (0.0, 1.0)  # digits (data/digits.py) and event frames: [0, 1] pixels / spike counts, not normalised
CIFAR = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # data/images.py CIFAR_MEAN, CIFAR_STD
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # timm's defaults, data/transforms.py
CIFAR_MAX_SIZE = 32  # 3-channel models up to this size are the CIFAR ones, larger ones ImageNet's
PAPER = "arXiv:2604.25570"


def input_channels(cfg: ModelCfg) -> int:
    """Channels of timm's (C, H, W) input: in_chans, or T*2 for event frames packed as [B, T*2, H, W]."""
    inp = cfg.input
    return inp.time_steps * inp.in_chans if inp.events else inp.in_chans


def normalization(cfg: ModelCfg) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per input channel (of input_channels) of the data this model's input kind is trained on."""
    inp = cfg.input
    if inp.events or inp.in_chans != 3:
        return (UNIT[0],) * input_channels(cfg), (UNIT[1],) * input_channels(cfg)
    return CIFAR if inp.img_size <= CIFAR_MAX_SIZE else IMAGENET


def pretrained_cfg(cfg: ModelCfg) -> dict:
    """timm-style cfg dict: input_size (C, H, W), mean/std, num_classes, first_conv, classifier, plus
    time_steps (T), events (input [B, T, 2, H, W] when True) and in_chans. For event models
    input_size is the packed layout (T*2, H, W) the model also takes, so timm's generic tooling
    (random inputs, data configs) feeds them [B, T*2, H, W]."""
    mean, std = normalization(cfg)
    inp = cfg.input
    return {"input_size": (input_channels(cfg), inp.img_size, inp.img_size), "fixed_input_size": True,
            "interpolation": "bicubic", "crop_pct": 1.0, "mean": mean, "std": std,
            "num_classes": cfg.num_classes, "first_conv": "patch_embed.convs.0", "classifier": "head",
            "paper_ids": PAPER, "time_steps": inp.time_steps, "events": inp.events, "in_chans": inp.in_chans}


TIMM_KEYS = ("input_size", "fixed_input_size", "interpolation", "crop_pct", "mean", "std", "num_classes",
             "first_conv", "classifier", "paper_ids")


def timm_fields(cfg: dict) -> dict:
    """The keys of a pretrained_cfg that timm's PretrainedCfg dataclass holds (it has no T)."""
    return {k: cfg[k] for k in TIMM_KEYS}
