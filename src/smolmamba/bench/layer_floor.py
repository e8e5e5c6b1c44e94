"""The weight-layer floor of a training step: what it would take if only its Linear/Conv layers cost time.

One train-mode forward of the case records every Linear/Conv call with its input shape; each call is then
timed alone at that shape, forward + backward (input and weight gradients), with the same torch kernels
and threads, and the medians are summed. Everything else the step does (LIF, norms, scan, pruning, loss,
optimizer) counts as free, so no implementation that keeps these layers and their kernels can beat this
time: baseline / floor is the most any speed-up of the rest can give. Unlike the sgemm floor
(levers.py), it is measured at the model's own (small) matrix shapes. For a bf16 variant (bench/cases.py) the
forward runs under bf16 autocast and each call is timed there, at its input's dtype (bf16 spikes, say).
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from smolmamba.bench.cases import VARIANTS, Case, build_inputs
from smolmamba.bench.measure import autocast_for, interleaved_times, median_ms

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def weight_layer_calls(model: nn.Module, x: torch.Tensor,
                       dtype: torch.dtype = torch.float32) -> list[tuple[nn.Module, torch.Size, torch.dtype]]:
    """(layer, input shape, input dtype) of every Linear/Conv call in one train-mode forward of `model` on `x`
    (under `dtype` autocast unless float32), in order."""
    calls = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: calls.append((mod, args[0].shape, args[0].dtype)))
             for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    try:
        model.train()
        with torch.no_grad(), autocast_for(x.device, dtype):
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def _layer_call(layer: nn.Module, shape: torch.Size, input_dtype: torch.dtype, dtype: torch.dtype):
    """A callable running layer forward + backward (input and weight gradients) on a random input of `shape` and
    `input_dtype`, under `dtype` autocast unless float32."""
    weight = next(layer.parameters())
    inp = torch.randn(shape, device=weight.device).to(input_dtype).requires_grad_()
    with autocast_for(weight.device, dtype):
        grad = torch.randn_like(layer(inp))

    def call():
        with autocast_for(weight.device, dtype):
            out = layer(inp)
        out.backward(grad)
    return call


def _alternating_medians(calls: list, rounds: int) -> list[float]:
    """Median seconds of each callable, called in turn `rounds` times after one warm-up call each."""
    ms = median_ms(interleaved_times(dict(enumerate(calls)), torch.device("cpu"), rounds))
    return [ms[i] / 1e3 for i in range(len(calls))]


def time_layer_call(layer: nn.Module, shape: torch.Size, rounds: int, input_dtype: torch.dtype = torch.float32,
                    dtype: torch.dtype = torch.float32) -> float:
    """Median seconds of layer forward + backward (input and weight gradients) on a random input of `shape` and
    `input_dtype`, under `dtype` autocast unless float32."""
    (seconds,) = _alternating_medians([_layer_call(layer, shape, input_dtype, dtype)], rounds)
    layer.zero_grad(set_to_none=True)
    return seconds


def _timed_once_each(calls: list[tuple[nn.Module, torch.Size, torch.dtype]], time_call) -> list:
    """time_call(layer, shape, dtype) for every call, in order, timed once per distinct (layer, shape, dtype): calls
    repeat per block and time step."""
    timed = {}
    for layer, shape, dtype in calls:
        if (id(layer), shape, dtype) not in timed:
            timed[id(layer), shape, dtype] = time_call(layer, shape, dtype)
    return [timed[id(layer), shape, dtype] for layer, shape, dtype in calls]


def _check_cpu(case: Case) -> None:
    if case.device != "cpu":
        raise ValueError(f"the layer floor is timed on the CPU only, got device {case.device!r}")


def layer_floor(case: Case, rounds: int = 5) -> dict:
    """-> {"floor_ms", "calls", "shapes"}: the summed per-call medians of the case's weight layers (one step)."""
    _check_cpu(case)
    model, x, _ = build_inputs(case)
    dtype = VARIANTS[case.variant].autocast_dtype or torch.float32
    calls = weight_layer_calls(model, x, dtype)
    shapes = Counter((type(layer).__name__, tuple(shape)) for layer, shape, _ in calls)
    per_call = _timed_once_each(calls, lambda layer, shape, input_dtype: time_layer_call(
        layer, shape, rounds, input_dtype, dtype))
    return {"floor_ms": sum(per_call) * 1e3, "calls": len(calls),
            "shapes": [{"layer": kind, "input": list(shape), "calls": n} for (kind, shape), n in shapes.items()]}


def paired_layer_floors(case: Case, rounds: int = 5) -> dict:
    """-> {"float32_ms", "low_ms"}: the case's layer floor in float32 and in its variant's autocast precision, each
    distinct call timed in both precisions alternately, so that the ratio of the two is measured under the same
    machine state (this VM's speed drifts by up to a fifth over minutes)."""
    _check_cpu(case)
    low = VARIANTS[case.variant].autocast_dtype
    if low is None:
        raise ValueError(f"variant {case.variant!r} runs no autocast; pair a bf16 variant")
    model, x, _ = build_inputs(case)
    float32_calls, low_calls = weight_layer_calls(model, x), weight_layer_calls(model, x, low)
    if [(id(m), s) for m, s, _ in float32_calls] != [(id(m), s) for m, s, _ in low_calls]:
        raise RuntimeError(f"{case.model}: the float32 and {low} forwards call different layers or shapes")
    def time_pair(layer: nn.Module, shape: torch.Size, low_input: torch.dtype) -> list[float]:
        pair = _alternating_medians([_layer_call(layer, shape, torch.float32, torch.float32),
                                     _layer_call(layer, shape, low_input, low)], rounds)
        layer.zero_grad(set_to_none=True)
        return pair

    per_call = _timed_once_each([(layer, shape, low_input) for (layer, shape, _), (_, _, low_input)
                                 in zip(float32_calls, low_calls)], time_pair)
    return {"float32_ms": sum(f for f, _ in per_call) * 1e3, "low_ms": sum(b for _, b in per_call) * 1e3}
