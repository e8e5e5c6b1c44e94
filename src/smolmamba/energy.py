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

import inspect
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from smolmamba.costs import E_AC_PJ, E_MAC_PJ
from smolmamba.layers.counts import SpikeStats, spike_stats
from smolmamba.neurons import LIF

__all__ = ["CONVENTIONS", "E_AC_PJ", "E_MAC_PJ", "EnergyMeter", "EnergyReport", "LayerCount", "measure_energy"]
CONVENTIONS = ("strict", "paper")
EXCLUDED_IN_PAPER = ("neuron", "norm", "add")


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

    def add(self, dense: float, stats: SpikeStats | None, spike_driven: bool = True) -> None:
        """Record one call with the stats of its input (None: not a spike-driven op; spike_driven=False:
        keep the input's firing rate, but the operations stay real-valued)."""
        self.dense += dense
        if stats is None:
            self.binary = False
            return
        self.nonzero += stats.nonzero
        self.elements += stats.elements
        self.binary = self.binary and stats.binary and spike_driven
        if spike_driven:
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


def call_inputs(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    """A forward call's arguments by parameter name, defaults filled in, however they were passed."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _first_input(args: tuple, kwargs: dict) -> Tensor:
    """The input a torch layer was called with, positionally (input) or by keyword."""
    return args[0] if args else next(iter(kwargs.values()))


def _linear_ops(module: nn.Linear, out: Tensor) -> int:
    return out.numel() * module.in_features


def _conv_ops(module: nn.Conv2d, out: Tensor) -> int:
    return out.numel() * (module.in_channels // module.groups * math.prod(module.kernel_size))


def _elementwise_ops(module: nn.Module, out: Tensor) -> int:
    return out.numel()


def _pool_ops(module: nn.MaxPool2d, out: Tensor) -> int:
    return out.numel() * (math.prod(_pair(module.kernel_size)) - 1)  # comparisons per window


# Torch's own layers cannot declare op_counts: (types, kind, dense operations, input spikes counted).
# Synapses on spikes are AC x firing rate; norms are one MAC per element (foldable at inference,
# counted unfolded); max-pooling is window - 1 comparisons per output.
TORCH_LAYERS = (
    ((nn.Linear,), "synapse", _linear_ops, True),
    ((nn.Conv2d,), "synapse", _conv_ops, True),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm), "norm", _elementwise_ops, False),
    ((nn.MaxPool2d,), "add", _pool_ops, False),
)


class EnergyMeter:
    """Context manager: `with EnergyMeter(model) as meter: model(x)`, then `meter.report()`.

    Every LIF, every layer class with `op_counts` (layers/counts.py) and the torch layers of
    TORCH_LAYERS get a forward hook; the modules a model lists in `head_modules()` count as "head".
    Hooks see keyword calls as positional ones (layers read their inputs by name: `call_inputs`).
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

    def _spikes(self, lif: nn.Module) -> SpikeStats | None:
        """The stats of `lif`'s last output (what a mixer's op_counts reads), None before it fired."""
        return self._lif_stats.get(id(lif))

    def __enter__(self) -> "EnergyMeter":
        def root_pre_hook(module, args, kwargs):
            self.images += int(_first_input(args, kwargs).shape[0])

        self._handles.append(self.model.register_forward_pre_hook(root_pre_hook, with_kwargs=True))
        heads = {m for module in self.model.modules() if hasattr(module, "head_modules")
                 for m in module.head_modules()}
        for name, module in self.model.named_modules():
            hook = None
            if isinstance(module, LIF):
                hook = self._neuron_hook(name)
            elif hasattr(module, "op_counts"):
                hook = self._layer_hook(name, inspect.signature(module.forward))
            else:
                for types, kind, ops, spike_input in TORCH_LAYERS:
                    if isinstance(module, types):
                        hook = self._torch_hook(name, "head" if module in heads else kind, ops, spike_input)
                        break
            if hook is not None:
                self._handles.append(module.register_forward_hook(hook, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._lif_stats.clear()

    def _neuron_hook(self, name):
        def hook(module, args, kwargs, out):
            spikes = out[0] if isinstance(out, tuple) else out
            stats = self._lif_stats[id(module)] = spike_stats(spikes)  # measured once, read by mixers
            self._count(name, "neuron").add(float(spikes.numel()), stats)  # rate of its output spikes
        return hook

    def _layer_hook(self, name, signature):
        def hook(module, args, kwargs, out):
            for c in module.op_counts(call_inputs(signature, args, kwargs), out, self._spikes):
                self._count(name + c.suffix, c.kind).add(float(c.dense), c.stats, c.spike_driven)
        return hook

    def _torch_hook(self, name, kind, ops, spike_input):
        def hook(module, args, kwargs, out):
            stats = spike_stats(_first_input(args, kwargs)) if spike_input else None
            self._count(name, kind).add(float(ops(module, out)), stats)
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
