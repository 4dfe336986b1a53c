"""One compute thread per worker process.

Trials run in parallel across cores, one process each; a BLAS or OpenMP pool
inside each process would only fight the others for the same cores. The fast
CPU path computes with numpy's BLAS (OpenBLAS in the standard wheels) and the
reference paths with torch's, so both are limited.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch


def limit_threads(n: int = 1) -> None:
    """Limit torch and the BLAS libraries loaded in this process to ``n`` threads.

    Meant for the start of a worker process (a pool initializer). Torch's
    intra-op pool is set directly; numpy's BLAS is limited through
    ``threadpoolctl`` when it is installed. Without it, set
    ``OPENBLAS_NUM_THREADS`` (and ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``)
    before the process imports numpy.

    Parameters
    ----------
    n : int, default 1
        Threads per library, >= 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1 (threads per worker); got {n!r}")
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=n)


@contextlib.contextmanager
def threads(n: int = 1) -> Iterator[None]:
    """Within the block, torch and the BLAS libraries use ``n`` threads; restored after."""
    before = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        blas: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        blas = threadpool_limits(limits=n)
    try:
        with blas:
            torch.set_num_threads(n)
            yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the BLAS libraries loaded now, or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def blas_single_thread() -> Iterator[None]:
    """numpy's BLAS on one thread within the block (when threadpoolctl is installed).

    The fast path's products are far too small to gain from threads, and on a
    busy machine spinning BLAS threads made a run up to ten times slower.
    Scanning for the libraries is done once per process and cached.
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
