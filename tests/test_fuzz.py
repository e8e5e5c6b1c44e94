"""Property-based fuzzing of the public model and op entry points: random shapes, dtypes and values.

Every call either returns the documented shape or raises ValueError with a message; never another
exception type, a hang or a silently wrong shape. Bounded: small shapes, ~40 examples each.
"""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smolmamba.layers.pruning import TokenPruner, select_tokens
from smolmamba.models import create_model
from smolmamba.neurons import lif
from smolmamba.ops import selective_scan

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.uint8, torch.bool]
SPECIALS = [0.0, 1.0, -1.0, 1e30, -1e30, float("nan"), float("inf"), -float("inf")]


def make(shape, dtype, fill, seed=0):
    """A tensor of `shape`/`dtype`: random normal values, or one special value spread in."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    if fill is not None and x.numel():
        x.view(-1)[:: max(1, x.numel() // 3)] = fill
    if dtype.is_floating_point:
        return x.to(dtype)
    return x.nan_to_num(0.0, 0.0, 0.0).clamp(0, 200).to(dtype)


def call(fn, *args, **kwargs):
    """-> result, or None after a ValueError with a message; any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        assert str(err).strip(), f"{type(err).__name__} without a message"
        return None


@pytest.fixture(scope="module")
def model():
    return create_model("smolmamba_tiny", embed_dim=16, depth=2, keep_ratios=(0.7, 0.5)).eval()


shape_near_valid = st.tuples(st.integers(0, 3), st.sampled_from([0, 1, 2, 3]), st.sampled_from([4, 15, 16, 17]),
                             st.sampled_from([15, 16]))
shape_valid = st.tuples(st.integers(1, 3), st.just(1), st.just(16), st.just(16))
shape_any = st.lists(st.integers(0, 5), min_size=0, max_size=6).map(tuple)


def test_model_forward(model):
    tried, successes = [], []  # local: the test checks its own examples, whatever ran before it

    @FUZZ
    @given(shape=st.one_of(shape_valid, shape_valid, shape_near_valid, shape_any),
           dtype=st.sampled_from([torch.float32] * 8 + DTYPES), fill=st.sampled_from([None] * 4 + SPECIALS),
           seed=st.integers(0, 2**16))
    def forward(shape, dtype, fill, seed):
        x = make(shape, dtype, fill, seed)
        tried.append(shape)
        with torch.no_grad():
            y = call(model, x)
        if y is not None:
            assert y.shape == (shape[0], 10) and y.dtype == torch.float32
            assert torch.isfinite(x).all()  # eval mode never accepts NaN/inf input
            successes.append(shape)

    forward()
    assert len(tried) >= 10 and len(successes) >= 3, "the fuzz of the model forward should also exercise valid inputs"


@st.composite
def scan_args(draw):
    b, d, l, n = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 3)))
    shapes = {"u": (b, d, l), "delta": (b, d, l), "A": (d, n), "B": (b, n, l), "C": (b, n, l), "D": (d,),
              "z": (b, d, l), "delta_bias": (d,)}
    broken = draw(st.sampled_from([None] + list(shapes)))
    if broken is not None:  # one argument with a wrong shape
        wrong = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=4)))
        shapes[broken] = wrong if wrong != shapes[broken] else wrong + (1,)
    dtype = draw(st.sampled_from(DTYPES[:5]))
    odd = draw(st.sampled_from([None, "B", "D"]))  # one argument of another dtype
    fill = draw(st.sampled_from([None] + SPECIALS))
    args = {k: make(s, torch.float16 if k == odd and dtype != torch.float16 else dtype,
                    fill if k == "u" else None, i) for i, (k, s) in enumerate(shapes.items())}
    args["A"] = -args["A"].abs() if args["A"].is_floating_point() else args["A"]
    for k in ("D", "z", "delta_bias"):
        if k != broken and draw(st.booleans()):
            args[k] = None
    pos = draw(st.sampled_from([None, "valid", "unsorted", "negative", "float"]))
    if pos is not None:
        base = torch.arange(l).expand(b, l) * 2
        args["positions"] = {"valid": base, "unsorted": base.flip(-1), "negative": base - 5,
                             "float": base.float()}[pos].contiguous()
    args["impl"] = draw(st.sampled_from(["auto", "torch", "reference", "nope"]))
    return (b, d, l), broken, args


@FUZZ
@given(spec=scan_args())
def test_selective_scan(spec):
    (b, d, l), broken, args = spec
    y = call(selective_scan, **args)
    if y is not None:
        assert y.shape == (b, d, l) and y.dtype == args["u"].dtype
        assert broken is None and args["impl"] != "nope"


@FUZZ
@given(shape=shape_any, dtype=st.sampled_from(DTYPES), fill=st.sampled_from([None] + SPECIALS),
       tau=st.sampled_from([2.0, 0.5, 0.0, -1.0, float("nan")]), v_threshold=st.sampled_from([1.0, 0.0, -0.5]),
       surrogate=st.sampled_from(["sigmoid", "atan", "nope"]), membrane=st.booleans())
def test_lif(shape, dtype, fill, tau, v_threshold, surrogate, membrane):
    x = make(shape, dtype, fill)
    out = call(lif, x, tau=tau, v_threshold=v_threshold, surrogate=surrogate, return_membrane=membrane)
    if out is not None:
        spikes = out[0] if membrane else out
        assert spikes.shape == x.shape and spikes.dtype == x.dtype
        assert ((spikes == 0) | (spikes == 1)).all()


@FUZZ
@given(b=st.integers(1, 4), n=st.integers(1, 12), data=st.data(), dtype=st.sampled_from(DTYPES[:4]))
def test_select_tokens(b, n, data, dtype):
    k = data.draw(st.integers(1, n))
    importance = make((b, n), dtype, data.draw(st.sampled_from([None, 0.0, float("nan"), float("inf")])))
    index = call(select_tokens, importance, k)
    assert index is not None and index.shape == (b, k) and index.dtype == torch.int64
    assert (index.diff(dim=-1) > 0).all() and index.min() >= 0 and index.max() < n  # sorted, unique


@pytest.mark.parametrize("shape, k", [((2, 4), 6), ((2, 4), 0), ((2, 3, 4), 2)])
def test_select_tokens_rejects_out_of_contract(shape, k):
    with pytest.raises(ValueError, match="importance|k="):
        select_tokens(torch.rand(shape), k)


@FUZZ
@given(ratio=st.sampled_from([0.5, 1.0, 0.1, 0.0, 1.5, -0.2]), name=st.sampled_from(["sst_tp", "intensity", "nope"]),
       t=st.integers(1, 3), b=st.integers(1, 3), n=st.integers(1, 8), d=st.integers(1, 4))
def test_token_pruner(ratio, name, t, b, n, d):
    pruner = call(TokenPruner, name, ratio, 8)
    if pruner is None:
        return
    x, spikes = torch.randn(t, b, n, d), (torch.rand(t, b, n, d) > 0.5).float()
    positions = torch.arange(n).expand(b, n)
    out = call(pruner, x, spikes, positions)
    assert out is not None
    k = min(pruner.k, n)
    kept_x, kept_s, kept_pos, importance = out
    assert kept_x.shape == kept_s.shape == (t, b, k, d)
    assert kept_pos.shape == (b, k) and importance.shape == (b, n)
