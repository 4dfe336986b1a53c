"""Representational dissimilarity matrices from activations."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import squared_distances

FloatArray = NDArray[np.float64]

METRICS = ("sqeuclidean", "euclidean", "correlation")
NORMALISATIONS = ("none", "zscore", "units")


def activations_matrix(name: str, value: ArrayLike) -> FloatArray:
    """A finite (N, p) float array: one row per point, trailing axes flattened."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a numeric array with one row per point; got {value!r}"
        ) from exc
    if arr.ndim == 0:
        raise ValueError(f"{name} must have one row per point, shape (N, ...); got a scalar")
    arr = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr[:, None]
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 points and 1 unit; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} contains NaN or inf; pass finite activations (did training diverge?)"
        )
    return arr


def rdm(
    activations: ArrayLike,
    *,
    metric: Literal["sqeuclidean", "euclidean", "correlation"] = "sqeuclidean",
    normalise: Literal["none", "zscore", "units"] = "none",
) -> FloatArray:
    """Representational dissimilarity matrix of a set of activations.

    Parameters
    ----------
    activations : array_like, shape (N, ...)
        One row per point (stimulus); trailing axes (e.g. channels x positions)
        are flattened into units.
    metric : {"sqeuclidean", "euclidean", "correlation"}
        ``"sqeuclidean"`` (default): ``||a_i - a_j||^2``, summed over units, the
        quantity the theory predicts (``h``). ``"euclidean"``: its square root.
        ``"correlation"``: ``1 - r`` with ``r`` the Pearson correlation of the
        two activation patterns across units (scale- and offset-free per point).
    normalise : {"none", "zscore", "units"}
        ``"zscore"``: standardise every unit across points first (mean 0,
        variance 1; constant units become 0), so that units with large
        activations do not dominate. ``"units"``: divide squared distances by
        the number of units (mean instead of sum over units), which makes
        layers of different widths comparable; no effect on ``"correlation"``.
        Both change the convention away from the theory's raw ``h``.

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric, zero diagonal.

    Raises
    ------
    ValueError
        For an unknown metric or normalisation, non-finite activations, or,
        with ``"correlation"``, a point whose activations are constant (its
        correlation is undefined).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {NORMALISATIONS}; got {normalise!r}")
    act = activations_matrix("activations", activations)
    if normalise == "zscore":
        act = act - act.mean(axis=0)
        std = act.std(axis=0)
        act = np.divide(act, std, out=np.zeros_like(act), where=std > 0)

    if metric == "correlation":
        rows = act - act.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(rows, axis=1)
        flat = np.flatnonzero(norms == 0)
        if flat.size:
            raise ValueError(
                f"activations of points {flat[:10].tolist()} are constant across units, so their "
                "correlation distance is undefined; use metric='sqeuclidean' or drop those points"
            )
        rows /= norms[:, None]
        out = 1.0 - rows @ rows.T
        out = np.clip(0.5 * (out + out.T), 0.0, 2.0)
        np.fill_diagonal(out, 0.0)
        return out

    out = squared_distances(act)
    if normalise == "units":
        out /= act.shape[1]
    return np.sqrt(out) if metric == "euclidean" else out
