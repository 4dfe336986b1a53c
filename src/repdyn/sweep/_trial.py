"""Calling one trial: thread limits, result checks, and turning failures into records.

This module runs inside worker processes, so it imports nothing heavy: torch
is touched only through ``sys.modules`` when the trial itself has imported it.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

#: ``status`` of a trial whose function raised; ``error`` holds the traceback.
STATUS_ERROR = "error"
#: ``status`` of a trial whose worker process died more often than allowed.
STATUS_FAILED = "failed"

#: Environment variables that size the thread pools of BLAS and OpenMP libraries.
#: They are read once, when a library loads, so they are set before a worker starts.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


class TrialError(RuntimeError):
    """A trial raised, and the sweep was asked to stop (``errors="raise"``)."""


def error_record(message: str, status: str = STATUS_ERROR) -> dict[str, Any]:
    return {"status": status, "error": message}


def is_problem(result: Mapping[str, Any]) -> bool:
    """True for the records the sweep writes when a trial raised or its worker died."""
    return result.get("status") in (STATUS_ERROR, STATUS_FAILED) and isinstance(
        result.get("error"), str
    )


def check_result(result: Any) -> dict[str, Any]:
    """Validate a trial's return value and normalise its scalars to Python types.

    Raises
    ------
    TypeError
        If ``result`` is not a flat mapping from str to JSON scalars
        (int, float, str, bool, None) and numpy arrays.
    """
    if not isinstance(result, Mapping):
        raise TypeError(
            f"a trial must return a dict of JSON scalars and numpy arrays; it returned "
            f"{type(result).__name__}"
        )
    out: dict[str, Any] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"result field names must be non-empty str; got {name!r}")
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(
                    f"result field {name!r} is an object array; store numeric or string arrays only"
                )
            out[name] = value
        elif isinstance(value, np.generic):
            out[name] = value.item()
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            raise TypeError(
                f"result field {name!r} has type {type(value).__name__}; results hold JSON scalars "
                "(int, float, str, bool, None) and numpy arrays, so convert it (np.asarray for "
                "lists and tensors, float() for 0-d tensors) before returning"
            )
    return out


_torch_threads_before: int | None = None


def limit_torch_threads() -> None:
    """Give torch one intra-op thread if the trial code has imported it.

    Checked before every trial because a trial may import torch lazily. The
    first value seen is remembered so :func:`single_threaded` can restore it.
    """
    global _torch_threads_before
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "get_num_threads"):
        return
    current = torch.get_num_threads()
    if current != 1:
        if _torch_threads_before is None:
            _torch_threads_before = current
        torch.set_num_threads(1)


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run trials in this process with one torch thread, then restore the old count.

    Used by the in-process executor so that its results match those of worker
    processes bit for bit (the number of threads can change reduction order).
    """
    global _torch_threads_before
    _torch_threads_before = None
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None and _torch_threads_before is not None:
            torch.set_num_threads(_torch_threads_before)
        _torch_threads_before = None


@contextmanager
def single_thread_env() -> Iterator[None]:
    """Set the thread environment variables to 1 while worker processes are started."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV_VARS}
    os.environ.update({name: "1" for name in THREAD_ENV_VARS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def call_trial(fn: Callable[[Any], Any], config: Any) -> tuple[dict[str, Any], float]:
    """Run ``fn(config)``; return ``(result, seconds)``, never raising for trial errors.

    An exception inside the trial, or a return value that is not a valid
    result, becomes ``{"status": "error", "error": <traceback text>}``.
    """
    limit_torch_threads()
    start = time.perf_counter()
    try:
        result = check_result(fn(config))
    except (Exception, SystemExit):  # noqa: BLE001 - any trial failure is recorded, not raised; an exit too
        result = error_record(traceback.format_exc())
    return result, time.perf_counter() - start
