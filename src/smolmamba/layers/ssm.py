"""Spiking bidirectional selective state-space mixer (the token mixer of the SmolMamba block).

Shapes: spikes s [T, B, N, D] -> out [T, B, N, D]. The scan runs along N with T folded into the
batch: [T*B, E, N] in the scan's own layout (E = expand * D channels).
Every projection that sees a token is bias-free, so a silenced token (all-zero spikes) yields
u = 0 and delta = softplus(delta_bias): exactly what pruning-aware alignment assumes for a pruned one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from smolmamba.layers.carry import MixerOut
from smolmamba.layers.counts import OpCount
from smolmamba.layers.mixer_cfg import DT_MIN, SSMCfg
from smolmamba.layers.norms import ScaleNorm
from smolmamba.neurons import LIF
from smolmamba.ops import ScanParams, bidirectional_scan
from smolmamba.precision import float32_if_low

torch.fx.wrap("float32_if_low")  # a leaf for torch.fx: the dtype is known only when it runs


def scan_ops(t: int, b: int, n: int, e: int, d_state: int, aligned: bool) -> int:
    """Real-valued MACs of the bidirectional scan over n tokens of e channels, T*B sequences.

    Per token, channel and direction 5N + 4, as ops/scan.py computes them (docs/ENERGY.md): delta + delta_bias
    (1), softplus (1), exp(delta A) (2N: product and exponential), delta u (1), delta u B (N), state update
    exp(delta A) h + delta u B (N), readout <C, h> (N), D u skip (1); one more when aligned (the gap decay
    folded into delta' = delta + g * delta0); then one addition per token and channel sums the directions.
    """
    per_token = 5 * d_state + 4 + int(aligned)
    return 2 * t * b * n * e * per_token + t * b * n * e


class ScanDirection(nn.Module):
    """Parameters of one scan direction: x_proj -> (dt, B, C), dt_proj, A_log, D, dt bias (Mamba init)."""

    def __init__(self, d_inner: int, d_state: int, dt_rank: int, dt_min: float = DT_MIN, dt_max: float = 1e-1):
        super().__init__()
        self.d_state, self.dt_rank = d_state, dt_rank
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=False)
        nn.init.uniform_(self.dt_proj.weight, -(dt_rank**-0.5), dt_rank**-0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) = dt
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)  # S4D-real
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.A_log._no_weight_decay = True  # as mamba_ssm: decay would pull A towards -1 (slow forgetting)
        self.D._no_weight_decay = True

    def params(self, u_tokens: Tensor) -> ScanParams:
        """u_tokens [T*B, L, E] (spikes) -> this direction's scan inputs in scan layout; bf16/fp16 ones (autocast's
        projections) in float32, so the scan's state, A, D and dt bias never drop below float32."""
        dt, b, c = self.x_proj(u_tokens).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = self.dt_proj(dt).transpose(1, 2)  # (TB, E, L), pre-bias
        u, b, c = u_tokens.transpose(1, 2), b.transpose(1, 2), c.transpose(1, 2)  # u (TB, E, L); b, c (TB, N, L)
        u, delta, b, c = (float32_if_low(t) for t in (u, delta, b, c))
        return ScanParams(u=u, delta=delta, A=-torch.exp(self.A_log.to(u.dtype)), B=b, C=c, D=self.D.to(u.dtype),
                          delta_bias=self.dt_bias.to(u.dtype))


class SpikingSSM(nn.Module):
    """in_proj (spikes) -> u, z; LIF(ScaleNorm(u)) -> bidirectional scan -> * LIF(BN(z)) -> BN -> LIF
    -> out_proj -> BN. u's norm does not centre (a silent token keeps u = 0); z and the scan output
    are per-token paths, normalised by BatchNorm.

    forward(s [T,B,N,D], positions [B,N] original indices or None, align) -> MixerOut(out [T,B,N,D],
    values = the gated scan output y [T,B,N,E]). align=False scans the kept tokens as if adjacent (naive
    pruning). cfg: sizes, switches and cfg.scan_impl (checked by SSMCfg; whether it can run on the input's
    device is decided at the first forward, ops/backend.py).
    """

    profile_label, profile_inner_label = "mixer", "projections"

    def __init__(self, dim: int, cfg: SSMCfg, lif_kwargs: dict):
        super().__init__()
        d_inner = cfg.expand * dim
        dt_rank = cfg.dt_rank or math.ceil(dim / 16)
        self.d_inner, self.scan_impl = d_inner, cfg.scan_impl
        self.in_proj = nn.Linear(dim, 2 * d_inner, bias=False)
        self.u_norm = ScaleNorm(d_inner) if cfg.u_norm == "scale" else nn.BatchNorm1d(d_inner)
        self.u_lif = LIF(**lif_kwargs) if cfg.u_spikes else None
        self.z_norm = nn.BatchNorm1d(d_inner) if cfg.z_gate else None
        self.z_lif = LIF(**lif_kwargs) if cfg.z_gate else None
        self.forward_dir = ScanDirection(d_inner, cfg.d_state, dt_rank, dt_max=cfg.dt_max)
        self.backward_dir = ScanDirection(d_inner, cfg.d_state, dt_rank, dt_max=cfg.dt_max)
        self.y_norm = nn.BatchNorm1d(d_inner) if cfg.y_spikes else None
        self.y_lif = LIF(**lif_kwargs) if cfg.y_spikes else None
        self.out_proj = nn.Linear(d_inner, dim, bias=False)
        self.out_norm = nn.BatchNorm1d(dim)
        self._init_spiking_stages(cfg)

    @torch.no_grad()
    def _init_spiking_stages(self, cfg: SSMCfg) -> None:
        """Where each LIF of the block starts: its norm's shift (and u's gain) set how often it fires."""
        self.u_norm.weight.fill_(cfg.u_gain)
        if self.z_norm is not None:
            self.z_norm.bias.fill_(cfg.gate_bias)
        if self.y_norm is not None:
            self.y_norm.bias.fill_(cfg.scan_out_bias)

    def forward(self, s: Tensor, positions: Tensor | None = None, align: bool = True) -> MixerOut:
        t, b, n, _ = s.shape
        u, z = self.in_proj(s).chunk(2, dim=-1)  # (T, B, N, E) each
        if isinstance(self.u_norm, ScaleNorm):
            u = self.u_norm(u)
        else:  # ablation: a centring BatchNorm gives silent tokens u != 0 (alignment no longer exact)
            u = self.u_norm(u.flatten(0, 2)).view(t, b, n, -1)
        u = (u if self.u_lif is None else self.u_lif(u)).flatten(0, 1)  # (TB, N, E) spikes
        scan_pos = positions.repeat(t, 1) if (align and positions is not None) else None  # (TB, N)
        fwd, bwd = self.forward_dir.params(u), self.backward_dir.params(u)
        with record_function("smolmamba::scan"):  # a label for `smolmamba bench`'s profile
            # positions come sorted from the pruner and the model checks its input for NaN/inf
            # once, so the scan's per-call value checks (passes over u, delta, positions) are skipped
            y = bidirectional_scan(fwd, bwd, positions=scan_pos, impl=self.scan_impl,
                                   check_inputs=False)  # (TB, E, N)
        # the scan ran in float32: a bf16 model (model.to(torch.bfloat16)) gets bf16 back, while under autocast
        # (float32 weights) y stays float32 into the gate and its norm
        y = y.transpose(1, 2).unflatten(0, (t, b)).to(self.in_proj.weight.dtype)  # (T, B, N, E)
        if self.z_lif is not None:
            y = y * self.z_lif(self.z_norm(z.flatten(0, 2)).view(t, b, n, -1))  # gated by spikes
        gated = y if self.y_lif is None else self.y_lif(self.y_norm(y.flatten(0, 2)).view(t, b, n, -1))
        out = self.out_proj(gated)
        out = self.out_norm(out.flatten(0, 2)).view(t, b, n, -1)
        return MixerOut(out, y)

    def op_counts(self, inputs, out, spikes) -> list[OpCount]:
        """The scan (real-valued, never AC; u's firing rate kept for the paper convention) and the gate
        y * LIF(z): real values selected by spikes. Its Linear layers count themselves."""
        t, b, n, _ = inputs["s"].shape
        aligned = inputs["positions"] is not None and inputs["align"]
        scan = scan_ops(t, b, n, self.d_inner, self.forward_dir.d_state, aligned)
        counts = [OpCount(".scan", "scan", scan, spikes(self.u_lif) if self.u_lif is not None else None,
                          spike_driven=False)]
        if self.z_lif is not None:  # the block ablation can switch the gate off
            counts.append(OpCount(".gate", "gate", t * b * n * self.d_inner, spikes(self.z_lif)))
        return counts
