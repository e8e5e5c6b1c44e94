"""The bf16 mixed-precision path (precision.py): each lever against float32 on the same inputs and seed."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smolmamba import precision
from smolmamba.layers.patch_embed import Conv2d
from smolmamba.layers.ssm import ScanDirection
from smolmamba.models import create_model
from smolmamba.models.summary import example_input
from smolmamba.neurons import LIF, lif
from smolmamba.ops import lif_cpu, lif_torch
from smolmamba.precision import Levers, resolve_amp, set_levers

BF16 = torch.bfloat16


def autocast(enabled=True):
    return torch.autocast("cpu", dtype=BF16, enabled=enabled)


@pytest.mark.parametrize("soft_reset, decay_input", [(False, True), (True, False)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_numba_writes_half_precision_spikes_equal_to_the_torch_kernel(soft_reset, decay_input, dtype):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3 * lif_cpu.BLOCK + 17, generator=gen) + 0.7  # several blocks and a ragged one
    spikes, membrane = lif_cpu.lif_forward(x, 2.0, 1.0, 0.0, soft_reset, decay_input, dtype)
    want_spikes, want_membrane = lif_torch.lif_forward(x, 2.0, 1.0, 0.0, soft_reset, decay_input)
    assert spikes.dtype == dtype and membrane.dtype == torch.float32
    assert torch.equal(spikes, want_spikes.to(dtype)) and torch.equal(membrane, want_membrane)
    assert 0 < spikes.float().mean() < 1


@pytest.mark.parametrize("kernel", ["numba", "torch"])
def test_autocast_spikes_are_bf16_and_their_gradient_equals_float32(kernel):
    x = (torch.randn(4, 2, 300) + 0.7).requires_grad_()
    g = torch.randn(4, 2, 300)
    s32 = lif(x, kernel=kernel)
    (s32 * g).sum().backward()
    grad32, x.grad = x.grad, None
    with autocast():
        s16 = lif(x, kernel=kernel, autocast_spikes=True)
        assert lif(x, kernel=kernel).dtype == torch.float32  # off: spikes in the input's dtype
    assert s16.dtype == BF16 and torch.equal(s16.float(), s32)
    (s16.float() * g).sum().backward()
    # the gradient flows through bf16 spikes: dL/dS is rounded to bf16 once, BPTT runs in float32
    torch.testing.assert_close(x.grad, grad32, rtol=1e-2, atol=1e-2)


def test_lif_module_lever():
    neuron = LIF()
    x = torch.randn(3, 2, 8) + 0.7
    with autocast():
        assert neuron(x).dtype == BF16
        neuron.autocast_spikes = False
        assert neuron(x).dtype == torch.float32


def conv_grads(conv: nn.Module, x: torch.Tensor, g: torch.Tensor, amp: bool):
    conv.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    with autocast(amp):
        y = conv(x)
    y.backward(g.to(y.dtype))
    return y, x.grad, conv.weight.grad


@pytest.mark.parametrize("channels, size", [(8, 16), (64, 8)])
def test_split_convolution(channels, size):
    torch.manual_seed(0)
    conv = Conv2d(channels, 16)
    x = (torch.rand(4, channels, size, size) < 0.3).float()  # spikes, as every conv after the first sees
    g = torch.randn(4, 16, size, size)
    y32, gx32, gw32 = conv_grads(conv, x, g, amp=False)
    conv.conv_precision = "low"
    y_low, gx_low, gw_low = conv_grads(conv, x, g, amp=True)
    conv.conv_precision = "split"
    y, gx, gw = conv_grads(conv, x, g, amp=True)
    assert y.dtype == BF16 and gw.dtype == torch.float32
    assert torch.equal(y, y_low) and torch.equal(gx, gx_low)  # forward and input gradient: autocast's own
    weight_grad = F.conv2d(x, torch.zeros_like(conv.weight), padding=1)  # shape check only
    assert weight_grad.shape == y.shape
    # the weight gradient sums in float32 from the bf16-rounded output gradient (x is exact in bf16)
    exact = torch.ops.aten.convolution_backward(g.to(BF16).float(), x, conv.weight.detach(), None, [1, 1], [1, 1],
                                                [1, 1], False, [0, 0], 1, [False, True, False])[1]
    torch.testing.assert_close(gw, exact, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gw, gw32, rtol=2e-2, atol=2e-2 * gw32.abs().max().item())
    torch.testing.assert_close(y.float(), y32, rtol=2e-2, atol=2e-2 * y32.abs().max().item())
    conv.conv_precision = "float32"
    y_f32, gx_f32, gw_f32 = conv_grads(conv, x, g, amp=True)
    assert y_f32.dtype == torch.float32 and torch.equal(y_f32, y32) and torch.equal(gw_f32, gw32)


def test_meta_tensors_have_no_autocast():
    assert precision.autocast_dtype("meta") is None
    with torch.device("meta"):
        neuron, conv = LIF(), Conv2d(3, 8)
        assert neuron(torch.randn(2, 3, 8)).shape == (2, 3, 8) and conv(torch.randn(2, 3, 8, 8)).is_meta


def test_without_autocast_every_conv_mode_is_the_plain_convolution():
    torch.manual_seed(0)
    conv, x = Conv2d(3, 8), torch.randn(2, 3, 8, 8)
    want = F.conv2d(x, conv.weight, padding=1)
    for mode in precision.CONV_MODES:
        conv.conv_precision = mode
        assert torch.equal(conv(x), want)


def test_the_scan_state_and_parameters_stay_float32_under_autocast():
    direction = ScanDirection(16, 4, 2)
    u = (torch.rand(3, 5, 16) < 0.3).to(BF16)  # bf16 spikes [T*B, L, E]
    with autocast():
        params = direction.params(u)
    assert all(t.dtype == torch.float32 for t in (params.u, params.delta, params.A, params.B, params.C, params.D,
                                                   params.delta_bias))
    assert torch.equal(params.A, -torch.exp(direction.A_log))  # not rounded through bf16


def test_set_levers_sets_every_module_and_the_norm_hook_is_idempotent():
    model = create_model("smolmamba_tiny")
    set_levers(model, Levers(spikes=False, norms_float32=True, convs="float32"))
    set_levers(model, Levers(spikes=False, norms_float32=True, convs="float32"))
    assert all(not m.autocast_spikes for m in model.modules() if isinstance(m, LIF))
    assert all(m.conv_precision == "float32" for m in model.modules() if isinstance(m, Conv2d))
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert all(len(m._forward_pre_hooks) == 1 for m in norms)
    with autocast():
        assert norms[0](torch.randn(4, norms[0].num_features, 2, 2).to(BF16)).dtype == torch.float32
    set_levers(model, Levers(norms_float32=False))
    assert all(len(m._forward_pre_hooks) == 0 for m in norms)
    with pytest.raises(ValueError, match="convs='fast'"):
        Levers(convs="fast")


def test_resolve_amp(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_amp("none", cpu) == "none" and resolve_amp("bf16", cpu) == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert resolve_amp("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert resolve_amp("auto", cpu) == "none"
    with pytest.raises(ValueError, match="amp='half'"):
        resolve_amp("half", cpu)


def step_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool):
    model.zero_grad(set_to_none=True)
    with autocast(amp):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("name", ["smolmamba_tiny", "spikformer_tiny", "smixer_tiny", "smolmamba_tiny_events"])
def test_a_bf16_training_step_matches_float32_as_closely_as_input_rounding_does(name):
    # A spiking network's gradient at init is chaotic: rounding the input alone (relative 2^-9, bf16's precision)
    # flips spikes downstream and leaves a float32 gradient with cosine 0.04-0.26 to the unperturbed one (measured
    # for these four). So the bf16 step is held to that yardstick: the loss within 2 %, the gradient norm within
    # 25 %, and its gradient at least half as aligned with float32's as float32's own under input rounding.
    torch.manual_seed(0)
    model = create_model(name).train()
    x = example_input(model.cfg, 16, torch.Generator().manual_seed(1))
    y = torch.randint(model.cfg.num_classes, (16,), generator=torch.Generator().manual_seed(2))
    loss32, grad32 = step_grads(copy.deepcopy(model), x, y, amp=False)
    loss16, grad16 = step_grads(copy.deepcopy(model), x, y, amp=True)
    rounded = x * (1 + 2**-9 * torch.randn(x.shape, generator=torch.Generator().manual_seed(9)))
    _, grad_rounded = step_grads(copy.deepcopy(model), rounded, y, amp=False)
    assert abs(loss16 - loss32) <= 0.02 * abs(loss32)
    assert 0.75 < grad16.norm() / grad32.norm() < 1.25
    cos = lambda a, b: F.cosine_similarity(a, b, dim=0).item()  # noqa: E731
    assert cos(grad16, grad32) >= 0.5 * cos(grad_rounded, grad32) > 0


def test_spikes_equal_where_the_membrane_is_away_from_threshold():
    # spikes -> Linear -> BatchNorm -> LIF, float32 vs the bf16 path: equal wherever the float32 membrane stays
    # at least 0.05 from the threshold at every step (bf16 rounds the projection to ~3 significant digits)
    torch.manual_seed(0)
    fc, norm, neuron = nn.Linear(64, 64, bias=False), nn.BatchNorm1d(64), LIF()
    s = (torch.rand(4, 256, 64) < 0.2).float()  # [T, tokens, D]
    outputs = {}
    for amp in (False, True):
        with autocast(amp):
            h = norm(fc(s.to(BF16) if amp else s).flatten(0, 1)).view(4, 256, 64)
            outputs[amp] = neuron(h, return_membrane=True)
    (s32, h32), (s16, h16) = outputs[False], outputs[True]
    assert s16.dtype == BF16 and h16.dtype == torch.float32
    away = ((h32 - neuron.v_threshold).abs() > 0.05).all(dim=0)
    assert away.float().mean() > 0.5
    assert torch.equal(s16.float()[:, away], s32[:, away])


@pytest.mark.parametrize("soft_reset, decay_input", [(False, True), (True, False)])
def test_numba_reads_bf16_input_as_the_float32_it_equals(soft_reset, decay_input):
    gen = torch.Generator().manual_seed(6)
    x = (torch.randn(4, 2 * lif_cpu.BLOCK + 33, generator=gen) + 0.7).to(BF16)
    spikes, membrane = lif_cpu.lif_forward(x, 2.0, 1.0, 0.0, soft_reset, decay_input, BF16)
    want_spikes, want_membrane = lif_cpu.lif_forward(x.float(), 2.0, 1.0, 0.0, soft_reset, decay_input, BF16)
    assert membrane.dtype == torch.float32
    assert torch.equal(spikes, want_spikes) and torch.equal(membrane, want_membrane)


@pytest.mark.parametrize("grad_dtype, given", [(BF16, "spikes"), (BF16, "membrane"), (BF16, "both"),
                                               (torch.float32, "spikes"), (torch.float32, "both")])
@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])
def test_numba_bf16_gradients_equal_the_float32_kernel_rounded_once(grad_dtype, given, surrogate):
    gen = torch.Generator().manual_seed(7)
    shape = (4, lif_cpu.BLOCK + 21)
    h = torch.randn(shape, generator=gen) + 0.8
    grad_spikes = torch.randn(shape, generator=gen).to(BF16) if given != "membrane" else None
    grad_membrane = torch.randn(shape, generator=gen) if given != "spikes" else None
    args = (2.0, 1.0, 0.0, surrogate, 4.0, False, False, True)
    got = lif_cpu.lif_backward(h, grad_spikes, grad_membrane, *args, grad_dtype)
    want = lif_cpu.lif_backward(h, None if grad_spikes is None else grad_spikes.float(), grad_membrane, *args)
    assert got.dtype == grad_dtype
    assert torch.equal(got, want.to(grad_dtype))


def test_bf16_rounding_of_the_lif_kernel_is_torchs():
    """Round to nearest even, ties included (bit patterns with exactly 0x8000 below bf16), as .to(bfloat16)."""
    gen = torch.Generator().manual_seed(8)
    wide = torch.randint(-(2**31), 2**31 - 1, (2, 3 * lif_cpu.BLOCK), generator=gen, dtype=torch.int64)
    wide[:, ::7] = (wide[:, ::7] & ~0xFFFF) | 0x8000  # exact ties
    values = (wide & 0xFFFFFFFF).to(torch.int64).numpy().astype("uint32").view("float32")
    values = torch.from_numpy(values.copy())
    values[:, 1] = torch.inf
    values[:, 2] = -torch.inf
    number = ~torch.isnan(values[:1])
    # dL/dx = dL/dH (membrane gradient) at a silent, never-reset neuron with T = 1 and no input decay: the values
    h = torch.full(values.shape[1:], -100.0).expand(1, -1).contiguous()
    got = lif_cpu.lif_backward(h, None, values[:1].contiguous(), 2.0, 1.0, 0.0, "atan", 2.0, False, False, False, BF16)
    want = values[:1].to(BF16)
    assert torch.equal(got[number], want[number])
    assert torch.isnan(got[~number]).all() and (~number).any()


def test_lif_on_bf16_input_under_autocast_equals_the_float32_cast_path():
    """lif() hands bf16 input to the numba kernel as it is: the same spikes and the same bf16 gradient as
    integrating x.float()."""
    x = (torch.randn(4, 2, 700, generator=torch.Generator().manual_seed(9)) + 0.7).to(BF16)
    g = torch.randn(4, 2, 700).to(BF16)
    direct = x.clone().requires_grad_()
    cast = x.clone().requires_grad_()
    with autocast():
        spikes = lif(direct, kernel="numba", autocast_spikes=True)
        want = lif(cast.float(), kernel="numba", autocast_spikes=True)
    assert spikes.dtype == want.dtype == BF16 and torch.equal(spikes, want)
    (spikes * g).sum().backward()
    (want * g).sum().backward()
    assert direct.grad.dtype == BF16 and torch.equal(direct.grad, cast.grad)
