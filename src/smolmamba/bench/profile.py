"""Where a forward pass spends its time: a per-component breakdown from torch.profiler.

Module hooks open a `smolmamba::<component>` profiler range around every module of a component
(the SSM opens `smolmamba::scan` around its scan itself). A component's time is exclusive: its
ranges' CPU time minus the nested component ranges inside them. Components:
patch_embed (whole, neurons included), pruner, projections (the mixer's linear layers), scan,
mixer (the mixer's remaining glue: gating, transposes; attention's matmuls for Spikformer),
neurons (every LIF outside the patch embedding), norms, mlp (its linear layers and glue),
residual (block-level adds and glue), head, other (network-level glue).
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from smolmamba.layers.norms import ScaleNorm
from smolmamba.neurons import LIF

PREFIX = "smolmamba::"
COMPONENTS = ("patch_embed", "pruner", "projections", "scan", "mixer", "neurons", "norms", "mlp",
              "residual", "head", "other")
_NORMS = (nn.modules.batchnorm._BatchNorm, ScaleNorm, nn.LayerNorm)
_SYNAPSES = (nn.Linear, nn.Conv1d, nn.Conv2d)


def component_of_modules(model: nn.Module) -> dict[nn.Module, str]:
    """The component each hooked module belongs to, from the layers' own `profile_label` and
    `profile_inner_label` (layers/counts.py) and the model's `head_modules()`. Inside a labelled layer
    with an inner label, LIFs are "neurons", norms "norms", Linear/Conv layers the inner label."""
    labels: dict[nn.Module, str] = {m: "head" for m in model.head_modules()}

    def visit(parent: nn.Module, inner: str | None) -> None:
        for child in parent.children():
            if child in labels:
                continue
            own = getattr(child, "profile_label", None)
            if own is not None:
                labels[child] = own
                if getattr(child, "profile_inner_label", None) is not None:
                    visit(child, child.profile_inner_label)
                continue  # e.g. the patch embedding and the pruners: nothing inside is split out
            if inner is not None:
                if isinstance(child, LIF):
                    labels[child] = "neurons"
                elif isinstance(child, _NORMS):
                    labels[child] = "norms"
                elif isinstance(child, _SYNAPSES):
                    labels[child] = inner
            visit(child, inner)

    visit(model, None)
    return labels


class _Ranges:
    """Forward pre/post hooks that open and close one profiler range per module call."""

    def __init__(self, labels: dict[nn.Module, str]):
        self.stack: list = []
        self.handles = []
        for module, label in labels.items():
            self.handles.append(module.register_forward_pre_hook(self._enter(PREFIX + label)))
            self.handles.append(module.register_forward_hook(self._exit))

    def _enter(self, name):
        def hook(module, args):
            rf = record_function(name)
            rf.__enter__()
            self.stack.append(rf)
        return hook

    def _exit(self, module, args, out):
        self.stack.pop().__exit__(None, None, None)

    def remove(self):
        for h in self.handles:
            h.remove()


def _nested_ranges(event) -> list:
    """Nearest descendants of `event` that are component ranges."""
    found = []
    for child in event.cpu_children:
        if child.name.startswith(PREFIX):
            found.append(child)
        else:
            found.extend(_nested_ranges(child))
    return found


def exclusive_times(events) -> dict[str, list[float]]:
    """Component -> exclusive milliseconds of each of its ranges, from profiler function events."""
    out: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        if ev.name.startswith(PREFIX):
            nested = sum(n.cpu_time_total for n in _nested_ranges(ev))
            inclusive = ev.cpu_time_total
            out[ev.name[len(PREFIX):]].append(((inclusive - nested) / 1e3, inclusive / 1e3))
    return out


def component_breakdown(model: nn.Module, x: torch.Tensor, warmup: int = 1, repeats: int = 3) -> dict:
    """Profile `repeats` eval forwards of x and keep the one with the median total (one pass can be hit
    by machine noise): {"total_ms", "components": {name: ms}, "share": {name: fraction},
    "pruner_ms_per_call", "block_ms_mean", "pruner_share_of_block", "totals_ms": every pass's total}.
    Times include profiler overhead."""
    model.eval()
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        passes = [_profile_once(model, x) for _ in range(repeats)]
    passes.sort(key=lambda p: p["total_ms"])
    chosen = passes[len(passes) // 2]
    chosen["totals_ms"] = [p["total_ms"] for p in passes]
    return chosen


def _profile_once(model: nn.Module, x: torch.Tensor) -> dict:
    ranges = _Ranges(component_of_modules(model))
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof, record_function(PREFIX + "other"):
            model(x)
    finally:
        ranges.remove()
    times = exclusive_times(prof.events())
    total = sum(incl for _, incl in times["other"])
    components = {name: sum(e for e, _ in times.get(name, [])) for name in COMPONENTS}
    blocks = [incl for _, incl in times.get("residual", [])]
    pruner_calls = [incl for _, incl in times.get("pruner", [])]
    block_mean = sum(blocks) / len(blocks) if blocks else float("nan")
    pruner_mean = sum(pruner_calls) / len(pruner_calls) if pruner_calls else 0.0
    return {
        "total_ms": total,
        "components": components,
        "share": {k: v / total for k, v in components.items()},
        "pruner_ms_per_call": pruner_mean,
        "block_ms_mean": block_mean,
        "pruner_share_of_block": pruner_mean / block_mean if blocks else float("nan"),
    }
