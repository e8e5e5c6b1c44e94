"""Energy accounting: operation counts measured on real spike tensors in, an energy table out.

Forward hooks record, for every layer that computes, its dense operation count, the measured
firing rate of its input, whether that input is verified binary, and its class:
  - "synapse" layers (Conv2d, Linear, mixing matrices): AC = dense x input firing rate when the
    input is binary, else MAC = dense;
  - "scan": the selective scan's real-valued MACs per kept token and step (never AC);
  - "gate": real values selected by spikes (y * LIF(z)): AC x gate firing rate;
  - "neuron": LIF membrane updates, one MAC per element and step;
  - "norm": BatchNorm / LayerNorm, one MAC per element (foldable at inference; counted unfolded);
  - "add": residual additions and pruner scoring, one AC per element;
  - "head": the classifier.
Two conventions: `strict` (the above) and `paper` (spiking-Transformer papers: the first layer is
MAC, every later synapse/scan/gate layer AC = firing rate x dense ops, BN folded and excluded,
neurons and adds excluded). Energy = E_MAC * MACs + E_AC * ACs (45 nm: 4.6 pJ and 0.9 pJ).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from smolmamba.neurons import LIF

E_MAC_PJ = 4.6
E_AC_PJ = 0.9
CONVENTIONS = ("strict", "paper")
EXCLUDED_IN_PAPER = ("neuron", "norm", "add")


@dataclass(frozen=True)
class SpikeStats:
    """What the counter needs of one input tensor: non-zero count, size, and whether it is 0/1."""

    nonzero: float
    elements: int
    binary: bool

    @property
    def rate(self) -> float:
        return self.nonzero / max(self.elements, 1)


def spike_stats(x: Tensor) -> SpikeStats:
    """Measure x once: count of non-zeros, elements, and whether every element is exactly 0 or 1."""
    x = x.detach()
    return SpikeStats(float(torch.count_nonzero(x)), x.numel(), bool(torch.all((x == 0) | (x == 1))))


@dataclass
class LayerCount:
    """Operation counts of one layer, summed over the batches seen."""

    name: str
    kind: str  # synapse | scan | gate | neuron | norm | add | head
    order: int  # first call order in the forward pass
    dense: float = 0.0  # operations if every input were active
    active: float = 0.0  # dense x measured input firing rate (binary inputs only)
    binary: bool = True  # every input seen so far was exactly 0/1
    nonzero: float = 0.0  # input elements != 0
    elements: float = 0.0  # input elements

    @property
    def firing_rate(self) -> float:
        return self.nonzero / self.elements if self.elements else float("nan")

    def add(self, dense: float, stats: SpikeStats | None) -> None:
        """Record one call with the stats of its input (None: not a spike-driven op)."""
        self.dense += dense
        if stats is None:
            self.binary = False
            return
        self.nonzero += stats.nonzero
        self.elements += stats.elements
        self.binary = self.binary and stats.binary
        self.active += dense * stats.nonzero / max(stats.elements, 1)


@dataclass
class EnergyReport:
    """Per-layer counts and per-image totals under one convention."""

    convention: str
    images: int
    e_mac_pj: float
    e_ac_pj: float
    layers: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """A plain-text per-layer table with totals, per image."""
        head = f"{'layer':46s} {'kind':8s} {'rate':>6s} {'bin':>3s} {'MMAC':>10s} {'MAC(M)':>9s} " \
               f"{'AC(M)':>9s} {'uJ':>9s}"
        lines = [head, "-" * len(head)]
        for row in self.layers:
            lines.append(
                f"{row['name'][:46]:46s} {row['kind']:8s} {row['firing_rate']:6.3f} "
                f"{'y' if row['binary'] else 'n':>3s} {row['dense'] / 1e6:10.3f} {row['macs'] / 1e6:9.3f} "
                f"{row['acs'] / 1e6:9.3f} {row['energy_uj']:9.4f}"
            )
        t = self.totals
        lines.append("-" * len(head))
        lines.append(f"{'total per image (' + self.convention + ')':46s} {'':8s} {t['mean_firing_rate']:6.3f} "
                     f"{'':>3s} {t['dense'] / 1e6:10.3f} {t['macs'] / 1e6:9.3f} {t['acs'] / 1e6:9.3f} "
                     f"{t['energy_uj']:9.4f}")
        return "\n".join(lines)


def _rate_input(x: Tensor) -> Tensor:
    return x[0] if isinstance(x, tuple) else x


class EnergyMeter:
    """Context manager: `with EnergyMeter(model) as meter: model(x)`, then `meter.report()`.

    Hooks are removed on exit, so nothing stays attached to the model.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.counts: dict[str, LayerCount] = {}
        self.images = 0
        self._handles = []
        self._lif_stats: dict[int, SpikeStats] = {}  # id(LIF module) -> stats of its last output

    # ---------------------------------------------------------------- hooks
    def _count(self, name: str, kind: str) -> LayerCount:
        if name not in self.counts:
            self.counts[name] = LayerCount(name, kind, order=len(self.counts))
        return self.counts[name]

    def __enter__(self) -> "EnergyMeter":
        from smolmamba.layers.attention import SpikingSelfAttention
        from smolmamba.layers.block import Block
        from smolmamba.layers.dstsp import DSTSP
        from smolmamba.layers.smixer import SpikingTokenMixer
        from smolmamba.layers.norms import ScaleNorm
        from smolmamba.layers.pruning import TokenPruner
        from smolmamba.layers.ssm import SpikingSSM

        def root_pre_hook(module, args):
            self.images += int(args[0].shape[0])

        self._handles.append(self.model.register_forward_pre_hook(root_pre_hook))
        for name, module in self.model.named_modules():
            hook = None
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                kind = "head" if name.endswith("head") and isinstance(module, nn.Linear) else "synapse"
                hook = self._synapse_hook(name, kind)
            elif isinstance(module, LIF):
                hook = self._neuron_hook(name)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, ScaleNorm)):
                hook = self._elementwise_hook(name, "head" if "head" in name else "norm")
            elif isinstance(module, nn.MaxPool2d):
                hook = self._pool_hook(name)
            elif isinstance(module, SpikingSSM):
                hook = self._ssm_hook(name, module)
            elif isinstance(module, TokenPruner):
                hook = self._pruner_hook(name)
            elif isinstance(module, Block):
                hook = self._residual_hook(name)
            elif isinstance(module, SpikingSelfAttention):
                hook = self._attention_hook(name, module)
            elif isinstance(module, SpikingTokenMixer):
                hook = self._token_mixer_hook(name, module)
            elif isinstance(module, DSTSP):
                hook = self._dstsp_hook(name)
            if hook is not None:
                self._handles.append(module.register_forward_hook(hook))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._lif_stats.clear()

    def _synapse_hook(self, name, kind):
        def hook(module, args, out):
            x = _rate_input(args)
            if isinstance(module, nn.Linear):
                dense = out.numel() * module.in_features
            else:
                k = module.in_channels // module.groups * math.prod(module.kernel_size)
                dense = out.numel() * k
            self._count(name, kind).add(float(dense), spike_stats(x))
        return hook

    def _neuron_hook(self, name):
        def hook(module, args, out):
            spikes = out[0] if isinstance(out, tuple) else out
            stats = self._lif_stats[id(module)] = spike_stats(spikes)  # measured once, read by mixers
            self._count(name, "neuron").add(float(spikes.numel()), stats)  # rate of its output spikes
        return hook

    def _elementwise_hook(self, name, kind):
        def hook(module, args, out):
            self._count(name, kind).add(float(out.numel()), None)
        return hook

    def _pool_hook(self, name):
        def hook(module, args, out):
            window = math.prod(_pair(module.kernel_size))
            self._count(name, "add").add(float(out.numel() * (window - 1)), None)
        return hook

    def _residual_hook(self, name):
        def hook(module, args, out):
            x = out[0]
            self._count(name + ".residual", "add").add(float(2 * x.numel()), None)
        return hook

    def _pruner_hook(self, name):
        def hook(module, args, out):
            spikes = args[1]
            t, b, n, d = spikes.shape
            scoring = t * b * n * d + 4 * b * n  # spike sums, normalisation, latency, weighted sum
            sorting = b * n * max(math.log2(max(n, 2)), 1.0)  # comparisons of the sort
            self._count(name, "add").add(float(scoring + sorting), None)
        return hook

    def _ssm_hook(self, name, module):
        def hook(module_, args, out):
            s, positions, align = args
            t, b, n, _ = s.shape
            e = module.d_inner
            d_state = module.forward_dir.d_state
            per_token = 5 * d_state + 3  # exp(dA) (2N), dB*u (1+N), state update (N), readout (N), D*u
            if positions is not None and align:
                per_token += 1  # gap decay folded into delta' = delta + g * delta0
            scan = 2 * t * b * n * e * per_token + t * b * n * e  # two directions + their sum
            scan_count = self._count(name + ".scan", "scan")
            scan_count.add(float(scan), None)  # real-valued: never AC
            u = self._lif_stats.get(id(module.u_lif))
            if u is not None:  # the scan's input firing rate, for the paper convention
                scan_count.nonzero += u.nonzero
                scan_count.elements += u.elements
            if module.z_lif is not None:  # y * LIF(z); the block ablation can switch the gate off
                self._count(name + ".gate", "gate").add(float(t * b * n * e), self._lif_stats.get(id(module.z_lif)))
        return hook

    def _attention_hook(self, name, module):
        """Q K^T V on spikes, counted in the order it is computed (see attention.spiking_attention).

        A spike x spike product is an AND: AC x product of the two firing rates (Spikformer's rule);
        an integer matrix times spikes is AC x the spikes' firing rate.
        """
        def hook(module_, args, out):
            t, b, n, d = args[0].shape
            h = module.num_heads
            dh = d // h
            q, k, v = (self._lif_stats[id(lif)] for lif in (module.q_lif, module.k_lif, module.v_lif))
            kv_first = module.order == "kv_first" or (module.order == "auto" and n > dh)
            per_head = t * b * h * n * dh * (dh if kv_first else n)
            (a, b_), c = ((k, v), q) if kv_first else ((q, k), v)  # spike x spike, then matrix x spikes
            both = SpikeStats(a.rate * b_.rate * q.elements, q.elements, a.binary and b_.binary)  # an AND
            self._count(name + ".attn_first", "synapse").add(per_head, both)
            self._count(name + ".attn_second", "synapse").add(
                per_head, SpikeStats(c.rate * q.elements, q.elements, q.binary and v.binary))
        return hook

    def _token_mixer_hook(self, name, module):
        """W_M' V: a real n x n matrix times value spikes, per time step and channel."""
        def hook(module_, args, out):
            t, b, n, d = args[0].shape
            self._count(name + ".token_mix", "synapse").add(t * b * n * n * d, self._lif_stats[id(module.v_lif)])
        return hook

    def _dstsp_hook(self, name):
        def hook(module, args, out):
            t, b, n, d = args[0].shape
            scoring = t * b * n * d + b * n * max(math.log2(max(n, 2)), 1.0) + b * t * math.log2(max(t, 2))
            self._count(name, "add").add(float(scoring), None)
        return hook

    # ---------------------------------------------------------------- report
    def report(self, convention: str = "strict", e_mac_pj: float = E_MAC_PJ, e_ac_pj: float = E_AC_PJ
               ) -> EnergyReport:
        """Per-image counts and energy under `convention` ("strict" or "paper")."""
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown energy convention {convention!r}; choose one of {CONVENTIONS}")
        if self.images == 0:
            raise ValueError("no forward pass was measured; run the model inside `with EnergyMeter(model)`")
        rows = []
        first_synapse = min((c.order for c in self.counts.values() if c.kind == "synapse"), default=-1)
        for c in sorted(self.counts.values(), key=lambda c: c.order):
            macs, acs = self._classify(c, convention, c.order == first_synapse)
            per = 1.0 / self.images
            rows.append({
                "name": c.name, "kind": c.kind, "firing_rate": c.firing_rate,
                "binary": c.binary and c.elements > 0 and c.kind not in ("neuron", "scan"),
                "dense": c.dense * per, "macs": macs * per, "acs": acs * per,
                "energy_uj": (macs * e_mac_pj + acs * e_ac_pj) * per * 1e-6,
            })
        neurons = [c for c in self.counts.values() if c.kind == "neuron" and c.elements]
        totals = {
            "dense": sum(r["dense"] for r in rows),
            "macs": sum(r["macs"] for r in rows),
            "acs": sum(r["acs"] for r in rows),
            "energy_uj": sum(r["energy_uj"] for r in rows),
            "mean_firing_rate": sum(c.firing_rate for c in neurons) / len(neurons) if neurons else float("nan"),
            "spikes_per_neuron_step": (sum(c.nonzero for c in neurons) / sum(c.elements for c in neurons)
                                       if neurons else float("nan")),
        }
        by_kind = {}
        for r in rows:
            k = by_kind.setdefault(r["kind"], {"macs": 0.0, "acs": 0.0, "energy_uj": 0.0})
            for key in k:
                k[key] += r[key]
        totals["by_kind"] = by_kind
        return EnergyReport(convention, self.images, e_mac_pj, e_ac_pj, rows, totals)

    @staticmethod
    def _classify(c: LayerCount, convention: str, is_first: bool) -> tuple[float, float]:
        """(MACs, ACs) of one layer under a convention."""
        spike_driven = c.binary and c.elements > 0
        if convention == "strict":
            if c.kind in ("synapse", "gate"):
                return (0.0, c.active) if spike_driven else (c.dense, 0.0)
            if c.kind == "add":
                return 0.0, c.dense
            return c.dense, 0.0  # scan, neuron, norm, head
        if c.kind in EXCLUDED_IN_PAPER:
            return 0.0, 0.0
        if is_first or c.kind == "head":
            return c.dense, 0.0
        rate = c.firing_rate if c.elements else 1.0
        return 0.0, c.dense * rate


def measure_energy(model_name: str, data: str | None = None, root=None, batches: int = 4,
                   batch_size: int = 32, convention: str = "both", e_mac_pj: float = E_MAC_PJ,
                   e_ac_pj: float = E_AC_PJ, checkpoint=None, seed: int = 0, **overrides) -> list[EnergyReport]:
    """Build (or load) a model, run `batches` real batches through it, report per convention.

    A built model's random initialisation is seeded by `seed`, so repeated calls give the same figures.

    A randomly initialised model first has its norm statistics calibrated on the same batches
    (`calibrate_norms`): default running statistics leave an untrained spiking net silent in eval.
    """
    from smolmamba.data.model_input import model_batches
    from smolmamba.models import create_model
    from smolmamba.models.network import calibrate_norms

    if checkpoint is not None:
        from smolmamba.train.checkpoint import load_model

        model, _ = load_model(checkpoint)
    else:
        torch.manual_seed(seed)
        model = create_model(model_name, **overrides)
    inputs = [x for x, _ in model_batches(model.cfg, data, root, "test", batches, batch_size)]
    if checkpoint is None:
        calibrate_norms(model, inputs)
    model.eval()
    with EnergyMeter(model) as meter, torch.no_grad():
        for x in inputs:
            model(x)
    conventions = CONVENTIONS if convention == "both" else (convention,)
    return [meter.report(c, e_mac_pj, e_ac_pj) for c in conventions]
