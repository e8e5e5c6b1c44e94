"""The weight-layer floor: which calls it records and that it times each one."""

import pytest
import torch
from torch import nn

from smolmamba.bench.cases import Case, build_inputs
from smolmamba.bench.layer_floor import layer_floor, paired_layer_floors, time_layer_call, weight_layer_calls


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.fc = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        h = self.norm(self.conv(x))
        return self.fc(h.flatten(1)) + self.fc(h.flatten(1))  # fc called twice


def test_every_linear_and_conv_call_is_recorded_with_its_input_shape():
    model = TwoLayers()
    calls = weight_layer_calls(model, torch.randn(6, 2, 5, 5))
    assert [(type(m).__name__, tuple(s)) for m, s, _ in calls] == [
        ("Conv2d", (6, 2, 5, 5)), ("Linear", (6, 100)), ("Linear", (6, 100))]
    assert model.training and all(p.grad is None for p in model.parameters())  # no gradient left behind


def test_a_call_is_timed_forward_and_backward_and_leaves_no_gradient():
    layer = nn.Linear(8, 4)
    seconds = time_layer_call(layer, torch.Size([3, 8]), rounds=2)
    assert seconds > 0 and layer.weight.grad is None


def test_the_floor_of_a_tiny_model_counts_every_call_once():
    case = Case("smixer_tiny", 4, "train", variant="baseline")
    floor = layer_floor(case, rounds=1)
    model, x, _ = build_inputs(case)
    expected = len(weight_layer_calls(model, x))
    assert floor["calls"] == expected == sum(s["calls"] for s in floor["shapes"]) and floor["floor_ms"] > 0
    assert {s["layer"] for s in floor["shapes"]} == {"Conv2d", "Linear"}
    with pytest.raises(ValueError, match="CPU only"):
        layer_floor(Case("smixer_tiny", 4, "train", device="cuda"))


def test_paired_floors_time_the_same_calls_in_both_precisions():
    case = Case("smixer_tiny", 4, "train", variant="bf16")
    paired = paired_layer_floors(case, rounds=1)
    assert paired["float32_ms"] > 0 and paired["low_ms"] > 0
    with pytest.raises(ValueError, match="runs no autocast"):
        paired_layer_floors(Case("smixer_tiny", 4, "train", variant="default"))
