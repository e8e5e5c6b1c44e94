"""ops/max_pool.py: the channels-last CPU path against nn.functional.max_pool2d, values and gradients."""

import pytest
import torch
from torch import nn

from smolmamba.energy import EnergyMeter
from smolmamba.ops.max_pool import MaxPool2d, max_pool2d


def _values_and_grad(pool, x: torch.Tensor, grad_out_seed: int):
    x = x.clone().requires_grad_()
    out = pool(x)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_out_seed)).to(x.dtype)
    out.backward(grad_out)
    return out, x.grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("binary", [False, True])  # spikes: every window has ties
@pytest.mark.parametrize("geometry", [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_matches_torch_exactly(dtype, binary, geometry):
    kernel, stride, padding = geometry
    gen = torch.Generator().manual_seed(kernel * 10 + stride + padding)
    x = torch.randn(6, 5, 11, 9, generator=gen, dtype=torch.float64)
    x = (x > 0.3).to(dtype) if binary else x.to(dtype)
    ref_out, ref_grad = _values_and_grad(lambda t: nn.functional.max_pool2d(t, kernel, stride, padding), x, 1)
    out, grad = _values_and_grad(lambda t: max_pool2d(t, kernel, stride, padding), x, 1)
    assert out.is_contiguous() and grad.is_contiguous()
    assert torch.equal(out, ref_out)
    assert torch.equal(grad, ref_grad)  # the same argmax in every window, ties included


def test_module_is_a_max_pool_for_the_energy_meter():
    pool = MaxPool2d(3, stride=2, padding=1)
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(pool(x), nn.MaxPool2d(3, stride=2, padding=1)(x))
    reports = []
    for model in (nn.Sequential(pool), nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1))):
        with EnergyMeter(model) as meter:
            model(x)
        reports.append([{k: v for k, v in row.items() if k != "firing_rate"} for row in meter.report().layers])
    assert reports[0] == reports[1] and reports[0][0]["dense"] == 3 * 4 * 4 * 8  # per image: 8 comparisons


def test_channels_last_input_and_no_grad():
    x = torch.rand(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(max_pool2d(x, 3, 2, 1), nn.functional.max_pool2d(x, 3, 2, 1))
