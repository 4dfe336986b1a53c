"""Low-dimensional embeddings of representations for figures: PCA and classical MDS.

Both are an eigen-decomposition in a few lines of numpy, which beats a library
here: classical (Torgerson) MDS is exact and deterministic, whereas the common
library "MDS" (scikit-learn's, not a dependency anyway) minimises stress by
iteration from a random start; and the eigenvalues, which say how much of the
structure the figure shows and how non-Euclidean a predicted matrix is, come
for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn import checks
from repdyn.rsa._compare import _square
from repdyn.rsa._rdm import activations_matrix

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Embedding:
    """Coordinates of N points along the leading components.

    Attributes
    ----------
    coords : ndarray, shape (N, k)
        Centred coordinates; the sign of each column is fixed so that its entry
        of largest magnitude is positive (reproducible figures).
    eigenvalues : ndarray, shape (k,)
        Squared norm of each coordinate column (N times the variance along it).
    explained : ndarray, shape (k,)
        Fraction of the total (positive) variance along each component.
    negative : float
        MDS only: share of the eigenvalue mass that is negative, about 0 (rounding) for a
        Euclidean matrix (such as an RDM of activations) and larger the more a
        predicted matrix departs from any point configuration; 0 for PCA.
    """

    coords: FloatArray
    eigenvalues: FloatArray
    explained: FloatArray
    negative: float


def _fix_signs(vectors: FloatArray) -> FloatArray:
    pivot = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return vectors * np.where(pivot < 0, -1.0, 1.0)


def embed(
    data: ArrayLike,
    n_components: int = 3,
    *,
    method: Literal["pca", "mds"] = "pca",
    squared: bool = True,
) -> Embedding:
    """Embed points in ``n_components`` dimensions.

    Parameters
    ----------
    data : array_like
        ``method="pca"``: activations, shape (N, ...), one row per point.
        ``method="mds"``: a symmetric (N, N) dissimilarity matrix.
    n_components : int
        Number of components (at most N; for PCA at most the number of units).
    method : {"pca", "mds"}
        ``"pca"``: principal components of the centred activations.
        ``"mds"``: classical MDS, the eigen-decomposition of
        ``B = -1/2 J D2 J`` (``J`` the centring matrix, ``D2`` squared
        distances); negative eigenvalues (a non-Euclidean matrix) are clipped
        to 0 and reported in :attr:`Embedding.negative`. Classical MDS of the
        squared Euclidean RDM of activations equals their PCA.
    squared : bool
        MDS only: whether ``data`` holds squared distances (the project's
        default, as from :func:`repdyn.rsa.rdm` and the theory) or plain
        distances (then squared here).

    Returns
    -------
    Embedding
    """
    if method not in ("pca", "mds"):
        raise ValueError(
            f"method must be 'pca' (activations) or 'mds' (a distance matrix); got {method!r}"
        )
    checks.integer("n_components", n_components, minimum=1)

    if method == "pca":
        act = activations_matrix("data", data)
        limit = min(act.shape)
        if n_components > limit:
            raise ValueError(
                f"n_components must be <= min(N, units) = {limit} for PCA; got {n_components}"
            )
        centred = act - act.mean(axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        values = s**2
        total = values.sum()
        coords = _fix_signs(u[:, :n_components]) * s[:n_components]
        explained = values[:n_components] / total if total > 0 else np.zeros(n_components)
        return Embedding(
            coords=coords, eigenvalues=values[:n_components], explained=explained, negative=0.0
        )

    d = _square("data", data)
    if not np.allclose(d, d.T, rtol=1e-10, atol=0.0):
        raise ValueError(
            "data must be a symmetric distance matrix for MDS; symmetrise it, e.g. (D + D.T) / 2"
        )
    n = d.shape[0]
    if n_components > n:
        raise ValueError(f"n_components must be <= N = {n} for MDS; got {n_components}")
    d2 = d if squared else d**2
    centred = d2 - d2.mean(axis=0) - d2.mean(axis=1, keepdims=True) + d2.mean()
    values, vectors = np.linalg.eigh(-0.25 * (centred + centred.T))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    positive = values[values > 0].sum()
    magnitude = np.abs(values).sum()
    top = np.maximum(values[:n_components], 0.0)
    coords = _fix_signs(vectors[:, :n_components]) * np.sqrt(top)
    explained = top / positive if positive > 0 else np.zeros(n_components)
    negative = float(-values[values < 0].sum() / magnitude) if magnitude > 0 else 0.0
    return Embedding(coords=coords, eigenvalues=top, explained=explained, negative=negative)
