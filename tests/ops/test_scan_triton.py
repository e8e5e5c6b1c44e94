"""Triton selective scan vs the float64 reference loop: outputs and every gradient.

Without CUDA the kernels run in Triton's CPU interpreter (tests/conftest.py sets TRITON_INTERPRET=1),
in float64, so they match the reference to rounding. Shapes are tiny: the interpreter is slow.
Tests marked `cuda` run the compiled kernels (scripts/gpu_check.sh).
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_scan import assert_close_all, make_inputs, random_positions, run_and_grad

from smolmamba.ops import ScanParams, bidirectional_scan, resolve_impl, selective_scan, selective_scan_ref
from smolmamba.ops import triton_runtime
from smolmamba.ops.scan_triton import selective_scan_triton

F64 = torch.float64
interpreter = pytest.mark.skipif(
    torch.cuda.is_available() and not triton_runtime.interpreting(),
    reason="CUDA machine with TRITON_INTERPRET unset: the cuda-marked tests check the compiled kernels")


def triton_impl(positions=None, chunk=None, block_d=None, **fixed):
    def fn(**kw):
        return selective_scan_triton(**kw, positions=positions, chunk=chunk, block_d=block_d, **fixed)
    return fn


def ref_impl(positions=None, **fixed):
    return lambda **kw: selective_scan_ref(**kw, positions=positions, **fixed)


# ----------------------------------------------------------------------------- interpreter, float64
@interpreter
@settings(max_examples=6, deadline=None)
@given(
    Bsz=st.integers(1, 2), D=st.integers(1, 5), N=st.integers(1, 3), L=st.integers(1, 12),
    with_D=st.booleans(), with_z=st.booleans(), with_bias=st.booleans(), softplus=st.booleans(),
    aligned=st.booleans(), chunk=st.sampled_from([1, 2, 4, None]), block_d=st.sampled_from([1, 2, None]),
    seed=st.integers(0, 2**16),
)
def test_matches_reference_float64(Bsz, D, N, L, with_D, with_z, with_bias, softplus, aligned, chunk, block_d, seed):
    inp = make_inputs(Bsz, D, N, L, seed=seed, with_D=with_D, with_z=with_z, with_bias=with_bias)
    pos = random_positions(Bsz, L, 3 * L, torch.Generator().manual_seed(seed), "random") if aligned else None
    want = run_and_grad(ref_impl(pos, delta_softplus=softplus), inp)
    got = run_and_grad(triton_impl(pos, chunk, block_d, delta_softplus=softplus), inp)
    assert_close_all(got, want, rtol=1e-10, atol=1e-12)


@interpreter
@pytest.mark.parametrize("aligned", [False, True])
def test_all_options_several_chunks(aligned):
    """Every input, 3 chunks with a ragged last one, 2 channel blocks, long gaps."""
    inp = make_inputs(2, 3, 3, 11, seed=21)
    pos = random_positions(2, 11, 60, torch.Generator().manual_seed(5), "first_last_pruned") if aligned else None
    got = run_and_grad(triton_impl(pos, chunk=4, block_d=2), inp)
    assert_close_all(got, run_and_grad(ref_impl(pos), inp), rtol=1e-10, atol=1e-12)


@interpreter
def test_softplus_threshold_and_large_steps():
    """Pre-activations past softplus' threshold (20) and far below it, on both sides of the branch."""
    inp = make_inputs(1, 4, 2, 8, seed=22)
    inp["delta"] = torch.tensor([25.0, 19.9, -30.0, 0.3], dtype=F64)[:, None] + 0.1 * inp["delta"]  # (1, D, L)
    inp["delta_bias"] = torch.tensor([21.0, 0.0, -1.0, 22.0], dtype=F64)
    pos = random_positions(1, 8, 20, torch.Generator().manual_seed(6), "random")
    for p in (None, pos):
        assert_close_all(run_and_grad(triton_impl(p, chunk=4), inp), run_and_grad(ref_impl(p), inp), 1e-10, 1e-12)


@interpreter
@pytest.mark.parametrize("aligned", [False, True])
def test_last_state_and_its_gradient(aligned):
    inp = make_inputs(2, 3, 2, 10, seed=23)
    pos = random_positions(2, 10, 25, torch.Generator().manual_seed(7), "random") if aligned else None

    def with_last(fn):
        def f(**kw):
            y, h = fn(**kw, return_last_state=True)
            assert h.shape == (2, 3, 2)
            return y[..., -3:] + h.sum(-1, keepdim=True)  # (B, D, 3): y and h both carry gradients
        return f

    got = run_and_grad(with_last(triton_impl(pos, chunk=4)), inp)
    assert_close_all(got, run_and_grad(with_last(ref_impl(pos)), inp), rtol=1e-10, atol=1e-12)


@interpreter
def test_gradient_of_last_state_alone():
    """Only the last state is used: the backward gets no output gradient."""
    inp = make_inputs(1, 2, 2, 6, seed=24)
    names = ["u", "delta", "A", "B", "delta_bias"]  # the last state does not depend on C, D or z

    def grads(fn):
        x = {k: v.detach().clone().requires_grad_() for k, v in inp.items()}
        h = fn(**x, return_last_state=True)[1]
        return torch.autograd.grad((h * torch.linspace(-1, 1, h.numel(), dtype=F64).view_as(h)).sum(),
                                   [x[k] for k in names])

    for k, g, w in zip(names, grads(triton_impl(chunk=2)), grads(selective_scan_ref)):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12, msg=k)


@interpreter
@pytest.mark.parametrize("gate", ["sum", "per_direction"])
def test_bidirectional_aligned_matches_reference(gate):
    """Both directions through selective_scan(impl='triton'), flipped positions, all gradients."""
    pos = random_positions(2, 7, 20, torch.Generator().manual_seed(8), "random")
    inp = {f"{k}_{s}": v for s, seed in (("f", 1), ("b", 2)) for k, v in make_inputs(2, 3, 2, 7, seed=seed).items()}

    def run(impl):
        def fn(**kw):
            def params(s):
                return ScanParams(*(kw[f"{k}_{s}"] for k in ("u", "delta", "A", "B", "C", "D", "delta_bias")))
            return bidirectional_scan(params("f"), params("b"), kw["z_f"], positions=pos, gate=gate, impl=impl)
        return fn

    inp.pop("z_b")
    assert_close_all(run_and_grad(run("triton"), inp), run_and_grad(run("reference"), inp), 1e-10, 1e-12)


@interpreter
def test_gradcheck():
    inp = make_inputs(1, 2, 2, 3, seed=25)
    pos = torch.tensor([[0, 2, 5]])
    args = [inp[k].detach().clone().requires_grad_() for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    assert torch.autograd.gradcheck(lambda *a: selective_scan_triton(*a, positions=pos, chunk=2), args, fast_mode=True)


@interpreter
def test_non_contiguous_inputs():
    inp = make_inputs(2, 3, 2, 9, seed=26)
    nc = {k: v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() == 3 else v for k, v in inp.items()}
    nc["A"] = inp["A"].t().contiguous().t()
    assert not nc["u"].is_contiguous() and not nc["A"].is_contiguous()
    assert_close_all(run_and_grad(triton_impl(chunk=4), nc), run_and_grad(ref_impl(), inp), 1e-10, 1e-12)


@interpreter
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float16, 2e-2), (torch.bfloat16, 5e-2)])
def test_low_precision_accumulates_in_float32(dtype, tol):
    inp = make_inputs(1, 3, 2, 9, seed=27)
    pos = random_positions(1, 9, 20, torch.Generator().manual_seed(9), "random")
    low = {k: v.to(dtype) for k, v in inp.items()}
    want = run_and_grad(ref_impl(pos), {k: v.to(dtype).double() for k, v in inp.items()})
    got = run_and_grad(triton_impl(pos, chunk=4), low)
    assert got[0].dtype == dtype and all(g.dtype == dtype for g in got[1].values())
    torch.testing.assert_close(got[0].double(), want[0], rtol=tol, atol=tol)
    for k in want[1]:
        scale = want[1][k].abs().max().item() + 1.0
        torch.testing.assert_close(got[1][k].double(), want[1][k], rtol=tol, atol=tol * scale, msg=k)


@interpreter
def test_selective_scan_dispatches_to_triton():
    inp = make_inputs(1, 2, 2, 5, seed=28)
    assert resolve_impl("triton", inp["u"]) == "triton"
    assert resolve_impl("auto", inp["u"]) == "numba"  # auto never picks the interpreter: the CPU core
    y = selective_scan(**inp, impl="triton")
    torch.testing.assert_close(y, selective_scan_ref(**inp), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- errors
def test_triton_on_cpu_without_interpreter_says_what_to_do(monkeypatch):
    monkeypatch.setattr(triton_runtime, "interpreting", lambda: False)
    inp = make_inputs(1, 2, 2, 3)
    with pytest.raises(ValueError, match="needs CUDA tensors.*impl='torch'.*TRITON_INTERPRET=1"):
        selective_scan(**inp, impl="triton")
    assert resolve_impl("auto", inp["u"]) == "numba"


def test_missing_triton_says_how_to_install(monkeypatch):
    monkeypatch.setattr(triton_runtime, "import_error", lambda: "ModuleNotFoundError: No module named 'triton'")
    inp = make_inputs(1, 2, 2, 3)
    with pytest.raises(RuntimeError, match="pip install triton"):
        selective_scan(**inp, impl="triton")
    assert not triton_runtime.compiled_available(inp["u"])


# ----------------------------------------------------------------------------- compiled, on a GPU
@pytest.mark.cuda
@pytest.mark.parametrize("aligned", [False, True])
def test_cuda_float32_matches_float64_reference(aligned):
    inp = make_inputs(3, 40, 16, 100, seed=29)
    pos = random_positions(3, 100, 180, torch.Generator().manual_seed(10), "random") if aligned else None
    want = run_and_grad(ref_impl(pos), inp)
    cuda = {k: v.float().cuda() for k, v in inp.items()}
    got = run_and_grad(triton_impl(None if pos is None else pos.cuda()), cuda)
    assert resolve_impl("auto", cuda["u"]) == "triton"
    torch.testing.assert_close(got[0].cpu().double(), want[0], rtol=1e-3, atol=1e-3)
    for k in want[1]:
        scale = want[1][k].abs().max().item() + 1.0
        torch.testing.assert_close(got[1][k].cpu().double(), want[1][k], rtol=1e-3, atol=1e-4 * scale, msg=k)


@pytest.mark.cuda
def test_cuda_bfloat16_and_last_state():
    inp = make_inputs(2, 24, 16, 64, seed=30)
    bf = {k: v.to(torch.bfloat16).cuda() for k, v in inp.items()}
    y, h = selective_scan(**bf, impl="triton", return_last_state=True)
    want_y, want_h = selective_scan_ref(**{k: v.to(torch.bfloat16).double() for k, v in inp.items()},
                                        return_last_state=True)
    assert y.dtype == h.dtype == torch.bfloat16
    torch.testing.assert_close(y.cpu().double(), want_y, rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(h.cpu().double(), want_h, rtol=3e-2, atol=3e-2)
