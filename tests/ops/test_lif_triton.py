"""Triton LIF vs neurons.lif_ref: spikes, membranes and input gradients for every option.

Without CUDA the kernels run in Triton's CPU interpreter (tests/conftest.py sets TRITON_INTERPRET=1),
in float64: spikes and membranes equal the reference's, gradients to rounding. Tests marked
`cuda` run the compiled kernels (scripts/gpu_check.sh).
"""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from smolmamba.neurons import SURROGATES, lif_ref
from smolmamba.ops import lif_triton as lt
from smolmamba.ops import triton_runtime
from smolmamba.ops.lif_triton import is_available, lif_triton

F64 = torch.float64
OPTIONS = list(itertools.product([False, True], repeat=3))  # soft_reset, detach_reset, decay_input
interpreter = pytest.mark.skipif(
    torch.cuda.is_available() and not triton_runtime.interpreting(),
    reason="CUDA machine with TRITON_INTERPRET unset: the cuda-marked tests check the compiled kernels")


def run(fn, x, w_spikes, w_membrane, **kw):
    """-> (spikes, H, dx) for loss = <w_spikes, spikes> + <w_membrane, H>; a weight None skips its output."""
    x = x.detach().clone().requires_grad_()
    s, h = fn(x, **kw)
    loss = sum((o * w).sum() for o, w in ((s, w_spikes), (h, w_membrane)) if w is not None)
    (dx,) = torch.autograd.grad(loss, x)
    return s.detach(), h.detach(), dx


def ref(x, **kw):
    return lif_ref(x, return_membrane=True, **kw)


def inputs(shape, seed, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=F64) * 1.5 + 0.6
    return x.to(dtype), torch.randn(*shape, generator=g, dtype=F64).to(dtype), torch.randn(*shape, generator=g, dtype=F64).to(dtype)


def assert_matches_reference(x, ws, wm, rtol=1e-12, atol=1e-12, **kw):
    s, h, dx = run(lif_triton, x, ws, wm, **kw)
    s0, h0, dx0 = run(ref, x, ws, wm, **kw)
    assert s.dtype == h.dtype == dx.dtype == x.dtype
    torch.testing.assert_close(h, h0, rtol=rtol, atol=atol)
    assert torch.equal(s, s0)
    torch.testing.assert_close(dx, dx0, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- interpreter, float64
@interpreter
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("soft_reset,detach_reset,decay_input", OPTIONS)
def test_matches_reference_every_option(surrogate, soft_reset, detach_reset, decay_input):
    x, ws, wm = inputs((5, 3, 4), seed=hash((surrogate, soft_reset, detach_reset, decay_input)) % 1000)
    assert_matches_reference(x, ws, wm, tau=1.7, v_threshold=0.9, v_reset=-0.2, surrogate=surrogate, alpha=1.3,
                             soft_reset=soft_reset, detach_reset=detach_reset, decay_input=decay_input)


@interpreter
@settings(max_examples=10, deadline=None)
@given(T=st.integers(1, 6), M=st.integers(1, 9), tau=st.floats(1.0, 4.0), v_threshold=st.floats(0.2, 2.0),
       v_reset=st.floats(-1.0, 0.1), surrogate=st.sampled_from(sorted(SURROGATES)),
       alpha=st.one_of(st.none(), st.floats(0.3, 5.0)), options=st.sampled_from(OPTIONS), seed=st.integers(0, 999))
def test_matches_reference_random_parameters(T, M, tau, v_threshold, v_reset, surrogate, alpha, options, seed):
    x, ws, wm = inputs((T, M), seed)
    soft, detach, decay = options
    assert_matches_reference(x, ws, wm, tau=tau, v_threshold=v_threshold, v_reset=v_reset, surrogate=surrogate,
                             alpha=alpha, soft_reset=soft, detach_reset=detach, decay_input=decay)


@interpreter
@pytest.mark.parametrize("use", ["spikes", "membrane"])
def test_one_output_used(use):
    x, ws, wm = inputs((4, 6), seed=3)
    weights = (ws, None) if use == "spikes" else (None, wm)
    assert_matches_reference(x, *weights, soft_reset=True)


@interpreter
@pytest.mark.parametrize("shape", [(1,), (7,), (1, 5), (3, 0, 2), (2, 1100)])
def test_shapes(shape):
    """1-D [T], T = 1, an empty M, and M over one BLOCK of the kernel."""
    assert lt.BLOCK < 1100
    x, ws, wm = inputs(shape, seed=4)
    assert_matches_reference(x, ws, wm)


@interpreter
def test_non_contiguous_input():
    x, ws, wm = inputs((4, 5, 3), seed=5)
    xt = x.transpose(1, 2)
    assert not xt.is_contiguous()
    assert_matches_reference(xt, ws.transpose(1, 2), wm.transpose(1, 2))


def off_threshold(shape, seed, dtype):
    """x in [0, 0.9] or [2.2, 3]: with the defaults (tau 2, V_th 1, hard reset to 0) every H is
    below 0.95 or above 1.09, so no spike flips on rounding."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = torch.rand(*shape, generator=g) * 0.9, torch.rand(*shape, generator=g) * 0.8 + 2.2
    x = torch.where(torch.rand(*shape, generator=g) < 0.5, lo, hi).to(dtype)
    return x, torch.randn(*shape, generator=g).to(dtype), torch.randn(*shape, generator=g).to(dtype)


@interpreter
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 1e-2), (torch.bfloat16, 5e-2)])
def test_low_precision_against_float64(dtype, tol):
    """The state is carried in float32; inputs off the threshold, so the spikes are equal."""
    x, ws, wm = off_threshold((6, 50), 6, dtype)
    s0, h0, dx0 = run(ref, x.double(), ws.double(), wm.double())
    assert (h0 - 1.0).abs().min() > 0.05
    s, h, dx = run(lif_triton, x, ws, wm)
    assert s.dtype == h.dtype == dx.dtype == dtype
    assert torch.equal(s.double(), s0)
    torch.testing.assert_close(h.double(), h0, rtol=tol, atol=tol)
    torch.testing.assert_close(dx.double(), dx0, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- availability, errors
def test_surrogate_codes_cover_every_surrogate():
    assert set(lt._CODES) == set(SURROGATES)


def test_is_available_only_for_compiled_cuda_kernels(monkeypatch):
    assert not is_available(torch.zeros(2, 3))
    monkeypatch.setattr(triton_runtime, "import_error", lambda: "ModuleNotFoundError: No module named 'triton'")
    assert not is_available(torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="pip install triton.*neurons.lif"):
        lif_triton(torch.zeros(2, 3))


def test_cpu_without_interpreter_says_what_to_do(monkeypatch):
    monkeypatch.setattr(triton_runtime, "interpreting", lambda: False)
    with pytest.raises(ValueError, match="needs CUDA tensors.*neurons.lif.*TRITON_INTERPRET=1"):
        lif_triton(torch.zeros(2, 3))


@pytest.mark.parametrize("kw,needle", [
    (dict(x=torch.zeros(2, 3, dtype=torch.long)), "floating-point"),
    (dict(x=torch.zeros(0, 3)), "T >= 1"),
    (dict(surrogate="relu"), "surrogate='relu' is unknown"),
    (dict(alpha=0.0), "alpha=0.0 must be > 0"),
    (dict(tau=0.0), "tau=0.0 must be > 0"),
    (dict(v_threshold=0.0, v_reset=0.5), "v_threshold=0.0 must be > v_reset=0.5"),
])
def test_bad_arguments_raise_value_error(kw, needle):
    kw = {"x": torch.zeros(2, 3), **kw}
    with pytest.raises(ValueError, match=needle):
        lif_triton(**kw)


# ----------------------------------------------------------------------------- compiled, on a GPU
@pytest.mark.cuda
def test_cuda_float64_matches_reference_every_option():
    x, ws, wm = inputs((4, 3000), seed=7)
    assert is_available(x.cuda())
    for surrogate, (soft_reset, detach_reset, decay_input) in itertools.product(sorted(SURROGATES), OPTIONS):
        kw = dict(tau=1.7, v_threshold=0.9, v_reset=-0.2, surrogate=surrogate, alpha=1.3, soft_reset=soft_reset,
                  detach_reset=detach_reset, decay_input=decay_input)
        s, h, dx = run(lif_triton, x.cuda(), ws.cuda(), wm.cuda(), **kw)
        s0, h0, dx0 = run(ref, x, ws, wm, **kw)
        torch.testing.assert_close(h.cpu(), h0, rtol=1e-12, atol=1e-12, msg=str(kw))
        assert torch.equal(s.cpu(), s0), kw
        torch.testing.assert_close(dx.cpu(), dx0, rtol=1e-10, atol=1e-10, msg=str(kw))


@pytest.mark.cuda
def test_cuda_bfloat16_runs_in_float32():
    x, ws, wm = off_threshold((4, 8, 64, 96), 8, torch.bfloat16)
    s, h, dx = run(lif_triton, x.cuda(), ws.cuda(), wm.cuda())
    s0, h0, dx0 = run(ref, x.double(), ws.double(), wm.double())
    assert s.dtype == torch.bfloat16
    assert torch.equal(s.cpu().double(), s0)
    torch.testing.assert_close(h.cpu().double(), h0, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(dx.cpu().double(), dx0, rtol=5e-2, atol=5e-2)
