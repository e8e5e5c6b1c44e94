"""ModelCfg: every choice that shapes a model, as one typed dataclass, validated at construction."""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from dataclasses import dataclass

from smolmamba.layers.pruning import check_pruner_name
from smolmamba.neurons import KERNELS
from smolmamba.ops import IMPLS

MIXER_NAMES = ("ssm", "ssa", "smixer")
INPUT_PRUNERS = ("dstsp",)
PRUNING_MODES = ("train", "zero_shot", "off")


@dataclass(frozen=True)
class ModelCfg:
    img_size: int = 32  # input height = width
    patch_size: int = 4  # power of two, divides img_size
    in_chans: int = 3  # 3 for RGB, 1 for grey, 2 for event polarities
    num_classes: int = 10
    embed_dim: int = 384  # D, token channels
    depth: int = 4  # number of blocks
    mlp_ratio: float = 4.0  # MLP hidden = mlp_ratio * D
    time_steps: int = 4  # T; for events it must match the frames
    events: bool = False  # True: input is event frames [B, T, 2, H, W]
    mixer: str = "ssm"  # token mixer of every block
    expand: int = 1  # SSM inner channels E = expand * D
    d_state: int = 16  # SSM state size N
    dt_rank: int | None = None  # None: ceil(D / 16), as Mamba
    pruner: str | None = "sst_tp"  # see layers.pruning.PRUNERS; None or "none" for dense
    keep_ratios: tuple[float, ...] = (0.8, 0.6, 0.5, 0.4)  # of the ORIGINAL tokens, one per stage
    align: bool = True  # pruning-aware hidden-state alignment; False = naive pruning
    fuse_pruned: bool = False  # merge the tokens a pruner drops into one fused token (EViT); not ssm
    input_pruner: str | None = None  # "dstsp": SMixer's DSTSP once after the patch embedding
    spatial_prune_rate: float = 0.3  # DSTSP P_S: N' = max(1, round(N (1 - P_S)))
    temporal_prune_rate: float = 1.0  # DSTSP P_T: T' = max(1, round(T (1 - P_T))); 1.0 keeps one step
    num_heads: int = 8  # SSA heads
    attn_scale: float = 0.125  # SSA: Q K^T V * scale
    pruning_mode: str = "train"  # train: always prune; zero_shot: prune only in eval; off
    scan_impl: str = "auto"  # auto | reference | torch | cuda
    tau: float = 2.0  # LIF membrane time constant
    v_threshold: float = 1.0
    surrogate: str = "sigmoid"
    detach_reset: bool = False
    lif_kernel: str = "auto"  # auto | numba | triton | torch (neurons.lif_kernel)
    surrogate_alpha: float | None = None  # surrogate sharpness; None: the surrogate's default (sigmoid: 4)
    # design switches of the SSM block and the pruner (defaults = the model; `smolmamba ablate --only block`)
    u_norm: str = "scale"  # scale | batch: the norm before the scan's input LIF
    u_spikes: bool = True  # LIF on u before the scan
    z_gate: bool = True  # gate the scan output by LIF(BN(z))
    y_spikes: bool = True  # BN -> LIF after the scan
    dt_max: float = 0.1  # dt init upper end (log-uniform from 1e-3)
    gate_bias: float = 1.0  # init shift of BN(z) before the gate's LIF (docs/ARCHITECTURE.md, initialisation)
    scan_out_bias: float = 0.0  # init shift of BN(scan output) before its LIF
    u_gain: float = 1.0  # init gain of ScaleNorm(u) before the scan input's LIF
    prune_start: int = 0  # first block that may start a pruning stage (0: the first block prunes)
    pruner_ste: bool = True  # SST-TP's straight-through factor (gradient to its alpha, beta)

    def __post_init__(self):
        object.__setattr__(self, "keep_ratios", tuple(float(r) for r in self.keep_ratios))
        validate(self)

    @property
    def num_tokens(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    @property
    def prunes(self) -> bool:
        return self.pruner not in (None, "none") and self.pruning_mode != "off"

    def pruning_runs(self, training: bool) -> bool:
        """Whether pruning_mode lets pruners run in this mode: train always, zero_shot in eval only, off never."""
        return self.pruning_mode == "train" or (self.pruning_mode == "zero_shot" and not training)

    @property
    def lif_kwargs(self) -> dict:
        return {"tau": self.tau, "v_threshold": self.v_threshold, "surrogate": self.surrogate,
                "detach_reset": self.detach_reset, "kernel": self.lif_kernel,
                "alpha": self.surrogate_alpha}

    def fields(self) -> dict:
        """Every option by name, as create_model's keyword overrides."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **overrides) -> "ModelCfg":
        """A copy with some fields changed; an unknown field is a ValueError naming it."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}; valid options: {sorted(names)}")
        return dataclasses.replace(self, **overrides)


POSITIVE_INTS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "time_steps", "expand", "d_state",
                 "num_heads")
FLAGS = ("events", "align", "fuse_pruned", "detach_reset", "u_spikes", "z_gate", "y_spikes", "pruner_ste")


def check_choice(field: str, value, choices: tuple) -> None:
    """ValueError unless value is one of choices, naming the closest."""
    if value not in choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{field}={value!r} is unknown; choose one of {choices}{hint}")


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _finite(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_types(cfg: ModelCfg) -> None:
    """Sizes are positive ints, flags bools, the init constants finite numbers."""
    for name in POSITIVE_INTS:
        if not _positive_int(getattr(cfg, name)):
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)!r} (sizes are ints)")
    if cfg.dt_rank is not None and not _positive_int(cfg.dt_rank):
        raise ValueError(f"dt_rank must be an int >= 1 or None (ceil(embed_dim / 16)), got {cfg.dt_rank!r}")
    for name in FLAGS:
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(cfg, name)!r}")
    for name in ("mlp_ratio", "attn_scale", "u_gain"):
        if not (_finite(getattr(cfg, name)) and getattr(cfg, name) > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {getattr(cfg, name)!r}")
    for name in ("gate_bias", "scan_out_bias"):
        if not _finite(getattr(cfg, name)):
            raise ValueError(f"{name} must be a finite number, got {getattr(cfg, name)!r}")
    if not (_finite(cfg.dt_max) and cfg.dt_max >= 1e-3):
        raise ValueError(f"dt_max must be a finite number >= 1e-3 (dt is drawn log-uniform from 1e-3 to dt_max), "
                         f"got {cfg.dt_max!r}")


def validate(cfg: ModelCfg) -> None:
    """Raise ValueError on any inconsistent choice, naming the field and the fix."""
    check_types(cfg)
    check_choice("scan_impl", cfg.scan_impl, IMPLS)
    check_choice("lif_kernel", cfg.lif_kernel, KERNELS)
    if cfg.u_norm not in ("scale", "batch"):
        raise ValueError(f"u_norm must be 'scale' or 'batch', got {cfg.u_norm!r}")
    if not 0 <= cfg.prune_start < cfg.depth:
        raise ValueError(f"prune_start={cfg.prune_start} must lie in [0, depth={cfg.depth})")
    if cfg.events and cfg.in_chans != 2:
        raise ValueError(f"event models take 2 polarity channels; got in_chans={cfg.in_chans}")
    if cfg.mixer not in MIXER_NAMES:
        raise ValueError(f"unknown mixer {cfg.mixer!r}; choose one of {MIXER_NAMES}")
    if cfg.pruning_mode not in PRUNING_MODES:
        raise ValueError(f"unknown pruning_mode {cfg.pruning_mode!r}; choose one of {PRUNING_MODES}")
    check_pruner_name(cfg.pruner)
    check_peer_options(cfg)
    if cfg.pruner not in (None, "none"):
        if not cfg.keep_ratios:
            raise ValueError("keep_ratios is empty; give one ratio per stage, e.g. (0.8, 0.6, 0.5, 0.4)")
        for r in cfg.keep_ratios:
            if not 0.0 < r <= 1.0:
                raise ValueError(f"keep_ratios must lie in (0, 1], got {list(cfg.keep_ratios)}")
        if any(b > a for a, b in zip(cfg.keep_ratios, cfg.keep_ratios[1:])):
            raise ValueError(
                f"keep_ratios must not increase from stage to stage (pruned tokens do not come back), "
                f"got {list(cfg.keep_ratios)}"
            )
        if len(cfg.keep_ratios) > cfg.depth - cfg.prune_start:
            raise ValueError(
                f"{len(cfg.keep_ratios)} pruning stages need at least as many blocks from prune_start="
                f"{cfg.prune_start}; depth={cfg.depth}"
            )


def check_peer_options(cfg: ModelCfg) -> None:
    """Options of the peers: SSA heads, fused tokens, the DSTSP input pruner."""
    if cfg.mixer == "ssa" and (cfg.num_heads < 1 or cfg.embed_dim % cfg.num_heads):
        raise ValueError(f"num_heads={cfg.num_heads} must divide embed_dim={cfg.embed_dim}")
    if cfg.fuse_pruned and cfg.mixer == "ssm":
        raise ValueError("fuse_pruned=True needs a mixer without positional alignment (ssa, smixer); "
                         "the SSM's aligned scan has no place for a fused token: set fuse_pruned=False")
    if cfg.input_pruner not in (None, "none") + INPUT_PRUNERS:
        raise ValueError(f"unknown input_pruner {cfg.input_pruner!r}; choose one of "
                         f"{list(INPUT_PRUNERS) + ['none']}")
    if not 0.0 <= cfg.spatial_prune_rate < 1.0:
        raise ValueError(f"spatial_prune_rate must lie in [0, 1), got {cfg.spatial_prune_rate}")
    if not 0.0 <= cfg.temporal_prune_rate <= 1.0:
        raise ValueError(f"temporal_prune_rate must lie in [0, 1] (1.0 keeps one step), "
                         f"got {cfg.temporal_prune_rate}")
