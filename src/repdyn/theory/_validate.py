"""Argument checks shared by the theory functions.

Every check raises :class:`ValueError` naming the argument, what was expected
and what was received, so that a user can fix the call without reading code.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def as_finite(name: str, value: ArrayLike) -> FloatArray:
    """Return ``value`` as a float64 array, rejecting NaN and inf."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric (a float or an array of floats); got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; pass finite values only")
    return arr


def positive(name: str, value: ArrayLike) -> FloatArray:
    arr = as_finite(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere; smallest value is {float(arr.min())!r}")
    return arr


def nonnegative(name: str, value: ArrayLike) -> FloatArray:
    arr = as_finite(name, value)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 everywhere; smallest value is {float(arr.min())!r}")
    return arr


def times(value: ArrayLike, *, name: str = "t", min_points: int = 2) -> FloatArray:
    """A 1-D, strictly increasing array of at least ``min_points`` time points."""
    arr = as_finite(name, value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of time points; got shape {arr.shape}")
    if arr.size < min_points:
        raise ValueError(f"{name} needs at least {min_points} time points; got {arr.size}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be strictly increasing (time points in epochs, in order)")
    return arr


def state(name: str, value: ArrayLike) -> FloatArray:
    """An array of shape (..., 3) holding (h, y, w); h must be > 0 and y >= 0."""
    arr = as_finite(name, value)
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3) holding (h, y, w); got shape {arr.shape}")
    positive(f"{name}[..., 0] (h, the squared representational distance)", arr[..., 0])
    nonnegative(f"{name}[..., 1] (y, the squared prediction distance)", arr[..., 1])
    return arr


def broadcast(**arrays: FloatArray) -> tuple[FloatArray, ...]:
    """Broadcast named arrays together, naming their shapes if they do not fit."""
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k}: {np.shape(v)}" for k, v in arrays.items())
        raise ValueError(
            f"shapes do not broadcast ({shapes}); give every argument the same leading batch "
            "shape, or shape () to share one value across the batch"
        ) from None
