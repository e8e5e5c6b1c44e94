"""What the numba kernels (lif_cpu.py, scan_cpu.py) share: the import, the decorators, where they can
run, the thread pool, and a vectorisable float32 exp.

numba is a dependency; without it `numba` is None, `unavailable_reason` says so and ops/backend.py
picks the torch kernels.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    import numba
except ImportError:
    numba = None

__all__ = ["DTYPES", "exp_f32", "inline", "jit", "jit_reassoc", "numba", "set_threads", "unavailable_reason"]

DTYPES = (torch.float32, torch.float64)


def unavailable_reason(device: torch.device, dtype: torch.dtype) -> str | None:
    """None when a numba kernel can run on tensors of this device and dtype, else why not."""
    if numba is None:
        return "numba is not installed (pip install numba)"
    if device.type != "cpu":
        return f"the tensor is on {device}; the numba kernels are CPU only"
    if dtype not in DTYPES:
        return f"dtype {dtype} (the numba kernels take float32 or float64)"
    return None


_pool_started = False


def set_threads() -> None:
    """Run on torch's intra-op thread count (the CLI and the benches set it), and keep that count.

    numba's OpenMP threading layer, when it starts its pool at the first parallel launch, sets the
    process-wide OpenMP thread count (which torch's CPU ops read) to NUMBA_NUM_THREADS: a process set to
    1 thread then ran torch on every core, and two such processes on 2 cores ran 18x slower than one.
    So the pool is started here, once, and torch's count is put back."""
    global _pool_started
    threads = torch.get_num_threads()
    if not _pool_started:
        from numba.np.ufunc.parallel import _launch_threads

        _launch_threads()
        torch.set_num_threads(threads)
        _pool_started = True
    n = min(threads, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


if numba is not None:
    jit = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")  # a parallel kernel
    # a parallel kernel whose float sums may be reassociated: without it LLVM keeps a reduction over the
    # vector dimension in source order, scalar, and with it the whole loop around it (the scan backward's
    # dB and dC dot products: 2.6x faster, its result within float32 rounding of the ordered sum)
    jit_reassoc = numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
    inline = numba.njit(inline="always", error_model="numpy")  # a helper inlined into kernels

    @inline
    def exp_f32(z, bits):
        """z[:] <- exp(z) in float32 (Cephes expf, about 1 ulp; vectorises where libm's exp does not);
        bits: int32 scratch like z."""
        for j in range(z.shape[0]):
            zj = min(max(z[j], np.float32(-87.0)), np.float32(88.0))
            fx = np.floor(zj * np.float32(1.44269504) + np.float32(0.5))
            r = zj - fx * np.float32(0.693359375) - fx * np.float32(-2.12194440e-4)
            p = np.float32(1.9875691500e-4)
            p = p * r + np.float32(1.3981999507e-3)
            p = p * r + np.float32(8.3334519073e-3)
            p = p * r + np.float32(4.1665795894e-2)
            p = p * r + np.float32(1.6666665459e-1)
            p = p * r + np.float32(5.0000001201e-1)
            z[j] = p * r * r + r + np.float32(1.0)
            bits[j] = (np.int32(fx) + np.int32(127)) << np.int32(23)
        scale = bits.view(np.float32)
        for j in range(z.shape[0]):
            z[j] *= scale[j]
