"""The coefficient of determination, the one goodness-of-fit measure of the project."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check

FloatArray = NDArray[np.float64]


def r2(
    observed: ArrayLike, predicted: ArrayLike, *, axis: int | None = None, atol: float = 0.0
) -> float | FloatArray:
    """Coefficient of determination ``R^2 = 1 - SS_res / SS_tot`` of a prediction.

    ``SS_res = sum (observed - predicted)**2`` and
    ``SS_tot = sum (observed - mean(observed))**2``, both summed over the points
    of one series: all values (``axis=None``) or those along ``axis``. R^2 is 1
    for a perfect prediction, 0 for one no better than the observed mean and
    negative (unbounded below) for a worse one.

    Where R^2 is undefined it is NaN, never an error or an infinity:

    * a constant series, ``SS_tot <= n * atol**2`` with ``n`` its number of
      points: the root-mean-square deviation of the observed values from their
      mean is at most ``atol`` (with the default ``atol = 0``, exactly constant;
      a series of no points counts as constant). There is no variation to
      explain, and ``1 - SS_res / SS_tot`` would be ``0/0`` for a perfect
      prediction and ``-inf`` for any other;
    * a series where the prediction is not finite somewhere (a model that
      failed has nothing to score).

    Parameters
    ----------
    observed : array_like
        Observed values, finite.
    predicted : array_like
        Predicted values, of the same shape as ``observed``.
    axis : int, optional
        The axis a series runs along, giving one R^2 per series (for instance
        ``-2``, time, for trajectories of shape ``(..., T, 3)``). Default
        ``None``: all values form one series.
    atol : float, optional
        Variation (>= 0, in the units of ``observed``) at or below which a
        series counts as constant, for instance the precision the values are
        known to; default 0.

    Returns
    -------
    float or ndarray
        A float for ``axis=None``; otherwise an array of ``observed``'s shape
        without ``axis``.

    Raises
    ------
    ValueError
        If ``observed`` is not finite, the shapes differ, ``axis`` is out of
        range or ``atol`` is negative.
    """
    obs = check.as_finite("observed", observed)
    pred = check.real_or_nan("predicted", predicted)
    if pred.shape != obs.shape:
        raise check.ArgumentValueError(
            "predicted", f"predicted must have the shape of observed {obs.shape}; got {pred.shape}"
        )
    tol = check.real_scalar("atol", atol, at_least=0)
    if axis is not None:
        axis = check.integer("axis", axis)
        if not -obs.ndim <= axis < obs.ndim:
            raise check.ArgumentValueError(
                "axis", f"axis must lie in [{-obs.ndim}, {obs.ndim}) for observed of shape {obs.shape}; got {axis}"
            )
    n = obs.size if axis is None else obs.shape[axis]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if n == 0:
            value = np.full(np.shape(np.sum(obs, axis=axis)), np.nan)
        else:
            ss_tot = np.sum((obs - obs.mean(axis=axis, keepdims=True)) ** 2, axis=axis)
            ss_res = np.sum((obs - pred) ** 2, axis=axis)
            # sqrt(SS_tot / n) > atol, written so that a huge atol cannot overflow
            defined = (np.sqrt(ss_tot / n) > tol) & np.all(np.isfinite(pred), axis=axis)
            value = np.where(defined, 1.0 - ss_res / ss_tot, np.nan)
    return float(value) if axis is None else value
