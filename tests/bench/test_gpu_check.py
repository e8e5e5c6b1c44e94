"""The GPU check's Python half on CPU at tiny sizes (kernels under Triton's interpreter), and the
shell script's syntax: what scripts/gpu_check.sh runs is exercised before it meets a GPU."""

import subprocess
from pathlib import Path

import pytest
import torch

from smolmamba.bench import gpu_check
from smolmamba.ops import triton_runtime

CPU = torch.device("cpu")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"
interpreter = pytest.mark.skipif(
    torch.cuda.is_available() and not triton_runtime.interpreting(),
    reason="CUDA machine with TRITON_INTERPRET unset: scripts/gpu_check.sh runs these parts on the GPU")


@interpreter
def test_kernel_reports_on_cpu_agree():
    scan = gpu_check.scan_report(CPU, batch=2, dim=3, state=2, length=9, kept=5, rounds=1, warmup=0)
    lif = gpu_check.lif_report(CPU, (3, 2, 5), rounds=1, warmup=0)
    for label in ("dense", "aligned"):
        errs = scan[label]["float32"]["errors"]
        assert set(errs) == {"y", "du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias"}
        assert all(e["max_abs_err"] < 1e-4 for e in errs.values())
        assert set(scan[label]["bfloat16"]["ms_fwd_bwd"]) == {"triton", "torch"}
    assert lif["float64"]["errors"]["H"]["max_abs_err"] < 1e-12
    assert gpu_check.all_ok({"scan": scan, "lif": lif})


def test_train_report_records_each_model():
    rep = gpu_check.train_report(CPU, models=("smolmamba_tiny", "no_such_model"), batch=2)
    tiny = rep["models"]["smolmamba_tiny"]
    assert tiny["ok"] and tiny["scan_impl_auto"] == "numba" and tiny["params_without_grad"] == 0
    assert "no_such_model" in rep["models"]["no_such_model"]["error"]
    assert not gpu_check.all_ok(rep)


def test_all_ok_reads_nested_flags():
    assert gpu_check.all_ok({"a": {"ok": True, "b": {"ok": None}}})
    assert not gpu_check.all_ok({"a": [1], "b": {"c": {"ok": False}}})


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
