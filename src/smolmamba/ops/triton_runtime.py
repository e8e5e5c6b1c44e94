"""Can a Triton kernel run on this tensor? Triton must import, and the tensor must be on CUDA or
Triton's CPU interpreter must be on.

The interpreter (TRITON_INTERPRET=1) runs kernels in numpy on CPU tensors: slow, for tests.
Triton reads the variable when it decorates its own library functions (tl.sum, ...), i.e. when
``triton`` is first imported, so set it before that; tests/conftest.py does so on machines
without CUDA. Triton is imported lazily: nothing here imports it until asked.
"""

from __future__ import annotations

import functools
import os

import torch

__all__ = ["check_runnable", "compiled_available", "import_error", "interpreting"]

INSTALL_HINT = "`pip install triton` (CUDA builds of torch ship it)"


@functools.lru_cache(maxsize=1)
def import_error() -> str:
    """'' if triton imports, else why not."""
    try:
        import triton  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return f"{type(exc).__name__}: {exc}"
    return ""


def interpreting() -> bool:
    """True if Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    if import_error():
        return False
    import triton

    knobs = getattr(triton, "knobs", None)  # triton >= 3.4; older ones read the variable directly
    return bool(knobs.runtime.interpret) if knobs is not None else os.environ.get("TRITON_INTERPRET") == "1"


def _device(where: torch.Tensor | torch.device) -> torch.device:
    return where.device if isinstance(where, torch.Tensor) else torch.device(where)


def compiled_available(where: torch.Tensor | torch.device) -> bool:
    """True if a compiled (not interpreted) Triton kernel can run on a tensor (or device): CUDA, Triton
    imports."""
    return _device(where).type == "cuda" and not import_error() and not interpreting()


def check_runnable(what: str, where: torch.Tensor | torch.device, instead: str) -> None:
    """Raise RuntimeError (no Triton) or ValueError (CPU tensor, interpreter off) naming the fix;
    `instead` names the non-Triton way, e.g. "impl='torch'"."""
    why = import_error()
    if why:
        raise RuntimeError(f"{what} needs Triton, which did not import ({why}); {INSTALL_HINT}, or use {instead}")
    device = _device(where)
    if device.type != "cuda" and not interpreting():
        raise ValueError(
            f"{what} needs CUDA tensors, got device {device}; use {instead}, or set "
            "TRITON_INTERPRET=1 before triton is imported to run the kernel in Triton's CPU interpreter (slow, for tests)")
