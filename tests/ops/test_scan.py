"""Selective scan: fast path vs reference loop, alignment vs a dense scan, validation."""

import zlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from smolmamba.ops import (
    ScanParams,
    bidirectional_scan,
    flip_positions,
    resolve_impl,
    scan_inputs,
    selective_scan,
    selective_scan_ref,
    softplus,
)
from smolmamba.ops import scan_cuda
from smolmamba.ops.scan_torch import scan_core

F64 = torch.float64
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(Bsz, D, N, L, *, dtype=F64, seed=0, with_D=True, with_z=True, with_bias=True):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(
        u=r(Bsz, D, L),
        delta=r(Bsz, D, L) * 0.5 - 1.0,
        A=-torch.rand(D, N, generator=g, dtype=dtype) * 3 - 0.1,
        B=r(Bsz, N, L),
        C=r(Bsz, N, L),
        D=r(D) if with_D else None,
        z=r(Bsz, D, L) if with_z else None,
        delta_bias=r(D) * 0.5 if with_bias else None,
    )


def leaf(inputs):
    return {k: None if v is None else v.detach().clone().requires_grad_() for k, v in inputs.items()}


def run_and_grad(fn, inputs, seed=1, **kw):
    x = leaf(inputs)
    y = fn(**x, **kw)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=F64).to(y.dtype)
    grads = torch.autograd.grad((y * w).sum(), [v for v in x.values() if v is not None])
    names = [k for k, v in x.items() if v is not None]
    return y.detach(), dict(zip(names, grads))


def assert_close_all(a, b, rtol, atol):
    ya, ga = a
    yb, gb = b
    torch.testing.assert_close(ya, yb, rtol=rtol, atol=atol)
    assert ga.keys() == gb.keys()
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=rtol, atol=atol, msg=lambda m, k=k: f"grad {k}: {m}")


def torch_impl(block_size=None):
    def fn(**kw):
        return selective_scan(**kw, impl="torch", block_size=block_size)
    return fn


# ----------------------------------------------------------------------------- fast vs reference
@settings(max_examples=30, deadline=None)
@given(
    Bsz=st.integers(1, 3), D=st.integers(1, 5), N=st.integers(1, 4), L=st.integers(1, 40),
    with_D=st.booleans(), with_z=st.booleans(), with_bias=st.booleans(), softplus=st.booleans(),
    block=st.sampled_from([None, 1, 3, 7, 16, 64]), seed=st.integers(0, 2**16),
)
def test_fast_matches_reference_float64(Bsz, D, N, L, with_D, with_z, with_bias, softplus, block, seed):
    inp = make_inputs(Bsz, D, N, L, seed=seed, with_D=with_D, with_z=with_z, with_bias=with_bias)
    ref = run_and_grad(selective_scan_ref, inp, delta_softplus=softplus)
    fast = run_and_grad(torch_impl(block), inp, delta_softplus=softplus)
    assert_close_all(fast, ref, rtol=1e-9, atol=1e-10)


def test_gradcheck_reference():
    inp = leaf(make_inputs(2, 3, 2, 5, seed=3))
    args = [inp[k] for k in NAMES]
    assert torch.autograd.gradcheck(lambda *a: selective_scan_ref(*a), args)


@pytest.mark.parametrize("block", [1, 2, 16])
def test_gradcheck_custom_backward(block):
    g = torch.Generator().manual_seed(4)
    dt = (torch.rand(2, 3, 7, generator=g, dtype=F64) + 0.1).requires_grad_()
    x = torch.randn(2, 3, 7, generator=g, dtype=F64, requires_grad=True)
    A = (-torch.rand(3, 2, generator=g, dtype=F64) - 0.1).requires_grad_()
    Bm = torch.randn(2, 2, 7, generator=g, dtype=F64, requires_grad=True)
    Cm = torch.randn(2, 2, 7, generator=g, dtype=F64, requires_grad=True)
    # both outputs (y and the last state) carry gradients
    assert torch.autograd.gradcheck(lambda *a: scan_core(*a, block_size=block), (dt, x, A, Bm, Cm))
    inp = leaf(make_inputs(2, 3, 2, 6, seed=5))
    args = [inp[k] for k in NAMES]
    assert torch.autograd.gradcheck(lambda *a: selective_scan(*a, impl="torch", block_size=block), args)


def test_last_state_and_its_gradient():
    inp = make_inputs(2, 4, 3, 23, seed=6)

    def last_only(fn):
        def f(**kw):
            y, h = fn(**kw, return_last_state=True)
            assert h.shape == (2, 4, 3)
            return y.sum(-1, keepdim=True) + h.sum(-1, keepdim=True)  # (B, D, 1)
        return f

    ref = run_and_grad(last_only(selective_scan_ref), inp)
    fast = run_and_grad(last_only(lambda **kw: selective_scan(**kw, impl="torch", block_size=5)), inp)
    assert_close_all(fast, ref, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- alignment
def expand_dense(inp, positions, Lf, seed=9):
    """Full-length inputs: kept tokens scattered to `positions`, pruned ones silent (u=0, delta=0
    before bias), B/C/z random there. Scattering is differentiable in the compact inputs."""
    Bsz, D, L = inp["u"].shape
    g = torch.Generator().manual_seed(seed)
    idx = positions[:, None, :]

    def scatter(t, fill):
        return fill.scatter(2, idx.expand(-1, t.shape[1], -1), t)

    rnd = lambda c: torch.randn(Bsz, c, Lf, generator=g, dtype=F64)  # noqa: E731
    zeros = lambda c: torch.zeros(Bsz, c, Lf, dtype=F64)  # noqa: E731
    N = inp["A"].shape[1]
    out = dict(inp)
    out["u"] = scatter(inp["u"], zeros(D))
    out["delta"] = scatter(inp["delta"], zeros(D))
    out["B"] = scatter(inp["B"], rnd(N))
    out["C"] = scatter(inp["C"], rnd(N))
    if inp.get("z") is not None:
        out["z"] = scatter(inp["z"], rnd(D))
    return out


def gather(y, positions):
    return y.gather(2, positions[:, None, :].expand(-1, y.shape[1], -1))


def random_positions(Bsz, L, Lf, g, mode):
    rows = []
    for _ in range(Bsz):
        if mode == "first_last_pruned":
            perm = torch.randperm(Lf - 2, generator=g)[:L] + 1
        else:
            perm = torch.randperm(Lf, generator=g)[:L]
        rows.append(perm.sort().values)
    return torch.stack(rows)


POS_CASES = [
    ("none_pruned", 2, 12, 12),
    ("all_but_one", 2, 1, 17),
    ("first_last_pruned", 3, 6, 15),
    ("long_gaps", 2, 4, 90),
    ("random", 3, 9, 20),
]


@pytest.mark.parametrize("mode,Bsz,L,Lf", POS_CASES)
@pytest.mark.parametrize("softplus,with_bias", [(True, True), (True, False), (False, True)])
def test_aligned_equals_dense_scan(mode, Bsz, L, Lf, softplus, with_bias):
    g = torch.Generator().manual_seed(zlib.crc32(f"{mode}-{softplus}-{with_bias}".encode()) % 1000)
    positions = random_positions(Bsz, L, Lf, g, mode)
    inp = make_inputs(Bsz, 3, 2, L, seed=L + Lf, with_bias=with_bias)
    if not softplus:  # keep delta >= 0 so the dense scan is a decaying one
        inp["delta"] = inp["delta"].abs()
        inp["delta_bias"] = inp["delta_bias"].abs()

    def dense(**kw):
        y = selective_scan_ref(**expand_dense(kw, positions, Lf), delta_softplus=softplus)
        return gather(y, positions)

    want = run_and_grad(dense, inp)
    for impl in ("reference", "torch", "numba"):
        got = run_and_grad(lambda **kw: selective_scan(**kw, positions=positions, delta_softplus=softplus,
                                                       impl=impl, block_size=4), inp)
        assert_close_all(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("mode,Bsz,L,Lf", POS_CASES)
@pytest.mark.parametrize("gate", ["sum", "per_direction"])
def test_aligned_bidirectional_equals_dense(mode, Bsz, L, Lf, gate):
    g = torch.Generator().manual_seed(7)
    positions = random_positions(Bsz, L, Lf, g, mode)
    f = make_inputs(Bsz, 3, 2, L, seed=1)
    b = make_inputs(Bsz, 3, 2, L, seed=2)
    z = f["z"]

    def params(d):
        return ScanParams(d["u"], d["delta"], d["A"], d["B"], d["C"], d["D"], d["delta_bias"])

    def dense(z):
        df = expand_dense({**f, "z": z}, positions, Lf, seed=3)
        db = expand_dense(b, positions, Lf, seed=4)
        y = bidirectional_scan(params(df), params(db), df["z"], gate=gate, impl="reference")
        return gather(y, positions)

    want = dense(z)
    for impl in ("reference", "torch", "numba"):
        got = bidirectional_scan(params(f), params(b), z, positions=positions, gate=gate, impl=impl, block_size=3)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_bidirectional_composes_two_scans():
    f = make_inputs(2, 3, 2, 11, seed=1)
    b = make_inputs(2, 3, 2, 11, seed=2)
    pf = ScanParams(f["u"], f["delta"], f["A"], f["B"], f["C"], f["D"], f["delta_bias"])
    pb = ScanParams(b["u"], b["delta"], b["A"], b["B"], b["C"], b["D"], b["delta_bias"])
    y = bidirectional_scan(pf, pb, f["z"], impl="torch")
    yf = selective_scan_ref(f["u"], f["delta"], f["A"], f["B"], f["C"], f["D"], None, f["delta_bias"])
    fl = lambda t: t.flip(-1)  # noqa: E731
    yb = selective_scan_ref(fl(b["u"]), fl(b["delta"]), b["A"], fl(b["B"]), fl(b["C"]), b["D"], None, b["delta_bias"])
    torch.testing.assert_close(y, (yf + fl(yb)) * F.silu(f["z"]), rtol=1e-10, atol=1e-12)


def test_aligned_gradients_fast_equal_reference():
    g = torch.Generator().manual_seed(11)
    positions = random_positions(3, 15, 40, g, "random")
    inp = make_inputs(3, 4, 3, 15, seed=12)
    ref = run_and_grad(lambda **kw: selective_scan_ref(**kw, positions=positions), inp)
    fast = run_and_grad(lambda **kw: selective_scan(**kw, positions=positions, impl="torch", block_size=4), inp)
    assert_close_all(fast, ref, rtol=1e-9, atol=1e-10)


def test_contiguous_positions_equal_none():
    inp = make_inputs(2, 3, 4, 19, seed=13)
    positions = torch.arange(19).repeat(2, 1) + torch.tensor([[0], [5]])
    for impl in ("torch", "numba", "reference"):
        base = run_and_grad(lambda **kw: selective_scan(**kw, impl=impl), inp)
        aligned = run_and_grad(lambda **kw: selective_scan(**kw, positions=positions, impl=impl), inp)
        assert torch.equal(base[0], aligned[0])
        for k in base[1]:
            assert torch.equal(base[1][k], aligned[1][k]), k


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-14), (torch.float32, 1e-6)])
def test_softplus_matches_torch(dtype, rtol):
    x = torch.cat([torch.linspace(-120, 40, 4001, dtype=dtype), torch.tensor([-1e-30, 0.0, 19.99, 20.0, 20.01], dtype=dtype)])
    x.requires_grad_()
    want = F.softplus(x)
    got = softplus(x)
    torch.testing.assert_close(got, want, rtol=rtol, atol=torch.finfo(dtype).tiny)
    (gw,) = torch.autograd.grad(want.sum(), x)
    (gg,) = torch.autograd.grad(got.sum(), x)
    torch.testing.assert_close(gg, gw, rtol=rtol, atol=torch.finfo(dtype).tiny)


def test_flip_positions_keeps_gaps():
    p = torch.tensor([[2, 3, 7, 20], [0, 1, 2, 3]])
    q = flip_positions(p)
    assert q.tolist() == [[0, 13, 17, 18], [0, 1, 2, 3]]


def test_cuda_adapter_alignment_with_stand_in_kernel():
    """The aligned adapter's u' = x/dt rewrite, run through a mamba_ssm-shaped stand-in."""
    def stand_in(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                 return_last_state=False):
        return selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)

    positions = random_positions(2, 8, 30, torch.Generator().manual_seed(3), "random")
    inp = make_inputs(2, 3, 2, 8, seed=14)
    dt, x = scan_inputs(inp["u"], inp["delta"], inp["delta_bias"], True, positions)
    y = scan_cuda.selective_scan_cuda(inp["u"], dt, x, inp["A"], inp["B"], inp["C"], inp["D"], inp["z"],
                                      aligned=True, scan_fn=stand_in)
    torch.testing.assert_close(y, selective_scan_ref(**inp, positions=positions), rtol=1e-10, atol=1e-12)
    y = scan_cuda.selective_scan_cuda(inp["u"], None, None, inp["A"], inp["B"], inp["C"], inp["D"], inp["z"],
                                      delta=inp["delta"], delta_bias=inp["delta_bias"], scan_fn=stand_in)
    torch.testing.assert_close(y, selective_scan_ref(**inp), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("Bsz,D,N,L,block", [(1, 1, 1, 1, None), (1, 2, 1, 1, 16), (1, 3, 1, 37, 5),
                                             (2, 2, 3, 37, 36), (1, 2, 2, 5, 100)])
def test_edge_shapes(Bsz, D, N, L, block):
    inp = make_inputs(Bsz, D, N, L, seed=15)
    assert_close_all(run_and_grad(torch_impl(block), inp), run_and_grad(selective_scan_ref, inp), 1e-9, 1e-10)


def test_float32_close_to_float64():
    inp = make_inputs(2, 6, 4, 70, seed=16)
    want = run_and_grad(selective_scan_ref, inp)
    got = run_and_grad(torch_impl(16), {k: None if v is None else v.float() for k, v in inp.items()})
    assert got[0].dtype == torch.float32
    torch.testing.assert_close(got[0].double(), want[0], rtol=1e-4, atol=1e-4)
    for k in want[1]:
        torch.testing.assert_close(got[1][k].double(), want[1][k], rtol=1e-3, atol=1e-3, msg=lambda m, k=k: f"grad {k}: {m}")


def test_bfloat16_computes_in_float32():
    inp = {k: None if v is None else v.to(torch.bfloat16) for k, v in make_inputs(1, 3, 2, 12, seed=17).items()}
    y = selective_scan(**inp, impl="torch")
    assert y.dtype == torch.bfloat16
    want = selective_scan_ref(**{k: None if v is None else v.double() for k, v in inp.items()})
    torch.testing.assert_close(y.double(), want, rtol=2e-2, atol=2e-2)


def test_non_contiguous_inputs():
    inp = make_inputs(2, 4, 3, 21, seed=18)
    nc = {
        k: None if v is None else (v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() > 1 else v[::1])
        for k, v in inp.items()
    }
    nc["A"] = inp["A"].t().contiguous().t()
    assert not nc["u"].is_contiguous() and not nc["B"].is_contiguous() and not nc["A"].is_contiguous()
    assert_close_all(run_and_grad(torch_impl(4), nc), run_and_grad(selective_scan_ref, inp), 1e-9, 1e-10)


def test_output_is_contiguous_and_impl_reported():
    inp = make_inputs(2, 3, 2, 9, seed=19)
    assert selective_scan(**inp, impl="torch").is_contiguous()
    assert resolve_impl("auto", inp["u"]) == "numba"  # the fused CPU core
    assert resolve_impl("torch", inp["u"]) == "torch"
    assert resolve_impl("reference", inp["u"]) == "reference"
    with pytest.raises(ValueError, match="impl must be one of"):
        resolve_impl("fast", inp["u"])


@pytest.mark.skipif(scan_cuda.is_available(), reason="mamba_ssm is installed")
def test_forced_cuda_without_mamba_ssm_says_how_to_install():
    inp = make_inputs(1, 2, 2, 3)
    with pytest.raises(RuntimeError, match="pip install mamba-ssm"):
        selective_scan(**inp, impl="cuda")


# ----------------------------------------------------------------------------- validation
def _bad_cases():
    i = make_inputs(2, 3, 4, 5)
    P = torch.arange(5).repeat(2, 1)
    return [
        ("u", dict(u=i["u"][0])),
        ("delta", dict(delta=i["delta"][:, :, :4])),
        ("A", dict(A=i["A"][:2])),
        ("B", dict(B=i["B"][:, :3])),
        ("C", dict(C=i["C"].transpose(1, 2))),
        ("D", dict(D=i["D"][:2])),
        ("z", dict(z=i["z"][:1])),
        ("delta_bias", dict(delta_bias=i["delta_bias"][None])),
        ("u has dtype", dict(u=i["u"].long(), delta=i["delta"])),
        ("A is torch.float32", dict(A=i["A"].float())),
        ("positions must be an integer", dict(positions=P.double())),
        ("positions has shape", dict(positions=P[:, :4])),
        ("positions must be strictly increasing", dict(positions=torch.tensor([[0, 1, 1, 2, 3], [0, 1, 2, 3, 4]]))),
        ("positions must be strictly increasing", dict(positions=P.flip(-1))),
        ("positions must be >= 0", dict(positions=P - 1)),
        ("u contains NaN", dict(u=i["u"].clone().index_fill_(2, torch.tensor([1]), float("nan")))),
        ("delta contains NaN or inf", dict(delta=i["delta"].clone().index_fill_(2, torch.tensor([0]), float("inf")))),
    ]


@pytest.mark.parametrize("needle,bad", _bad_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_bad_inputs_raise_value_error(needle, bad):
    args = {**make_inputs(2, 3, 4, 5), **bad}
    with pytest.raises(ValueError, match=needle):
        selective_scan(**args, impl="torch")


def test_bad_block_size_and_empty_length():
    i = make_inputs(1, 2, 2, 4)
    with pytest.raises(ValueError, match="block_size"):
        selective_scan(**i, impl="torch", block_size=0)
    e = make_inputs(1, 2, 2, 0)
    with pytest.raises(ValueError, match="u has shape"):
        selective_scan(**e)


def test_bidirectional_bad_gate_and_z():
    i = make_inputs(1, 2, 2, 4)
    p = ScanParams(i["u"], i["delta"], i["A"], i["B"], i["C"])
    with pytest.raises(ValueError, match="gate"):
        bidirectional_scan(p, gate="max")
    with pytest.raises(ValueError, match="z has shape"):
        bidirectional_scan(p, z=i["z"][:, :1])
