"""One compute thread per worker process.

Trials run in parallel across cores, one process each; a BLAS or OpenMP pool
inside each process would only fight the others for the same cores. The fast
CPU path computes with numpy's BLAS (OpenBLAS in the standard wheels) and the
reference paths with torch's, so both are limited.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
