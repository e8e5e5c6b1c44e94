"""The fused numba scan core (ops/scan_cpu.py) against the reference loop and the torch core."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_scan import F64, NAMES, assert_close_all, leaf, make_inputs, run_and_grad

from smolmamba.ops import bidirectional_scan, resolve_impl, selective_scan, selective_scan_ref
from smolmamba.ops.scan_cpu import CHUNK, scan_core_numba
from smolmamba.ops.scan_torch import scan_core


def numba_impl(**kw):
    return selective_scan(**kw, impl="numba")


@settings(max_examples=30, deadline=None)
@given(
    Bsz=st.integers(1, 3), D=st.integers(1, 5), N=st.integers(1, 4), L=st.integers(1, 3 * CHUNK + 5),
    with_D=st.booleans(), with_z=st.booleans(), with_bias=st.booleans(), softplus=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_numba_matches_reference_float64(Bsz, D, N, L, with_D, with_z, with_bias, softplus, seed):
    inp = make_inputs(Bsz, D, N, L, seed=seed, with_D=with_D, with_z=with_z, with_bias=with_bias)
    ref = run_and_grad(selective_scan_ref, inp, delta_softplus=softplus)
    assert_close_all(run_and_grad(numba_impl, inp, delta_softplus=softplus), ref, rtol=1e-9, atol=1e-10)


def test_numba_core_gradcheck_with_last_state():
    g = torch.Generator().manual_seed(4)
    L = CHUNK + 3  # two chunks: the checkpoint and the carried adjoint both matter
    dt = (torch.rand(2, 3, L, generator=g, dtype=F64) + 0.1).requires_grad_()
    x = torch.randn(2, 3, L, generator=g, dtype=F64, requires_grad=True)
    A = (-torch.rand(3, 2, generator=g, dtype=F64) - 0.1).requires_grad_()
    Bm = torch.randn(2, 2, L, generator=g, dtype=F64, requires_grad=True)
    Cm = torch.randn(2, 2, L, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(scan_core_numba, (dt, x, A, Bm, Cm))


def test_numba_float32_close_to_float64_reference_and_torch_core():
    inp = make_inputs(4, 24, 8, 64, seed=2)
    ref = run_and_grad(selective_scan_ref, inp)
    f32 = {k: None if v is None else v.float() for k, v in inp.items()}
    got = run_and_grad(numba_impl, f32)
    torch_core = run_and_grad(lambda **kw: selective_scan(**kw, impl="torch"), f32)
    assert_close_all((got[0].double(), {k: v.double() for k, v in got[1].items()}), ref, rtol=2e-4, atol=2e-4)
    assert_close_all(got, torch_core, rtol=1e-4, atol=1e-4)


def test_numba_aligned_bidirectional_matches_reference():
    Bsz, D, N, L = 3, 4, 3, 21
    f, b = make_inputs(Bsz, D, N, L, seed=7), make_inputs(Bsz, D, N, L, seed=8, with_z=False)
    g = torch.Generator().manual_seed(9)
    positions = torch.stack([torch.sort(torch.randperm(40, generator=g)[:L]).values for _ in range(Bsz)])

    def run(impl):
        fl, bl = leaf(f), leaf(b)
        from smolmamba.ops import ScanParams
        params = lambda d: ScanParams(d["u"], d["delta"], d["A"], d["B"], d["C"], d["D"], d["delta_bias"])  # noqa: E731
        y = bidirectional_scan(params(fl), params(bl), fl["z"], positions=positions, impl=impl)
        leaves = [d[k] for d in (fl, bl) for k in NAMES if d[k] is not None]
        return y.detach(), dict(enumerate(torch.autograd.grad(y.square().sum(), leaves)))

    assert_close_all(run("numba"), run("reference"), rtol=1e-9, atol=1e-10)


def test_auto_picks_numba_on_cpu_and_reports_it():
    assert resolve_impl("auto", torch.zeros(1, 1, 1)) == "numba"
    assert resolve_impl("auto", torch.zeros(1, 1, 1, dtype=torch.bfloat16)) == "numba"  # cast to float32 first
    with pytest.raises(ValueError, match="dtype torch.int"):
        resolve_impl("numba", torch.zeros(1, 1, 1, dtype=torch.int32))


def test_numba_core_equals_torch_core_float32_large_block_count():
    g = torch.Generator().manual_seed(11)
    shape = (16, 40, 70)  # D=40 is not a multiple of the SIMD width; L spans five chunks
    dt = torch.rand(shape, generator=g) * 0.3
    x = torch.randn(shape, generator=g)
    A = -torch.rand(40, 8, generator=g) * 2
    Bm, Cm = torch.randn(16, 8, 70, generator=g), torch.randn(16, 8, 70, generator=g)
    y1, h1 = scan_core_numba(dt, x, A, Bm, Cm)
    y2, h2 = scan_core(dt, x, A, Bm, Cm)
    torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(h1, h2, rtol=1e-4, atol=1e-4)


def test_numba_backward_vectorised_width_matches_reference_float64():
    """The backward's dot products over D are summed in any order (jit_reassoc): at a D that fills whole
    SIMD vectors and leaves a tail (70 = 8 x 8 + 6 in float64), and L over several chunks, its gradients
    still equal the reference loop's to float64 rounding."""
    inp = make_inputs(3, 70, 8, 2 * CHUNK + 5, seed=13)
    ref = run_and_grad(selective_scan_ref, inp)
    assert_close_all(run_and_grad(numba_impl, inp), ref, rtol=1e-9, atol=1e-10)
