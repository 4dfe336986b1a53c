"""How sure a comparison of two RDMs is: a Mantel permutation test and a bootstrap over points.

A correlation between two distance matrices says little on its own: any two
matrices that both put the classes apart correlate, and the pairs of one
matrix are not independent (every point enters ``N - 1`` of them). Both tools
here therefore resample *points*, never pairs:

- :func:`mantel_test`: is the match better than chance? The points of ``b``
  are permuted (its rows and columns together), the correlation recomputed,
  and ``p`` is the fraction of permutations that correlate at least as well.
  Labels (``exclude_blocks``) belong to ``a``'s points and travel with them,
  so every permutation compares the same between-class pairs of ``a``.
- :func:`rdm_correlation_interval`: how much would the correlation move with
  other points? A bootstrap over points, which leaves out the pairs of a
  point with its own copy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

from repdyn import checks
from repdyn.rsa._compare import METHODS, _square
from repdyn.stats import BOOTSTRAP_RESAMPLES, CONFIDENCE, PERMUTATIONS, Interval, bootstrap_interval

FloatArray = NDArray[np.float64]

#: Permutations of :func:`mantel_test` (:data:`repdyn.stats.PERMUTATIONS`).
MANTEL_PERMUTATIONS = PERMUTATIONS


@dataclass(frozen=True)
class MantelResult:
    """The outcome of :func:`mantel_test`.

    Attributes
    ----------
    statistic : float
        The observed correlation of the two matrices.
    p_value : float
        One-sided: the chance of a correlation at least as large with ``b``'s
        points in random order; NaN if the correlation is undefined.
    permutations : int
        Permutations compared (all ``N!`` when ``exact``, the identity included).
    exact : bool
        Every permutation of the points was tried (when ``N!`` is at most
        ``permutations + 1``): then ``p`` is exact and at least ``1 / N!``.
    """

    statistic: float
    p_value: float
    permutations: int
    exact: bool


def _matrices(a: ArrayLike, b: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = _square("a", a), _square("b", b)
    if x.shape != y.shape:
        raise checks.ArgumentValueError(
            "b", f"a and b must describe the same points; got shapes {x.shape} and {y.shape}")
    return x, y


def _labels(n: int, labels: ArrayLike) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise checks.ArgumentValueError(
            "exclude_blocks", f"exclude_blocks must have shape ({n},), one label per point; got shape {lab.shape}")
    return lab


def _pairs(n: int, labels: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(n, 1)
    if labels is not None:
        lab = _labels(n, labels)
        keep = lab[i] != lab[j]
        i, j = i[keep], j[keep]
    return i, j


def _unit(v: FloatArray) -> FloatArray | None:
    # Sums, not BLAS dot products: on shared cores a threaded BLAS makes these 30x slower.
    v = v - v.mean()
    norm = math.sqrt(float((v * v).sum()))
    return v / norm if norm > 0 else None


def mantel_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["pearson", "spearman"] = "spearman",
    exclude_blocks: ArrayLike | None = None,
    permutations: int = MANTEL_PERMUTATIONS,
    seed: int = 0,
) -> MantelResult:
    """One-sided Mantel permutation test of the correlation of two distance matrices.

    Parameters
    ----------
    a, b : array_like, shape (N, N)
        Dissimilarity matrices of the same points in the same order (a
        network's RDM and a prediction, say); upper triangles are compared.
    method : {"pearson", "spearman"}, default "spearman"
        The correlation, as :func:`repdyn.rsa.compare_rdms` computes it.
    exclude_blocks : array_like of shape (N,), optional
        Labels of ``a``'s points: only pairs of different labels enter, and
        the labels stay with ``a``'s points while ``b``'s are permuted.
    permutations : int, default :data:`MANTEL_PERMUTATIONS`
        Random permutations (>= 1); ``p = (1 + #{r_perm >= r}) / (1 + permutations)``.
        When ``N!`` is at most ``permutations + 1`` every permutation is tried
        instead and ``p = #{r_perm >= r} / N!`` (the identity among them).
    seed : int, default 0
        Seed of the random permutations.

    Returns
    -------
    MantelResult
    """
    method = checks.choice("method", method, METHODS)
    permutations = checks.integer("permutations", permutations, minimum=1)
    seed = checks.seed("seed", seed)
    x, y = _matrices(a, b)
    n = x.shape[0]
    i, j = _pairs(n, exclude_blocks)
    if i.size < 2:
        raise checks.ArgumentValueError(
            "a", f"only {i.size} pair(s) to correlate; need at least 3 points and, with exclude_blocks, at "
                 "least 2 pairs from different classes")
    rank = method == "spearman"
    fixed = _unit(rankdata(x[i, j]) if rank else x[i, j])

    if exclude_blocks is None:
        # A permutation of all points re-indexes the same multiset of pair values
        # (their ranks too): mean and norm are those of the identity, computed once,
        # and since ``fixed`` is centred only the gathered values are needed.
        pair_values = rankdata(y[i, j]) if rank else y[i, j]
        centred = pair_values - pair_values.mean()
        norm = math.sqrt(float((centred * centred).sum()))
        square = np.zeros_like(y)
        square[i, j] = pair_values
        values = (square + square.T).ravel()

        def score(perm: np.ndarray) -> float:
            if fixed is None or norm == 0:
                return math.nan
            return float((fixed * values[perm[i] * n + perm[j]]).sum()) / norm
    else:
        def score(perm: np.ndarray) -> float:
            moved = y[perm[i], perm[j]]
            other = _unit(rankdata(moved) if rank else moved)
            return float((fixed * other).sum()) if fixed is not None and other is not None else math.nan

    observed = score(np.arange(n))
    exact = math.factorial(n) <= permutations + 1 if n <= 20 else False
    if not math.isfinite(observed):
        return MantelResult(observed, math.nan, math.factorial(n) if exact else permutations, exact)
    # Rounding can give an identical permutation's score a last-digit difference.
    bar = observed - 1e-12 * abs(observed)
    if exact:
        scores = [score(np.array(p)) for p in itertools.permutations(range(n))]
        hits = sum(s >= bar for s in scores)
        return MantelResult(observed, hits / len(scores), len(scores), True)
    rng = np.random.default_rng(seed)
    hits = sum(score(rng.permutation(n)) >= bar for _ in range(permutations))
    return MantelResult(observed, (1 + hits) / (1 + permutations), permutations, False)


def rdm_correlation_interval(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["pearson", "spearman"] = "spearman",
    exclude_blocks: ArrayLike | None = None,
    level: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Bootstrap interval of the correlation of two RDMs, resampling their points.

    Each resample draws ``N`` points with replacement and correlates the
    upper triangles over the drawn pairs, leaving out pairs of a point with a
    copy of itself (their distance is 0 in both matrices by construction) and,
    with ``exclude_blocks``, pairs within a class, as :func:`repdyn.rsa.compare_rdms`.

    Parameters
    ----------
    a, b : array_like, shape (N, N)
        Dissimilarity matrices of the same points in the same order.
    method : {"pearson", "spearman"}, default "spearman"
    exclude_blocks : array_like of shape (N,), optional
        Labels; pairs with equal labels are left out.
    level, resamples, seed
        As :func:`repdyn.stats.bootstrap_interval`.

    Returns
    -------
    repdyn.stats.Interval
        Its ``units`` are the points.
    """
    method = checks.choice("method", method, METHODS)
    x, y = _matrices(a, b)
    n = x.shape[0]
    labels = np.zeros(n, dtype=np.int64) if exclude_blocks is None else _labels(n, exclude_blocks)
    i, j = np.triu_indices(n, 1)

    def correlation(index: np.ndarray) -> float:
        p, q = index[i], index[j]
        keep = p != q
        if exclude_blocks is not None:
            keep &= labels[p] != labels[q]
        u, v = x[p[keep], q[keep]], y[p[keep], q[keep]]
        if u.size < 3:
            return math.nan
        if method == "spearman":
            u, v = rankdata(u), rankdata(v)
        u, v = _unit(u), _unit(v)
        return float((u * v).sum()) if u is not None and v is not None else math.nan

    return bootstrap_interval(correlation, np.arange(n), level=level, resamples=resamples, seed=seed)
