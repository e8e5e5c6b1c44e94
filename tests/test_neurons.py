import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smolmamba.neurons import LIF, SURROGATES, heaviside_surrogate, lif, lif_kernel, lif_ref

OPTIONS = list(itertools.product([False, True], repeat=3))  # soft_reset, detach_reset, decay_input
IMPLS = [lif, lif_ref]
KERNELS = ["numba", "torch"]


# ---------------------------------------------------------------- surrogates


@pytest.mark.parametrize(
    "surrogate, alpha, x, expected",
    [
        ("sigmoid", None, 0.0, 1.0),  # alpha=4: 4 * 1/2 * 1/2
        ("sigmoid", 4.0, 0.5, 4 * math.exp(-2) / (1 + math.exp(-2)) ** 2),
        ("sigmoid", 2.0, 0.0, 0.5),
        ("atan", None, 0.0, 1.0),  # alpha=2: 2/2 / 1
        ("arctan", None, 0.0, 1.0),
        ("atan", 2.0, 1.0 / math.pi, 0.5),  # 1 / (1 + (pi/2 * 2 / pi)^2) = 1/2
        ("rect", None, 0.0, 1.0),
        ("rect", None, 0.49, 1.0),
        ("rect", None, 0.51, 0.0),
        ("triangle", None, 0.0, 1.0),
        ("triangle", None, -0.25, 0.75),
        ("triangle", 2.0, 0.25, 1.0),  # 2 * (1 - 2 * 0.25)
    ],
)
def test_surrogate_gradient_values(surrogate, alpha, x, expected):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = heaviside_surrogate(x, surrogate, alpha)
    assert y.item() == float(x.item() >= 0)
    y.backward()
    assert x.grad.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


# Smooth step each surrogate stands in for; its autograd derivative must equal the hand-written one.
PRIMITIVES = {
    "sigmoid": lambda x, a: torch.sigmoid(a * x),
    "atan": lambda x, a: torch.atan(math.pi / 2 * a * x) / math.pi + 0.5,
    "arctan": lambda x, a: torch.atan(math.pi / 2 * a * x) / math.pi + 0.5,
    "rect": lambda x, a: torch.clamp(a * x + 0.5, 0, 1),
    "triangle": lambda x, a: 0.5 + (u := torch.clamp(a * x, -1, 1)) - u * u.abs() / 2,
}


@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("alpha", [None, 0.7, 3.0])
def test_surrogate_matches_primitive_derivative(surrogate, alpha):
    assert set(PRIMITIVES) == set(SURROGATES)
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)[1::2]  # odd points: off box/triangle edges
    a = SURROGATES[surrogate].alpha if alpha is None else alpha
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    heaviside_surrogate(x1, surrogate, alpha).sum().backward()
    PRIMITIVES[surrogate](x2, a).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-12)


def test_heaviside_forward_is_step_in_input_dtype():
    x = torch.tensor([-1.0, -1e-30, 0.0, 1e-30, 2.0], dtype=torch.bfloat16)
    y = heaviside_surrogate(x)
    assert y.dtype == torch.bfloat16
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


# ---------------------------------------------------------------- hand-computed trains


def _run(impl, value, **kw):
    x = torch.full((4, 1), value, dtype=torch.float64)
    s, h = impl(x, tau=2.0, v_threshold=1.0, v_reset=0.0, return_membrane=True, **kw)
    return s[:, 0].tolist(), h[:, 0].tolist()


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_subthreshold(impl):
    # H1 = 0.6/2 = 0.3; H2 = 0.3 + (0.6-0.3)/2 = 0.45; H3 = 0.525; H4 = 0.5625; never reaches 1.
    s, h = _run(impl, 0.6)
    assert s == [0, 0, 0, 0]
    assert h == pytest.approx([0.3, 0.45, 0.525, 0.5625], abs=1e-15)


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_hard_reset(impl):
    # H1 = 0.75; H2 = 0.75 + 0.375 = 1.125 fires, V=0; H3 = 0.75; H4 = 1.125 fires.
    s, h = _run(impl, 1.5)
    assert s == [0, 1, 0, 1]
    assert h == [0.75, 1.125, 0.75, 1.125]


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_soft_reset(impl):
    # H2 = 1.125 fires, V2 = 0.125; H3 = 0.125 + 1.375/2 = 0.8125; H4 = 0.8125 + 0.6875/2 = 1.15625.
    s, h = _run(impl, 1.5, soft_reset=True)
    assert s == [0, 1, 0, 1]
    assert h == [0.75, 1.125, 0.8125, 1.15625]


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_no_decay_input(impl):
    # H1 = 0.6; H2 = 0.6 - 0.3 + 0.6 = 0.9; H3 = 0.9 - 0.45 + 0.6 = 1.05 fires, V=0; H4 = 0.6.
    s, h = _run(impl, 0.6, decay_input=False)
    assert s == [0, 0, 1, 0]
    assert h == pytest.approx([0.6, 0.9, 1.05, 0.6], abs=1e-15)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("detach_reset, expected", [(False, [-0.25, 0.5]), (True, [0.0, 0.5])])
def test_hand_gradient_through_reset(impl, detach_reset, expected):
    # x = [2, 2], tau=2, sigmoid alpha=4 (slope 1 at 0), hard reset, L = S_2.
    # H1 = 1 fires, V1 = 0; H2 = 1 fires. dL/dH2 = 1, dL/dX2 = 1/tau = 0.5.
    # dL/dV1 = (1 - 1/tau) * 1 = 0.5; dV1/dH1 = (1 - S1) + (V_reset - H1) * 1 = -1 (0 if detached).
    # dL/dX1 = 0.5 * dV1/dH1 / tau = -0.25 (0 if detached).
    x = torch.tensor([2.0, 2.0], dtype=torch.float64, requires_grad=True)
    s = impl(x, detach_reset=detach_reset)
    assert s.tolist() == [1.0, 1.0]
    s[1].backward()
    assert x.grad.tolist() == expected


# ---------------------------------------------------------------- fast == reference


def _compare(x, kw, seed, return_membrane=True, atol=1e-10, kernel="auto"):
    xf, xr = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    out_f = lif(xf, return_membrane=return_membrane, kernel=kernel, **kw)
    out_r = lif_ref(xr, return_membrane=return_membrane, **kw)
    out_f = out_f if return_membrane else (out_f,)
    out_r = out_r if return_membrane else (out_r,)
    gen = torch.Generator().manual_seed(seed)
    grads = [torch.randn(o.shape, generator=gen, dtype=o.dtype) for o in out_f]
    for a, b in zip(out_f, out_r):
        assert a.dtype == x.dtype
        assert torch.equal(a, b)  # same op sequence: bitwise equal spikes and membranes
    torch.autograd.backward(out_f, grads)
    torch.autograd.backward(out_r, grads)
    torch.testing.assert_close(xf.grad, xr.grad, rtol=0, atol=atol)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("soft_reset, detach_reset, decay_input", OPTIONS)
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@settings(max_examples=8, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    tau=st.floats(1.0, 5.0),
    v_threshold=st.floats(0.3, 1.5),
    v_reset=st.floats(-0.5, 0.2),
    return_membrane=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fast_matches_reference(
    kernel, surrogate, soft_reset, detach_reset, decay_input, shape, tau, v_threshold, v_reset, return_membrane,
    seed
):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 1.5 + 0.5
    kw = dict(
        tau=tau, v_threshold=v_threshold, v_reset=v_reset, surrogate=surrogate,
        soft_reset=soft_reset, detach_reset=detach_reset, decay_input=decay_input,
    )
    _compare(x, kw, seed, return_membrane, kernel=kernel)


@pytest.mark.parametrize("kernel", KERNELS)
def test_fast_matches_reference_long_sequence(kernel):
    # Long T so the carried gradient matters; firing must actually happen for the check to bite.
    x = torch.randn(64, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.8
    assert 0.05 < lif(x).mean() < 0.95
    for soft, detach, decay in OPTIONS:
        _compare(x, dict(soft_reset=soft, detach_reset=detach, decay_input=decay, surrogate="atan"), 1,
                 kernel=kernel)


def test_fast_saves_only_membrane():
    x = torch.randn(6, 4, 5, requires_grad=True)
    saved = {}
    for name, impl in [("fast", lif), ("reference", lif_ref)]:
        numel = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: numel.append(t.numel()) or t, lambda t: t):
            impl(x)
        saved[name] = sum(numel)
    assert saved["fast"] == x.numel()
    assert saved["reference"] > 2 * x.numel()


# ---------------------------------------------------------------- module, dtypes, layout


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_module_is_stateless_and_matches_function(impl):
    neuron = LIF(tau=3.0, surrogate="atan", soft_reset=True, impl=impl)
    x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0)) + 1.5  # fixed: it must fire
    s1, h1 = neuron(x, return_membrane=True)
    s2, h2 = neuron(x, return_membrane=True)
    assert torch.equal(s1, s2) and torch.equal(h1, h2)
    assert s1.sum() > 0
    assert torch.equal(s1, lif_ref(x, tau=3.0, surrogate="atan", soft_reset=True))
    assert "impl='" + impl + "'" in repr(neuron) and "alpha=2.0" in repr(neuron)


@pytest.mark.parametrize("impl", IMPLS)
def test_single_time_step(impl):
    x = torch.tensor([[0.5, 2.0, 3.0]], requires_grad=True)  # tau=2: H = x/2
    s, h = impl(x, return_membrane=True)
    assert s.tolist() == [[0.0, 1.0, 1.0]]
    assert h.tolist() == [[0.25, 1.0, 1.5]]
    s.sum().backward()
    assert x.grad.shape == x.shape


def test_non_contiguous_input():
    base = torch.randn(3, 6, 4, 8, dtype=torch.float64) + 0.6
    x = base.transpose(1, 3)[:, ::2]  # [3, 4, 4, 6] strided
    assert not x.is_contiguous()
    _compare(x, {}, 0)
    xc = x.contiguous().requires_grad_()
    xn = x.clone(memory_format=torch.preserve_format).requires_grad_()
    assert torch.equal(lif(xn), lif(xc))
    g = torch.randn(x.shape, dtype=x.dtype)
    lif(xn).backward(g)
    lif(xc).backward(g)
    assert torch.equal(xn.grad, xc.grad)


def test_bfloat16_input_integrates_in_float32():
    # the membrane of bf16 input is float32 (fp32 where it matters); spikes come in the input's dtype
    x = (torch.randn(4, 3, 5) + 0.8).to(torch.bfloat16).requires_grad_()
    s, h = lif(x, return_membrane=True)
    assert s.dtype == torch.bfloat16 and h.dtype == torch.float32
    (s.float().sum() + h.sum()).backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad).all()
    s32, h32 = lif_ref(x.detach().float(), return_membrane=True)
    assert torch.equal(s.float(), s32) and torch.equal(h, h32)


def test_bfloat16_reference_runs_in_bfloat16():
    x = (torch.randn(4, 3, 5) + 0.8).to(torch.bfloat16).requires_grad_()
    s, h = lif_ref(x, return_membrane=True)
    assert s.dtype == h.dtype == torch.bfloat16
    (s.float().sum() + h.float().sum()).backward()
    assert x.grad.dtype == torch.bfloat16 and torch.isfinite(x.grad).all()


def test_bfloat16_autocast():
    x = torch.randn(4, 3, 8) + 0.8
    w = torch.randn(8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = x @ w  # bf16 under autocast
        s = lif(y)
        assert s.dtype == torch.bfloat16
        assert torch.equal(lif(x), lif_ref(x))  # float32 stays float32
        assert lif(x).dtype == torch.float32
    s.float().sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_torch_compile_smoke():
    # aot_eager traces the Function through dynamo and AOTAutograd without needing a C compiler.
    neuron = LIF(soft_reset=True)
    compiled = torch.compile(neuron, backend="aot_eager", fullgraph=False)
    x = (torch.randn(4, 2, 6) + 0.7).requires_grad_()
    s = compiled(x)
    assert torch.equal(s, neuron(x))
    s.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (torch.ones(2, 3), dict(surrogate="gauss"), r"surrogate=.*'atan'.*'sigmoid'"),
        (torch.ones(2, 3), dict(alpha=0.0), "alpha"),
        (torch.ones(2, 3), dict(tau=0.0), "tau"),
        (torch.ones(2, 3), dict(v_threshold=0.0, v_reset=0.0), "v_threshold"),
        (torch.tensor(1.0), {}, "x must be"),
        (torch.ones(0, 3), {}, "T >= 1"),
        (torch.ones(2, 3, dtype=torch.int64), {}, "x must be a floating"),
    ],
)
def test_bad_inputs_raise(impl, x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        impl(x, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(impl="cuda"), "impl="),
        (dict(surrogate="gauss"), "surrogate="),
        (dict(tau=-1.0), "tau="),
        (dict(alpha=-2.0), "alpha="),
        (dict(v_threshold=-1.0), "v_threshold="),
    ],
)
def test_module_validates_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LIF(**kwargs)


# ---------------------------------------------------------------- kernels


def test_kernel_choice_is_reported():
    assert lif_kernel(torch.zeros(2, 3)) == "numba"
    assert lif_kernel(torch.zeros(2, 3, dtype=torch.float64)) == "numba"
    assert lif_kernel(torch.zeros(2, 3), kernel="torch") == "torch"
    assert lif_kernel(torch.zeros(2, 3, dtype=torch.bfloat16)) == "numba"  # integrated in float32
    with pytest.raises(ValueError, match="meta"):
        lif_kernel(torch.zeros(2, 3, device="meta"), kernel="numba")
    with pytest.raises(ValueError, match="unknown"):
        lif_kernel(torch.zeros(2, 3), kernel="cuda")


@pytest.mark.parametrize("soft_reset, detach_reset, decay_input", OPTIONS)
def test_numba_equals_torch_kernel_float32_many_blocks(soft_reset, detach_reset, decay_input):
    # More elements than one kernel block (and not a multiple of it); float32 as in training.
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 1500, generator=gen) * 1.5 + 0.6
    kw = dict(tau=2.0, v_reset=-0.1, soft_reset=soft_reset, detach_reset=detach_reset, decay_input=decay_input)
    g = torch.randn(x.shape, generator=gen)
    outs, grads = [], []
    for kernel in KERNELS:
        xk = x.clone().requires_grad_()
        s, h = lif(xk, return_membrane=True, kernel=kernel, **kw)
        torch.autograd.backward([s, h], [g, 0.5 * g])
        outs.append((s, h))
        grads.append(xk.grad)
    assert 0.05 < outs[0][0].mean() < 0.95
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])  # bitwise forward
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_triton_kernel_through_lif_matches_reference():
    # Without CUDA the Triton kernel runs in its CPU interpreter (tests/conftest.py sets TRITON_INTERPRET).
    x = torch.randn(5, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) + 0.7
    _compare(x, dict(surrogate="sigmoid"), 2, kernel="triton")
