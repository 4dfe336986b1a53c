"""Closed-form solution of the system for identical targets (dy = 0)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check

FloatArray = NDArray[np.float64]


def exact_identical_targets(
    h0: ArrayLike,
    y0: ArrayLike,
    t: ArrayLike,
    *,
    eta_h: ArrayLike,
    eta_y: ArrayLike,
    dx2: ArrayLike,
) -> FloatArray:
    """Exact ``(h, y, w)`` when the two targets coincide (``dy2 = 0``, so ``w = y``).

    ``dh/dt = -a h (C + k h)`` with ``a = eta_h dx2`` has the solution
    ``h(t) = C h0 / ((C + k h0) exp(a C t) - k h0)`` (``h0 / (1 + a k h0 t)`` at
    ``C = 0``). It is evaluated here in a form that never overflows: with
    ``q = exp(-a |C| t)`` and ``g = (1 - q) / |C|`` (``a t`` at ``C = 0``),
    ``h = h0 q / (1 + k h0 g)`` for ``C > 0`` and ``h = h0 / (q + k h0 g)``
    otherwise. ``h -> 0`` (for ``C >= 0``) is followed without NaN or inf.

    Parameters
    ----------
    h0, y0 : array_like
        Initial state, ``h0 > 0`` and ``y0 >= 0``; ``w0 = y0``.
    t : array_like, shape (T,)
        Times in epochs since the initial state (``t >= 0``).
    eta_h, eta_y, dx2 : array_like
        Effective rates and squared input distance, all > 0.

    Returns
    -------
    ndarray, shape (..., T, 3)
    """
    t = check.nonnegative("t", t)
    if t.ndim != 1:
        raise check.ArgumentValueError("t", f"t must be a 1-D array of times; got shape {t.shape}")
    h0, y0, eta_h, eta_y, dx2 = check.broadcast(
        h0=check.positive("h0", h0),
        y0=check.nonnegative("y0", y0),
        eta_h=check.positive("eta_h", eta_h),
        eta_y=check.positive("eta_y", eta_y),
        dx2=check.positive("dx2", dx2),
    )
    h0, y0, eta_h, eta_y, dx2 = (v[..., None] for v in (h0, y0, eta_h, eta_y, dx2))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        a = eta_h * dx2
        k = eta_y / a
        c = y0 / h0 - k * h0
        abs_c = np.abs(c)
        x = a * abs_c * t
        q = np.exp(-x)
        g = np.where(abs_c > 0, -np.expm1(-x) / np.where(abs_c > 0, abs_c, 1.0), a * t)
        h = np.where(c > 0, h0 * q / (1 + k * h0 * g), h0 / (q + k * h0 * g))
        y = np.maximum(h * (c + k * h), 0.0)
    check.computable("h0, y0, t, eta_h, eta_y, dx2", h, y)
    return np.stack([h, y, y], axis=-1)
