"""Comparing representational structures: RDM correlation and linear CKA."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

from repdyn.rsa._rdm import activations_matrix

FloatArray = NDArray[np.float64]

METHODS = ("pearson", "spearman")


def _square(name: str, value: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric (N, N) matrix; got {value!r}") from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(
            f"{name} must be a square (N, N) dissimilarity matrix; got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; pass finite dissimilarities")
    return arr


def upper_triangle(D: ArrayLike, labels: ArrayLike | None = None) -> FloatArray:
    """Entries ``D[i, j]`` with ``i < j``, row by row, optionally between classes only.

    Parameters
    ----------
    D : array_like, shape (N, N)
        Dissimilarity matrix; the lower triangle and the diagonal are not read.
    labels : array_like, shape (N,), optional
        Class of each point; pairs with equal labels (the within-class blocks
        of a label-sorted RDM) are left out.

    Returns
    -------
    ndarray, shape (n_pairs,)
    """
    d = _square("D", D)
    n = d.shape[0]
    i, j = np.triu_indices(n, 1)
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != (n,):
            raise ValueError(
                f"labels must have shape ({n},), one label per row of D; got shape {lab.shape}"
            )
        keep = lab[i] != lab[j]
        i, j = i[keep], j[keep]
    return d[i, j]


def _pearson(a: FloatArray, b: FloatArray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denom) if denom > 0 else float("nan")


def compare_rdms(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
    exclude_blocks: ArrayLike | None = None,
) -> float:
    """Correlation of two RDMs over their upper triangles (diagonal excluded).

    Parameters
    ----------
    a, b : array_like, shape (N, N)
        Dissimilarity matrices of the same points in the same order. Use the
        same distance convention for both (squared against squared): Pearson
        correlation is not invariant to taking square roots.
    method : {"pearson", "spearman"}
        Spearman ranks with ties averaged (scipy's ``rankdata``: collapsed
        representations give many tied zeros, and a correct tie rule is the
        one thing here that is not a line of numpy), then takes Pearson's r.
    exclude_blocks : array_like of shape (N,), optional
        Labels; pairs within a class are left out, so the score measures the
        structure between classes only (without the easy "same class is
        close" signal).

    Returns
    -------
    float
        The correlation; NaN when one of the compared vectors is constant
        (e.g. exponential weighing at ``tau = inf``), where it is undefined.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    x, y = _square("a", a), _square("b", b)
    if x.shape != y.shape:
        raise ValueError(
            f"a and b must describe the same points; got shapes {x.shape} and {y.shape}"
        )
    u, v = upper_triangle(x, exclude_blocks), upper_triangle(y, exclude_blocks)
    if u.size < 2:
        raise ValueError(
            f"only {u.size} pair(s) left to correlate; need at least 3 points and, with "
            "exclude_blocks, at least 2 pairs from different classes"
        )
    if method == "spearman":
        u, v = rankdata(u), rankdata(v)
    return _pearson(u, v)


def linear_cka(X: ArrayLike, Y: ArrayLike) -> float:
    """Linear centred kernel alignment between two sets of activations.

    ``CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with columns
    centred over points; equivalently the alignment of the centred linear
    kernels ``Xc Xc^T`` and ``Yc Yc^T``. Invariant to orthogonal transforms and
    isotropic scaling of either set, not to arbitrary invertible maps. The
    cheaper of the feature-space (``N p q``) and the kernel form (``N^2 (p+q)``)
    is used.

    Parameters
    ----------
    X : array_like, shape (N, p, ...)
    Y : array_like, shape (N, q, ...)
        Activations of the same N points (trailing axes flattened).

    Returns
    -------
    float
        In [0, 1].
    """
    x = activations_matrix("X", X)
    y = activations_matrix("Y", Y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and Y must hold the same points (rows); got {x.shape[0]} and {y.shape[0]} rows"
        )
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    n, p, q = x.shape[0], x.shape[1], y.shape[1]
    if p * p + q * q + p * q <= n * (p + q):
        cross = np.sum((y.T @ x) ** 2)
        norm_x, norm_y = np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y)
    else:
        kx, ky = x @ x.T, y @ y.T
        cross = np.sum(kx * ky)
        norm_x, norm_y = np.linalg.norm(kx), np.linalg.norm(ky)
    for name, norm in (("X", norm_x), ("Y", norm_y)):
        if norm == 0:
            raise ValueError(
                f"{name} is the same for every point (zero variance); CKA is undefined"
            )
    return float(cross / (norm_x * norm_y))
