"""The Jacobian of the 3-variable system's right-hand side."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check

FloatArray = NDArray[np.float64]


def jacobian(
    z: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike, dy2: ArrayLike
) -> FloatArray:
    """Jacobian ``d rhs / d(h, y, w)`` of :func:`repdyn.theory.rhs`, in closed form.

    With ``a = eta_h dx2`` and ``e = eta_y``, the right-hand side is
    ``(-a w, -w (e h + a y/h), -e/2 (3w - y + dy2) h - a/2 (y + w) w/h)``; entry
    ``[..., i, j]`` is the derivative of its ``i``-th component by the ``j``-th
    variable of ``(h, y, w)``.

    At a fixed point its eigenvalues are those of the regular form that
    :func:`repdyn.theory.solve` integrates (docs/theory.md), except that the
    one across ``dy`` appears doubled (``y`` depends on that direction only
    through its square); they are real there, the regular form being a
    gradient flow. Elsewhere the Jacobians of the two forms differ by the
    curvature of the change of variables.

    Parameters
    ----------
    z : array_like, shape (..., 3)
        States ``(h, y, w)``, ``h > 0``, ``y >= 0``.
    eta_h, eta_y : array_like
        Effective learning rates (> 0), broadcasting against ``z[..., 0]``.
    dx2, dy2 : array_like
        Squared input (> 0) and target (>= 0) distances, broadcasting likewise.

    Returns
    -------
    ndarray, shape (..., 3, 3)
    """
    h, y, w, eta_h, eta_y, dx2, dy2 = check.problem("z", z, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    a, e = eta_h * dx2, eta_y
    zero = np.zeros_like(h)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        rows = [
            [zero, zero, -a + zero],
            [-w * (e - a * y / h**2), -w * a / h, -(e * h + a * y / h)],
            [
                -0.5 * e * (3 * w - y + dy2) + 0.5 * a * (y + w) * w / h**2,
                0.5 * e * h - 0.5 * a * w / h,
                -1.5 * e * h - 0.5 * a * (y + 2 * w) / h,
            ],
        ]
    out = np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)
    check.computable("z, eta_h, eta_y, dx2, dy2", out)
    return out
