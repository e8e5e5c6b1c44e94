"""The parts of a ModelCfg besides the mixer's (layers/mixer_cfg.py): input, neuron and pruning options,
each a frozen dataclass that checks itself when made."""

from __future__ import annotations

from dataclasses import dataclass

from smolmamba.checks import (check_choice, check_flags, check_numbers, check_positive, check_sizes, is_finite,
                              is_int)
from smolmamba.layers.patch_embed import check_patch_grid
from smolmamba.layers.pruning import check_pruner_name
from smolmamba.neurons import KERNELS, SURROGATES

INPUT_PRUNERS = ("dstsp",)
PRUNING_MODES = ("train", "zero_shot", "off")


@dataclass(frozen=True)
class InputCfg:
    """What the model takes: images [B, C, H, W] shown at each of T steps, or event frames [B, T, 2, H, W]."""

    img_size: int = 32  # input height = width
    patch_size: int = 4  # power of two, divides img_size
    in_chans: int = 3  # 3 for RGB, 1 for grey, 2 for event polarities
    time_steps: int = 4  # T; for events it must match the frames
    events: bool = False  # True: input is event frames [B, T, 2, H, W]

    def __post_init__(self):
        check_sizes(self, "img_size", "patch_size", "in_chans", "time_steps")
        check_flags(self, "events")
        check_patch_grid(self.img_size, self.patch_size)
        if self.events and self.in_chans != 2:
            raise ValueError(f"event models take 2 polarity channels; got in_chans={self.in_chans}")

    @property
    def num_tokens(self) -> int:
        """N, the tokens of the patch embedding."""
        return (self.img_size // self.patch_size) ** 2


@dataclass(frozen=True)
class NeuronCfg:
    """The LIF neuron of every layer (neurons.LIF)."""

    tau: float = 2.0  # membrane time constant
    v_threshold: float = 1.0  # firing threshold; the reset potential is 0
    surrogate: str = "sigmoid"  # surrogate gradient, one of neurons.SURROGATES
    surrogate_alpha: float | None = None  # surrogate sharpness; None: the surrogate's default (sigmoid: 4)
    detach_reset: bool = False
    lif_kernel: str = "auto"  # auto | numba | triton | torch (ops/backend.py)

    def __post_init__(self):
        check_positive(self, "tau", "v_threshold")
        check_choice("surrogate", self.surrogate, tuple(SURROGATES))
        if self.surrogate_alpha is not None:
            check_positive(self, "surrogate_alpha")
        check_flags(self, "detach_reset")
        check_choice("lif_kernel", self.lif_kernel, KERNELS)

    @property
    def lif_kwargs(self) -> dict:
        """Keyword arguments of neurons.LIF."""
        return {"tau": self.tau, "v_threshold": self.v_threshold, "surrogate": self.surrogate,
                "detach_reset": self.detach_reset, "kernel": self.lif_kernel, "alpha": self.surrogate_alpha}


@dataclass(frozen=True)
class PruningCfg:
    """Token pruning: the block pruners (score, keep ratios, stages, alignment, fusing) and SMixer's DSTSP,
    which prunes once after the patch embedding."""

    pruner: str | None = "sst_tp"  # see layers.pruning.PRUNERS; None or "none" for dense
    keep_ratios: tuple[float, ...] = (0.8, 0.6, 0.5, 0.4)  # of the ORIGINAL tokens, one per stage
    prune_start: int = 0  # first block that may start a pruning stage (0: the first block prunes)
    align: bool = True  # pruning-aware hidden-state alignment; False = naive pruning
    fuse_pruned: bool = False  # merge the tokens a pruner drops into one fused token (EViT); not ssm
    pruner_ste: bool = True  # SST-TP's straight-through factor (gradient to its alpha, beta)
    mode: str = "train"  # flat name pruning_mode. train: always prune; zero_shot: prune only in eval; off
    input_pruner: str | None = None  # "dstsp": SMixer's DSTSP once after the patch embedding
    spatial_prune_rate: float = 0.3  # DSTSP P_S: N' = max(1, round(N (1 - P_S)))
    temporal_prune_rate: float = 1.0  # DSTSP P_T: T' = max(1, round(T (1 - P_T))); 1.0 keeps one step

    def __post_init__(self):
        try:
            object.__setattr__(self, "keep_ratios", tuple(float(r) for r in self.keep_ratios))
        except (TypeError, ValueError):
            raise ValueError(f"keep_ratios must be a list of numbers, one per stage, "
                             f"got {self.keep_ratios!r}") from None
        check_pruner_name(self.pruner)
        if self.pruner not in (None, "none"):
            check_keep_ratios(self.keep_ratios)
        if not (is_int(self.prune_start) and self.prune_start >= 0):
            raise ValueError(f"prune_start must be an int >= 0 (the first block that may prune), "
                             f"got {self.prune_start!r}")
        check_flags(self, "align", "fuse_pruned", "pruner_ste")
        check_choice("pruning_mode", self.mode, PRUNING_MODES)
        if self.input_pruner not in (None, "none") + INPUT_PRUNERS:
            raise ValueError(f"unknown input_pruner {self.input_pruner!r}; choose one of "
                             f"{list(INPUT_PRUNERS) + ['none']}")
        check_numbers(self, "spatial_prune_rate", "temporal_prune_rate")
        if not 0.0 <= self.spatial_prune_rate < 1.0:
            raise ValueError(f"spatial_prune_rate must lie in [0, 1), got {self.spatial_prune_rate}")
        if not 0.0 <= self.temporal_prune_rate <= 1.0:
            raise ValueError(f"temporal_prune_rate must lie in [0, 1] (1.0 keeps one step), "
                             f"got {self.temporal_prune_rate}")

    @property
    def prunes(self) -> bool:
        """Whether the blocks get pruners: one is named and the mode is not off."""
        return self.pruner not in (None, "none") and self.mode != "off"

    def runs(self, training: bool) -> bool:
        """Whether the mode lets pruners run now: train always, zero_shot in eval only, off never."""
        return self.mode == "train" or (self.mode == "zero_shot" and not training)


def check_keep_ratios(ratios: tuple[float, ...]) -> None:
    """One ratio per stage, each in (0, 1], none above the one before."""
    if not ratios:
        raise ValueError("keep_ratios is empty; give one ratio per stage, e.g. (0.8, 0.6, 0.5, 0.4)")
    if not all(is_finite(r) and 0.0 < r <= 1.0 for r in ratios):
        raise ValueError(f"keep_ratios must lie in (0, 1], got {list(ratios)}")
    if any(b > a for a, b in zip(ratios, ratios[1:])):
        raise ValueError(f"keep_ratios must not increase from stage to stage (pruned tokens do not come back), "
                         f"got {list(ratios)}")
