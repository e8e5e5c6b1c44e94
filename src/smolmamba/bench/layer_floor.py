"""The weight-layer floor of a training step: what it would take if only its Linear/Conv layers cost time.

One train-mode forward of the case records every Linear/Conv call with its input shape; each call is then
timed alone at that shape, forward + backward (input and weight gradients), with the same torch kernels
and threads, and the medians are summed. Everything else the step does (LIF, norms, scan, pruning, loss,
optimizer) counts as free, so no implementation that keeps these layers and their kernels can beat this
time: baseline / floor is the most any speed-up of the rest can give. Unlike the sgemm floor
(levers.py), it is measured at the model's own (small) matrix shapes.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter

import torch
from torch import nn

from smolmamba.bench.cases import Case, build_inputs

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def weight_layer_calls(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, torch.Size]]:
    """(layer, input shape) of every Linear/Conv call in one train-mode forward of `model` on `x`, in order."""
    calls = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: calls.append((mod, args[0].shape)))
             for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def time_layer_call(layer: nn.Module, shape: torch.Size, rounds: int) -> float:
    """Median seconds of layer forward + backward (input and weight gradients) on a random input of `shape`."""
    weight = next(layer.parameters())
    inp = torch.randn(shape, device=weight.device, dtype=weight.dtype, requires_grad=True)
    grad = torch.randn_like(layer(inp))
    seconds = []
    for _ in range(rounds + 1):  # the first call warms up
        start = time.perf_counter()
        layer(inp).backward(grad)
        seconds.append(time.perf_counter() - start)
    layer.zero_grad(set_to_none=True)
    return statistics.median(seconds[1:])


def layer_floor(case: Case, rounds: int = 5) -> dict:
    """-> {"floor_ms", "calls", "shapes"}: the summed per-call medians of the case's weight layers (one step)."""
    if case.device != "cpu":
        raise ValueError(f"the layer floor is timed on the CPU only, got device {case.device!r}")
    model, x, _ = build_inputs(case)
    calls = weight_layer_calls(model, x)
    shapes = Counter((type(layer).__name__, tuple(shape)) for layer, shape in calls)
    seconds = {}  # one timing per distinct (layer, shape); calls repeat per block and time step
    for layer, shape in calls:
        if (id(layer), shape) not in seconds:
            seconds[id(layer), shape] = time_layer_call(layer, shape, rounds)
    total = sum(seconds[id(layer), shape] for layer, shape in calls)
    return {"floor_ms": total * 1e3, "calls": len(calls),
            "shapes": [{"layer": kind, "input": list(shape), "calls": n} for (kind, shape), n in shapes.items()]}
