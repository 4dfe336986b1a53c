"""The stable fixed point of the 3-variable system and its rich and lazy limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check

FloatArray = NDArray[np.float64]

RICH, INTERMEDIATE, LAZY = "rich", "intermediate", "lazy"


@dataclass(frozen=True)
class FinalDistance:
    """Predicted final squared representational distance and its limits.

    Attributes
    ----------
    h_inf : ndarray
        The stable fixed point of ``h``.
    a_low : ndarray
        Rich (small-weight) limit ``sqrt(dx2 * dy2 * eta_h / eta_y)``.
    a_high : ndarray
        Lazy (large-weight) limit ``h0 - y0 * dx2 * eta_h / (eta_y * h0)``.
    regime : ndarray of str
        ``"rich"`` where ``|a_high| * margin <= a_low``, ``"lazy"`` where
        ``|a_high| >= margin * a_low``, ``"intermediate"`` otherwise.
    """

    h_inf: FloatArray
    a_low: FloatArray
    a_high: FloatArray
    regime: NDArray[np.str_]


def conserved(
    h: ArrayLike, y: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike
) -> FloatArray:
    """The conserved quantity ``C = y/h - k h`` with ``k = eta_y / (eta_h dx2)``.

    Parameters
    ----------
    h, y : array_like
        Squared representational and prediction distances; ``h > 0``, ``y >= 0``.
    eta_h, eta_y : array_like
        Effective learning rates, > 0.
    dx2 : array_like
        Squared input distance, > 0.

    Returns
    -------
    ndarray
        ``C``, broadcast over all arguments.
    """
    h, y, eta_h, eta_y, dx2 = check.broadcast(
        h=check.positive("h", h), y=check.nonnegative("y", y), eta_h=check.positive("eta_h", eta_h),
        eta_y=check.positive("eta_y", eta_y), dx2=check.positive("dx2", dx2))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        c = y / h - eta_y / (eta_h * dx2) * h
    check.computable("h, y, eta_h, eta_y, dx2", c)
    return c


def final_distance(
    h0: ArrayLike,
    y0: ArrayLike,
    *,
    eta_h: ArrayLike,
    eta_y: ArrayLike,
    dx2: ArrayLike,
    dy2: ArrayLike,
    margin: float = 10.0,
) -> FinalDistance:
    """The stable fixed point ``h_inf`` reached from the initial state ``(h0, y0)``.

    ``h_inf = A_high/2 + sqrt(A_high**2/4 + A_low**2)``; only the ratio
    ``eta_h / eta_y`` enters. All arguments broadcast together.

    Parameters
    ----------
    h0, y0 : array_like
        Initial squared representational (> 0) and prediction (>= 0) distances.
    eta_h, eta_y : array_like
        Effective learning rates, > 0.
    dx2, dy2 : array_like
        Squared input (> 0) and target (>= 0) distances.
    margin : float, optional
        Factor between ``|A_high|`` and ``A_low`` beyond which a pair is called
        rich or lazy (default 10).

    Returns
    -------
    FinalDistance
    """
    margin = check.real_scalar("margin", margin, above=1)
    h0, y0, eta_h, eta_y, dx2, dy2 = check.broadcast(
        h0=check.positive("h0", h0), y0=check.nonnegative("y0", y0), eta_h=check.positive("eta_h", eta_h),
        eta_y=check.positive("eta_y", eta_y), dx2=check.positive("dx2", dx2), dy2=check.nonnegative("dy2", dy2))
    with np.errstate(over="ignore", under="ignore"):
        ratio = eta_h / eta_y

    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        a_low = np.sqrt(dx2 * dy2 * ratio)
        a_high = h0 - y0 * dx2 * ratio / h0
        root = np.hypot(a_high / 2, a_low)
        # For A_high < 0 the two terms nearly cancel; the conjugate form keeps digits.
        h_inf = np.where(
            a_high >= 0,
            a_high / 2 + root,
            a_low**2 / np.where(root - a_high / 2 > 0, root - a_high / 2, 1.0),
        )
    check.computable("h0, y0, eta_h, eta_y, dx2, dy2", ratio, a_low, a_high, h_inf)
    regime = np.where(
        np.abs(a_high) * margin <= a_low, RICH, np.where(np.abs(a_high) >= margin * a_low, LAZY, INTERMEDIATE)
    )
    return FinalDistance(h_inf=h_inf, a_low=a_low, a_high=a_high, regime=regime)
