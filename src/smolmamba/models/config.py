"""ModelCfg: every choice that shapes a model, nested by concern (input, neuron, mixer, pruning).

Each part checks itself when made; ModelCfg checks the choices that span parts. Users, presets, train
configs (`model.keep_ratios=...`) and the CLI give options by flat name; FLAT_OPTIONS maps each to its
part, and `replace` / `from_flat` apply them, `fields` reads them back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from smolmamba.checks import check_choice, check_positive, check_sizes, is_int
from smolmamba.layers.mixer_cfg import MIXERS, MixerCfg, SMixerCfg, SSACfg, SSMCfg
from smolmamba.models.config_parts import InputCfg, NeuronCfg, PruningCfg

__all__ = ["FLAT_OPTIONS", "InputCfg", "MIXERS", "ModelCfg", "NeuronCfg", "PruningCfg", "SMixerCfg", "SSACfg",
           "SSMCfg"]

TOP = "model"  # the concern of ModelCfg's own fields
PARTS = {"input": InputCfg, "neuron": NeuronCfg, "pruning": PruningCfg}  # the mixer's part is one of MIXERS

# flat name -> (concern, field): a mixer's options are under its kind, "mixer" names the kind
FLAT_OPTIONS: dict[str, tuple[str, str]] = {
    "num_classes": (TOP, "num_classes"), "embed_dim": (TOP, "embed_dim"), "depth": (TOP, "depth"),
    "mlp_ratio": (TOP, "mlp_ratio"),
    "img_size": ("input", "img_size"), "patch_size": ("input", "patch_size"), "in_chans": ("input", "in_chans"),
    "time_steps": ("input", "time_steps"), "events": ("input", "events"),
    "tau": ("neuron", "tau"), "v_threshold": ("neuron", "v_threshold"), "surrogate": ("neuron", "surrogate"),
    "surrogate_alpha": ("neuron", "surrogate_alpha"), "detach_reset": ("neuron", "detach_reset"),
    "lif_kernel": ("neuron", "lif_kernel"),
    "mixer": ("mixer", "kind"),
    "expand": ("ssm", "expand"), "d_state": ("ssm", "d_state"), "dt_rank": ("ssm", "dt_rank"),
    "scan_impl": ("ssm", "scan_impl"), "u_norm": ("ssm", "u_norm"), "u_spikes": ("ssm", "u_spikes"),
    "z_gate": ("ssm", "z_gate"), "y_spikes": ("ssm", "y_spikes"), "dt_max": ("ssm", "dt_max"),
    "gate_bias": ("ssm", "gate_bias"), "scan_out_bias": ("ssm", "scan_out_bias"), "u_gain": ("ssm", "u_gain"),
    "num_heads": ("ssa", "num_heads"), "attn_scale": ("ssa", "attn_scale"),
    "pruner": ("pruning", "pruner"), "keep_ratios": ("pruning", "keep_ratios"),
    "prune_start": ("pruning", "prune_start"), "align": ("pruning", "align"),
    "fuse_pruned": ("pruning", "fuse_pruned"), "pruner_ste": ("pruning", "pruner_ste"),
    "pruning_mode": ("pruning", "mode"), "input_pruner": ("pruning", "input_pruner"),
    "spatial_prune_rate": ("pruning", "spatial_prune_rate"),
    "temporal_prune_rate": ("pruning", "temporal_prune_rate"),
}


@dataclass(frozen=True)
class ModelCfg:
    """The sizes and one part per concern: ModelCfg(embed_dim=64, mixer=SSACfg(num_heads=2)), or by flat
    options: ModelCfg.from_flat(embed_dim=64, mixer="ssa", num_heads=2)."""

    num_classes: int = 10  # 0: no head (pooled features [B, D] out)
    embed_dim: int = 384  # D, token channels
    depth: int = 4  # number of blocks
    mlp_ratio: float = 4.0  # MLP hidden = mlp_ratio * D
    input: InputCfg = field(default_factory=InputCfg)
    neuron: NeuronCfg = field(default_factory=NeuronCfg)
    mixer: MixerCfg = field(default_factory=SSMCfg)  # its type is the token mixer of every block
    pruning: PruningCfg = field(default_factory=PruningCfg)

    def __post_init__(self):
        validate(self)

    @classmethod
    def from_flat(cls, **flat) -> ModelCfg:
        """The defaults with flat options applied as `replace` applies them: from_flat(mixer="ssa", num_heads=2)."""
        return cls().replace(**flat)

    def replace(self, **flat) -> ModelCfg:
        """A copy with flat options changed. mixer="ssa" (another kind) starts that mixer's options at their
        defaults, plus those given here. ValueError naming an unknown option, or one of another mixer."""
        unknown = sorted(set(flat) - set(FLAT_OPTIONS))
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}; valid options: {sorted(FLAT_OPTIONS)}")
        kind = flat.pop("mixer", self.mixer.kind)
        check_choice("mixer", kind, tuple(MIXERS))
        changes: dict[str, dict] = {concern: {} for concern in (TOP, *PARTS, kind)}
        for name, value in flat.items():
            concern, part_field = FLAT_OPTIONS[name]
            if concern not in changes:
                raise ValueError(f"{name} is an option of the {concern!r} mixer, but the mixer is {kind!r}: "
                                 f"drop {name}, or give mixer={concern!r} as well")
            changes[concern][part_field] = value
        mixer = self.mixer if kind == self.mixer.kind else MIXERS[kind]()
        parts = {name: dataclasses.replace(getattr(self, name), **changes[name]) for name in PARTS}
        return dataclasses.replace(self, **changes[TOP], **parts, mixer=dataclasses.replace(mixer, **changes[kind]))

    def fields(self) -> dict:
        """Every option that applies to this model by flat name (create_model's keywords): the mixer's kind as
        "mixer" and its own options; those of other mixers are absent."""
        parts = {TOP: self, "input": self.input, "neuron": self.neuron, "pruning": self.pruning,
                 "mixer": self.mixer, self.mixer.kind: self.mixer}
        return {name: getattr(parts[concern], part_field) for name, (concern, part_field) in FLAT_OPTIONS.items()
                if concern in parts}

    def to_json(self) -> dict:
        """Nested, as manifest.json stores it; the mixer's dict holds its kind."""
        data = dataclasses.asdict(self)
        data["mixer"] = {"kind": self.mixer.kind, **data["mixer"]}
        return data

    @classmethod
    def from_json(cls, data: dict) -> ModelCfg:
        """Inverse of to_json (lists read as tuples)."""
        options = dict(data["mixer"])
        kind = options.pop("kind")
        check_choice("mixer", kind, tuple(MIXERS))
        top = {k: v for k, v in data.items() if k not in PARTS and k != "mixer"}
        return cls(**top, **{name: part(**data[name]) for name, part in PARTS.items()}, mixer=MIXERS[kind](**options))


def validate(cfg: ModelCfg) -> None:
    """Raise ValueError on a bad top-level option or a choice that spans parts, naming the option and the fix."""
    for name, part in PARTS.items():
        if not isinstance(getattr(cfg, name), part):
            raise ValueError(f"{name} must be a {part.__name__}, got {getattr(cfg, name)!r}")
    if not isinstance(cfg.mixer, tuple(MIXERS.values())):
        raise ValueError(f"mixer must be one of {[m.__name__ for m in MIXERS.values()]}, got {cfg.mixer!r}")
    check_sizes(cfg, "embed_dim", "depth")
    check_positive(cfg, "mlp_ratio")
    if not (is_int(cfg.num_classes) and cfg.num_classes >= 0):
        raise ValueError(f"num_classes must be >= 0 (0: no head), got {cfg.num_classes!r}")
    pruning = cfg.pruning
    if pruning.prune_start >= cfg.depth:
        raise ValueError(f"prune_start={pruning.prune_start} must lie in [0, depth={cfg.depth})")
    if pruning.pruner not in (None, "none") and len(pruning.keep_ratios) > cfg.depth - pruning.prune_start:
        raise ValueError(f"{len(pruning.keep_ratios)} pruning stages need at least as many blocks from prune_start="
                         f"{pruning.prune_start}; depth={cfg.depth}")
    if pruning.fuse_pruned and isinstance(cfg.mixer, SSMCfg):
        raise ValueError("fuse_pruned=True needs a mixer without positional alignment (ssa, smixer); "
                         "the SSM's aligned scan has no place for a fused token: set fuse_pruned=False")
    if isinstance(cfg.mixer, SSACfg) and cfg.embed_dim % cfg.mixer.num_heads:
        raise ValueError(f"num_heads={cfg.mixer.num_heads} must divide embed_dim={cfg.embed_dim}")
