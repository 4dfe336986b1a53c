"""Predicted representational structure of a whole data set, and its comparison with a network's.

Shared by the dataset experiments (Figs 6, 8, 9) and ``repdyn predict``. Every
matrix holds *squared* distances (the theory's ``h``): predictions and the
network's RDM (:func:`repdyn.rsa.rdm`, squared Euclidean, summed over units)
use the same convention, so Pearson correlations compare like with like.

Prediction methods (all from inputs ``X`` and targets ``Y`` alone, the rich
limit of small initial weights):

- ``"pairwise"``: the two-point rich limit for every pair,
  ``A_ij = sqrt(eta_h/eta_y * dx2_ij * dy2_ij)`` (no smoothing).
- ``"exp"``: the paper's exponential weighing ``P = E A E`` of ``A``
  (``E = exp(-A / tau)``, default ``tau`` the median positive ``A_ij``;
  ``normalise`` uses row-normalised weights).
- ``"npoint"``: the N-point extension (beyond the paper), gradient flow of a
  shared RBF encoder and linear decoder on all points
  (:func:`repdyn.theory._npoint.npoint_distances`).

Only the ratio ``eta_h / eta_y`` enters, and only as an overall factor
(``sqrt`` of it) that the default ``tau`` follows, so correlations with a
network do not depend on it, except for a fixed ``tau`` such as the paper's
``tau = 1``.

:data:`VARIANTS` are the predictions every dataset experiment compares with
its trained networks (the N-point extension against exponential weighing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

METHODS = ("exp", "npoint", "pairwise")
METHOD_LABELS = {
    "exp": "exponential weighing (paper)",
    "npoint": "N-point flow (extension)",
    "pairwise": "pairwise rich limit (unsmoothed)",
}
#: Named predictions compared with every trained network: the paper's
#: exponential weighing with its code's ``tau = 1`` (in the units of ``A``), with
#: the project's default ``tau`` (median positive ``A_ij``), and row-normalised;
#: the N-point extension; the unsmoothed pairwise rich limit.
VARIANTS: dict[str, dict[str, Any]] = {
    "exp_paper_tau": {"method": "exp", "tau": 1.0},
    "exp_default_tau": {"method": "exp"},
    "exp_normalised": {"method": "exp", "normalise": True},
    "npoint": {"method": "npoint"},
    "pairwise": {"method": "pairwise"},
}
#: Label permutations of the Mantel test (p resolves down to 1/1000).
MANTEL_PERMUTATIONS = 999


def predict_structure(
    x: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "exp",
    eta_ratio: float = 1.0,
    tau: float | None = None,
    normalise: bool = False,
) -> np.ndarray:
    """Predicted final squared representational distances of all points, shape (N, N).

    Parameters
    ----------
    x, y : ndarray
        Inputs (N, d_in) and targets (N, d_out).
    method : {"exp", "npoint", "pairwise"}
        See the module notes.
    eta_ratio : float
        ``eta_h / eta_y`` (> 0).
    tau : float, optional
        Scale of the exponential weights (``method="exp"`` only); default the
        median positive pairwise prediction.
    normalise : bool
        Row-normalised weights (``method="exp"`` only; not in the paper).
    """
    from repdyn.theory import exponential_weighing, rich_limit_distances

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if (tau is not None or normalise) and method != "exp":
        raise ValueError(f"tau and normalise apply to method='exp' only; got method={method!r}")
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if method == "npoint":
        from repdyn.theory._npoint import npoint_distances

        return npoint_distances(x, y, eta_ratio, 1.0)
    pairwise = rich_limit_distances(x, y, eta_ratio)
    if method == "pairwise":
        return pairwise
    return exponential_weighing(pairwise, tau=tau, normalise=normalise, count_violations=False).p


def compare_structure(network: np.ndarray, predicted: np.ndarray, labels: np.ndarray | None = None) -> dict[str, float]:
    """Pearson and Spearman correlation of two squared-distance matrices over the upper triangle.

    Keys ``pearson``, ``spearman`` (all pairs) and, with ``labels``,
    ``pearson_between``, ``spearman_between`` (pairs with different labels only:
    the structure beyond "same class is close"). NaN where a correlation is
    undefined (a constant matrix, or fewer than two pairs).
    """
    from repdyn.rsa import compare_rdms

    out: dict[str, float] = {}
    blocks: list[tuple[str, Any]] = [("", None)]
    if labels is not None and len(np.unique(labels)) > 1:
        blocks.append(("_between", np.asarray(labels)))
    for suffix, exclude in blocks:
        for method in ("pearson", "spearman"):
            try:
                out[method + suffix] = compare_rdms(network, predicted, method=method, exclude_blocks=exclude)
            except ValueError:  # fewer than two pairs left to correlate
                out[method + suffix] = float("nan")
    return out


def mantel_p(network: np.ndarray, predicted: np.ndarray, *, labels: np.ndarray | None = None,
             permutations: int = MANTEL_PERMUTATIONS, seed: int = 0) -> float:
    """One-sided Mantel permutation p-value of the Spearman correlation of two matrices.

    The prediction's points are permuted (rows and columns together) and the
    correlation recomputed; ``p = (1 + #{r_perm >= r}) / (1 + permutations)``.
    With ``labels`` only pairs of different labels enter (as in
    :func:`compare_structure`); the mask stays with the network's points.
    """
    from scipy.stats import rankdata

    n = network.shape[0]
    i, j = np.triu_indices(n, 1)
    if labels is not None:
        lab = np.asarray(labels)
        keep = lab[i] != lab[j]
        i, j = i[keep], j[keep]
    a = rankdata(network[i, j])
    a = (a - a.mean()) / np.linalg.norm(a - a.mean())

    def score(matrix: np.ndarray) -> float:
        b = rankdata(matrix[i, j])
        b = b - b.mean()
        norm = np.linalg.norm(b)
        return float(a @ b / norm) if norm > 0 else float("nan")

    observed = score(predicted)
    if not math.isfinite(observed):
        return float("nan")
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(permutations):
        perm = rng.permutation(n)
        hits += score(predicted[np.ix_(perm, perm)]) >= observed
    return (1 + hits) / (1 + permutations)


def variant_predictions(x: np.ndarray, y: np.ndarray, *, eta_ratio: float = 1.0) -> dict[str, np.ndarray]:
    """Every prediction of :data:`VARIANTS` for one data set."""
    return {name: predict_structure(x, y, eta_ratio=eta_ratio, **kw) for name, kw in VARIANTS.items()}


def variant_comparison(network: np.ndarray, predictions: dict[str, np.ndarray],
                       labels: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """:func:`compare_structure` of ``network`` (an RDM) against each prediction."""
    return {name: compare_structure(network, p, labels) for name, p in predictions.items()}


def sort_order(n: int, labels: np.ndarray | None, *keys: np.ndarray) -> np.ndarray:
    """Order of ``n`` points for a matrix figure: by label, then by each key in turn (stable)."""
    columns = [np.asarray(k) for k in reversed(keys)]
    if labels is not None:
        columns.append(np.asarray(labels))
    return np.lexsort(columns) if columns else np.arange(n)


def _cell_text(value: float) -> str:
    """At most 5 characters, so the number fits its cell: 190, 2.3, 0.41, 2e-06."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) >= 0.01 else f"{value:.0e}"


def draw_matrix(ax: Any, matrix: np.ndarray, *, title: str, labels: np.ndarray | None = None,
                annotate: bool = False, colorbar_label: str = "squared distance") -> None:
    """A squared-distance matrix as an image; lines between label blocks (points already sorted).

    The colour bar is labelled and its ticks carry their own exponent (``%.2g``):
    a shared offset label (``1e-6``) would sit above the bar, on the panel's title.
    """
    image = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, format="%.2g")
    bar.set_label(colorbar_label)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    if labels is not None:
        edges = np.flatnonzero(np.diff(np.asarray(labels)) != 0) + 0.5
        for edge in edges:
            ax.axhline(edge, color="white", lw=0.6)
            ax.axvline(edge, color="white", lw=0.6)
    if annotate:
        top = float(np.max(matrix)) if matrix.size else 0.0
        for (r, c), value in np.ndenumerate(matrix):
            ax.text(c, r, _cell_text(value), ha="center", va="center", fontsize=7,
                    color="black" if value > 0.6 * top else "white")
