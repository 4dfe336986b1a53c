"""The training loss predicted by the theory."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check

FloatArray = NDArray[np.float64]


def loss_curve(
    z: ArrayLike, t: ArrayLike, *, eta_m: ArrayLike, dy2: ArrayLike, m0: ArrayLike
) -> FloatArray:
    """Training loss ``L(t) = m0/2 exp(-2 eta_m t) + w/4 + (dy2 - y)/8``.

    Uses the project's loss convention ``L = 1/2 mean_i ||y_i - yhat_i||^2``.

    Parameters
    ----------
    z : array_like, shape (..., T, 3)
        Trajectory ``(h, y, w)``, for instance from :func:`solve`.
    t : array_like, shape (T,)
        Times in epochs (the mean-output term decays from ``t = 0``).
    eta_m : array_like
        Effective learning rate of the output mean (>= 0).
    dy2 : array_like
        Squared target distance (>= 0), broadcasting with the batch shape ``...``.
    m0 : array_like
        Squared mean-output error at ``t = 0``, ``||y_bar - m(0)||^2`` (>= 0).

    Returns
    -------
    ndarray, shape (..., T)
    """
    z = check.as_finite("z", z)
    t = check.as_finite("t", t)
    if z.ndim < 2 or z.shape[-1] != 3:
        raise check.ArgumentValueError("z", f"z must have shape (..., T, 3) holding (h, y, w); got shape {z.shape}")
    if t.shape != z.shape[-2:-1]:
        raise check.ArgumentValueError("t", f"t must have shape ({z.shape[-2]},) to match z; got shape {t.shape}")
    dy2, eta_m, m0 = (
        check.nonnegative(name, v)[..., None] for name, v in (("dy2", dy2), ("eta_m", eta_m), ("m0", m0))
    )
    y, w = z[..., 1], z[..., 2]
    try:
        return 0.5 * m0 * np.exp(-2.0 * eta_m * t) + 0.25 * w + 0.125 * (dy2 - y)
    except ValueError:
        raise check.ArgumentValueError(
            "dy2, eta_m, m0", f"dy2, eta_m and m0 must broadcast with the batch shape {z.shape[:-2]} of z"
        ) from None
