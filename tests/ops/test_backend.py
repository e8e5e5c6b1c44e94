"""ops/backend.py: one vocabulary and one availability table for the scan and LIF kernels, resolved
once per (op, request, device, dtype) and reported."""

import pytest
import torch

from smolmamba.models import create_model
from smolmamba.models.summary import example_input
from smolmamba.ops import backend
from smolmamba.ops.backend import OPS, Resolution, resolve, resolved


def test_one_vocabulary_for_both_ops():
    assert set(OPS["lif"]) < set(OPS["scan"])
    x = torch.zeros(2, 3)
    for op in OPS:
        assert resolve(op, "auto", x, "sigmoid") == "numba"
        assert resolve(op, "torch", x, "sigmoid") == "torch"
    with pytest.raises(ValueError, match=r"kernel='reference' is unknown: kernel must be one of"):
        resolve("lif", "reference", x, "sigmoid")
    with pytest.raises(ValueError, match=r"impl='trtion' is unknown: impl must be one of"):
        resolve("scan", "trtion", x)


def test_availability_table():
    for half in (torch.zeros(2, 3, dtype=torch.bfloat16), torch.zeros(2, 3, dtype=torch.float16)):
        assert resolve("scan", "auto", half) == "numba"  # both ops compute half precision in float32
        assert resolve("lif", "auto", half, "sigmoid") == resolve("lif", "numba", half, "sigmoid") == "numba"
    with pytest.raises(ValueError, match="kernel='numba' cannot run: .*meta"):
        resolve("lif", "numba", torch.zeros(2, 3, device="meta"), "sigmoid")
    with pytest.raises((ValueError, RuntimeError), match="impl='cuda' needs"):  # CUDA tensors, or mamba_ssm
        resolve("scan", "cuda", torch.zeros(1))


def test_resolved_once_per_key_and_reported(monkeypatch):
    calls = []
    rule = backend._rule
    monkeypatch.setattr(backend, "_rule", lambda *a, **kw: calls.append(a[:4]) or rule(*a, **kw))
    backend._cached_rule.cache_clear()
    model = create_model("smolmamba_tiny")
    model(example_input(model.cfg, 2))  # dozens of LIF calls and 8 scans
    assert sorted(calls) == [("lif", "auto", torch.device("cpu"), torch.float32),
                             ("scan", "auto", torch.device("cpu"), torch.float32)]
    assert {Resolution("lif", "auto", "cpu", "float32", "numba"),
            Resolution("scan", "auto", "cpu", "float32", "numba")} <= set(resolved())
