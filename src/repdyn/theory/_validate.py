"""Argument checks shared by the theory functions, on top of :mod:`repdyn.checks`.

Every check raises a ValueError (:class:`repdyn.checks.ArgumentValueError`) or,
for a value of the wrong kind (a bool, a string, an object), a TypeError
(:class:`repdyn.checks.ArgumentTypeError`), naming the argument, what was
expected and what was received, so that a user can fix the call without
reading code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn import checks
from repdyn.checks import ArgumentTypeError, ArgumentValueError

FloatArray = NDArray[np.float64]

#: The methods of :func:`scipy.integrate.solve_ivp`, and ``"auto"``.
METHODS = ("auto", "DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")

# A measured state may lie outside the Cauchy-Schwarz band by rounding (float32
# records, a projection): this much relative slack is accepted at the input.
_BAND_SLACK = 1e-6


def as_finite(name: str, value: ArrayLike) -> FloatArray:
    """``value`` as a float64 array of finite numbers (no bools, strings or objects)."""
    return checks.real_array(name, value)


def real_or_nan(name: str, value: ArrayLike) -> FloatArray:
    """``value`` as a float64 array of real numbers, NaN and infinities allowed (no bools or strings)."""
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(name, f"{name} must be real numbers; got {checks.describe(value)}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(name, f"{name} must be real numbers; got {checks.describe(value)}") from None
    if raw.dtype.kind not in "iuf":
        raise ArgumentTypeError(name, f"{name} must be real numbers; got {checks.describe(value)}")
    return raw.astype(np.float64, copy=False)


def positive(name: str, value: ArrayLike) -> FloatArray:
    return checks.real_array(name, value, above=0)


def nonnegative(name: str, value: ArrayLike) -> FloatArray:
    return checks.real_array(name, value, at_least=0)


def real_scalar(name: str, value: Any, **bounds: float) -> float:
    """A finite real number (not a bool, not a string) within ``bounds`` (see :func:`repdyn.checks.real`)."""
    result = checks.real(name, value, **bounds)
    assert result is not None
    return result


def integer(name: str, value: Any, **bounds: int) -> int:
    result = checks.integer(name, value, **bounds)
    assert result is not None
    return result


def choice(name: str, value: Any, options: Any) -> Any:
    return checks.choice(name, value, options)


describe = checks.describe


def method(value: Any) -> str:
    """An integrator: ``"auto"`` or a method of :func:`scipy.integrate.solve_ivp`."""
    return checks.choice("method", value, METHODS)


def times(value: ArrayLike, *, name: str = "t", min_points: int = 2) -> FloatArray:
    """A 1-D, strictly increasing array of at least ``min_points`` time points."""
    arr = as_finite(name, value)
    if arr.ndim != 1:
        raise ArgumentValueError(name, f"{name} must be a 1-D array of time points; got shape {arr.shape}")
    if arr.size < min_points:
        raise ArgumentValueError(name, f"{name} needs at least {min_points} time points; got {arr.size}")
    if np.any(np.diff(arr) <= 0):
        raise ArgumentValueError(name, f"{name} must be strictly increasing (time points in epochs, in order)")
    return arr


def state(name: str, value: ArrayLike) -> FloatArray:
    """An array of shape (..., 3) holding (h, y, w); h must be > 0 and y >= 0."""
    arr = as_finite(name, value)
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise ArgumentValueError(
            name, f"{name} must have shape (..., 3) holding (h, y, w); got shape {arr.shape}"
        )
    positive(f"{name}[..., 0] (h, the squared representational distance)", arr[..., 0])
    nonnegative(f"{name}[..., 1] (y, the squared prediction distance)", arr[..., 1])
    return arr


def problem(name: str, z: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike,
            dy2: ArrayLike) -> tuple[FloatArray, ...]:
    """States ``z`` (..., 3) and the system's parameters, checked and broadcast together:
    ``(h, y, w, eta_h, eta_y, dx2, dy2)``, each of the batch shape."""
    z = state(name, z)
    return broadcast(
        **{f"{name}[..., {i}]": z[..., i] for i in range(3)},
        eta_h=positive("eta_h", eta_h),
        eta_y=positive("eta_y", eta_y),
        dx2=positive("dx2", dx2),
        dy2=nonnegative("dy2", dy2),
    )


def band(name: str, y: FloatArray, w: FloatArray, dy2: FloatArray) -> None:
    """Refuse states outside the Cauchy-Schwarz band ``|y - w| <= sqrt(dy2 y)`` (beyond rounding).

    States outside it belong to no pair of vectors; usually ``dy2`` does not
    match the data the state was measured on.
    """
    with np.errstate(over="ignore"):
        excess = np.abs(y - w) - np.sqrt(dy2 * y) * (1 + _BAND_SLACK) - 1e-12 * np.maximum(y, np.abs(w))
    if np.any(excess > 0):
        i = tuple(int(j) for j in np.unravel_index(np.argmax(excess), y.shape))
        at = f" at index {i}" if i else ""
        raise ArgumentValueError(
            name,
            f"{name} is not a reachable state{at}: |y - w| = |dy . dyhat| must be "
            f"<= sqrt(dy2 * y), got y={y[i]:.6g}, w={w[i]:.6g}, dy2={dy2[i]:.6g}; "
            "check that dy2 matches the data the state was measured on",
        )


def computable(names: str, *results: Any) -> None:
    """Refuse arguments whose result float64 cannot hold (it came out infinite or NaN).

    ``names`` lists the arguments the result is computed from, as the caller spells them.
    """
    for result in results:
        if not np.all(np.isfinite(result)):
            raise ArgumentValueError(
                names,
                f"{names}: the result is beyond float64's range (it overflows to inf or is undefined) "
                "for these arguments; rescale them (the units of the distances, or of time) "
                "or check them",
            )


def scalar(name: str, value: ArrayLike, **bounds: float) -> float:
    """One finite number within ``bounds``, given as a number or a 0-d array."""
    arr = checks.real_array(name, value, **bounds)
    if arr.ndim != 0:
        raise ArgumentValueError(name, f"{name} must be a single number; got an array of shape {arr.shape}")
    return float(arr)


def broadcast(**arrays: FloatArray) -> tuple[FloatArray, ...]:
    """Broadcast named arrays together, naming their shapes if they do not fit."""
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k}: {np.shape(v)}" for k, v in arrays.items())
        raise ArgumentValueError(
            ", ".join(arrays),
            f"shapes do not broadcast ({shapes}); give every argument the same leading batch "
            "shape, or shape () to share one value across the batch",
        ) from None

