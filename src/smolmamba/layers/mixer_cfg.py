"""The token mixers' options, one frozen dataclass per mixer, checked when made: SSMCfg (layers/ssm.py),
SSACfg (layers/attention.py), SMixerCfg (layers/smixer.py). Which mixer a model has is the type of its
options; `kind` names it where configs and results say "ssm", "ssa" or "smixer"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from smolmamba.checks import (check_choice, check_flags, check_numbers, check_positive, check_sizes, is_finite,
                              is_positive_int)
from smolmamba.ops import IMPLS

U_NORMS = ("scale", "batch")
DT_MIN = 1e-3  # lower end of the log-uniform dt init


@dataclass(frozen=True)
class SSMCfg:
    """The spiking SSM: sizes, scan backend and the block's design switches (`smolmamba ablate --only block`);
    defaults = the model."""

    kind: ClassVar[str] = "ssm"
    expand: int = 1  # inner channels E = expand * D
    d_state: int = 16  # state size N
    dt_rank: int | None = None  # None: ceil(D / 16), as Mamba
    scan_impl: str = "auto"  # the scan's backend, one of ops.IMPLS (ops/backend.py)
    u_norm: str = "scale"  # the norm before the scan input's LIF: scale (keeps silent tokens at u = 0) | batch
    u_spikes: bool = True  # LIF on u before the scan
    z_gate: bool = True  # y * LIF(BN(z))
    y_spikes: bool = True  # BN -> LIF after the scan, so out_proj sees spikes
    dt_max: float = 0.1  # upper end of the log-uniform dt init (Mamba: 1e-3 .. 1e-1)
    gate_bias: float = 1.0  # initial BatchNorm shift of z before the gate's LIF: 1.0 opens the gate (23 % firing)
    scan_out_bias: float = 0.0  # initial BatchNorm shift of the scan output before its LIF
    u_gain: float = 1.0  # initial ScaleNorm gain of u before the scan input's LIF

    def __post_init__(self):
        check_sizes(self, "expand", "d_state")
        if self.dt_rank is not None and not is_positive_int(self.dt_rank):
            raise ValueError(f"dt_rank must be an int >= 1 or None (ceil(embed_dim / 16)), got {self.dt_rank!r}")
        check_choice("scan_impl", self.scan_impl, IMPLS)
        check_choice("u_norm", self.u_norm, U_NORMS)
        check_flags(self, "u_spikes", "z_gate", "y_spikes")
        check_positive(self, "u_gain")
        check_numbers(self, "gate_bias", "scan_out_bias")
        if not (is_finite(self.dt_max) and self.dt_max >= DT_MIN):
            raise ValueError(f"dt_max must be a finite number >= {DT_MIN} (dt is drawn log-uniform from {DT_MIN} "
                             f"to dt_max), got {self.dt_max!r}")


@dataclass(frozen=True)
class SSACfg:
    """Spikformer's spiking self-attention."""

    kind: ClassVar[str] = "ssa"
    num_heads: int = 8  # must divide embed_dim
    attn_scale: float = 0.125  # Q K^T V * scale

    def __post_init__(self):
        check_sizes(self, "num_heads")
        check_positive(self, "attn_scale")


@dataclass(frozen=True)
class SMixerCfg:
    """SMixer's token mixer: no options of its own (its token matrix follows the input and the pruning)."""

    kind: ClassVar[str] = "smixer"


MixerCfg = SSMCfg | SSACfg | SMixerCfg
MIXERS: dict[str, type] = {cls.kind: cls for cls in (SSMCfg, SSACfg, SMixerCfg)}
