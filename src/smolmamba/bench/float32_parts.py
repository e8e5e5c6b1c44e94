"""What a bf16 training step still spends in float32: the floor under any faster matrix work.

One training step of a bf16 variant (bench/cases.py) runs under torch.profiler; the self time of the operators
that stay float32 by design (precision.py) is summed per part: the selective scan (forward and backward), the
LIF neurons (membranes), BatchNorm, the optimizer step, and the dtype casts the path adds. With the bf16
weight-layer floor (layer_floor.py) they bound the step from below: float32 default / (layer floor + these parts)
is the most the bf16 path can give without making those parts faster.
"""

from __future__ import annotations

from torch.profiler import ProfilerActivity, profile

from smolmamba.bench.cases import Case, build_step

PARTS = {  # part -> profiler names (autograd Functions and aten operators) whose self time it sums
    "scan": ("_NumbaScan", "_NumbaScanBackward", "_BlockedScan", "_BlockedScanBackward"),
    "lif": ("_LIFFunction", "_LIFFunctionBackward"),
    "norms": ("aten::native_batch_norm", "aten::native_batch_norm_backward", "aten::_batch_norm_with_update",
              "aten::batch_norm_backward"),
    "optimizer": ("aten::_fused_adamw_",),
    "casts": ("aten::copy_", "aten::_to_copy"),
}


FLOOR_PARTS = ("scan", "lif", "norms", "optimizer")  # float32 by design; the casts are the path's own cost


def bf16_floor_ms(floors: dict) -> float:
    """The bf16 step's floor from a run_levers "bf16_floors" entry: its bf16 layer floor plus the FLOOR_PARTS."""
    return floors["layer_floor_ms"] + sum(floors[part] for part in FLOOR_PARTS)


def bf16_bound(float32_ms: float, floors: dict) -> float:
    """The most a bf16 path can speed up a float32 step of `float32_ms`, from a run_levers "bf16_floors" entry: its
    Linear/Conv calls from their float32 floor to their bf16 floor (timed in pairs), the scan and the LIF (float32
    arithmetic) as they are, and all the rest twice as fast, the most that halving its bytes can give (on a CPU bf16
    speeds up only dot products; other arithmetic converts to float32). Below 2x whenever the layers' own ratio is
    below 2."""
    fixed = floors["scan"] + floors["lif"]
    rest = max(float32_ms - floors["float32_layer_floor_ms"] - fixed, 0.0)
    return float32_ms / (floors["layer_floor_ms"] + fixed + rest / 2)


def float32_parts(case: Case) -> dict:
    """-> {part: ms} for one profiled training step of `case` (after two warm-up steps), and "total_ms"."""
    step = build_step(case)
    step(), step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    self_ms = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    parts = {part: sum(self_ms.get(name, 0.0) for name in names) for part, names in PARTS.items()}
    return {**parts, "total_ms": sum(self_ms.values())}
