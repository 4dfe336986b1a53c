"""The two-point theory applied to every pair of a dataset, computed in chunks.

Every matrix here holds *squared* distances, the theory's ``h = ||dh||^2``,
unless a name says otherwise. All functions work on row blocks of the upper
triangle (at most ``chunk_size`` pairs at a time) and mirror each block, so the
result is exactly symmetric and the memory beyond the (N, N) output stays
bounded however large N is.

Squared distances use the Gram expansion ``|a|^2 + |b|^2 - 2 a.b`` on centred
data (one matrix product per block, so 5,000 points in 784 dimensions take a
second). The expansion loses digits when two points are close compared with
their norms; those pairs (squared distance below ``1e-3`` of ``|a|^2 + |b|^2``)
are recomputed from the differences themselves. Identical rows therefore get
exactly 0 (which the rich limit needs: same-target pairs must merge exactly)
and every entry is accurate to about ``1e-12`` relative.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn import checks
from repdyn.theory import _validate as check
from repdyn.theory._validate import ArgumentValueError
from repdyn.theory._fixed_point import final_distance

FloatArray = NDArray[np.float64]

#: Default number of pairs handled at once (8 MiB per float64 temporary).
DEFAULT_CHUNK_SIZE = 2**20
#: The most triangles :func:`triangle_violations` samples (about a minute on one core).
MAX_SAMPLE = 10**9

# Below this fraction of |a|^2 + |b|^2 the Gram expansion may have lost more
# than ~1e-12 of relative accuracy; such pairs are recomputed from differences.
_REFINE_BELOW = 1e-3


# ---------------------------------------------------------------------------
# argument checks


def _points(name: str, value: ArrayLike, n: int | None = None) -> FloatArray:
    """A finite (N, d) float array; a 1-D array is read as N points in 1-D."""
    arr = check.as_finite(name, value)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ArgumentValueError(
            name, f"{name} must have shape (N, d) (one row per point); got shape {arr.shape}"
        )
    if arr.shape[0] < 1:
        raise ArgumentValueError(name, f"{name} must hold at least one point (row); got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ArgumentValueError(name, 
            f"{name} must have one row per data point ({n} rows, like X); got {arr.shape[0]} rows"
        )
    return np.ascontiguousarray(arr)


def _scalar_rate(name: str, value: ArrayLike) -> float:
    arr = check.positive(name, value)
    if arr.ndim != 0:
        raise ArgumentValueError(
            name, f"{name} must be a single positive number; got an array of shape {arr.shape}"
        )
    return float(arr)


def _ratio(eta_h: ArrayLike, eta_y: ArrayLike) -> float:
    """``eta_h / eta_y``, refused where float64 cannot hold it."""
    with np.errstate(over="ignore", under="ignore"):
        ratio = _scalar_rate("eta_h", eta_h) / _scalar_rate("eta_y", eta_y)
    if not np.finfo(np.float64).tiny <= ratio < np.inf:
        raise ArgumentValueError("eta_h, eta_y", f"eta_h, eta_y: their ratio {ratio:.3g} is beyond float64's "
                                 "normal range; only the ratio enters, so pass it as eta_h=r, eta_y=1.0")
    return ratio


def _chunk(chunk_size: int) -> int:
    return check.integer("chunk_size", chunk_size, minimum=1)


def _square(name: str, value: ArrayLike, *, nonnegative: bool = True) -> FloatArray:
    """A finite, symmetric (N, N) matrix."""
    arr = check.nonnegative(name, value) if nonnegative else check.as_finite(name, value)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ArgumentValueError(name, f"{name} must be a square (N, N) matrix; got shape {arr.shape}")
    if not np.array_equal(arr, arr.T):
        raise ArgumentValueError(name, f"{name} must be symmetric; symmetrise it first, e.g. (M + M.T) / 2")
    return arr


# ---------------------------------------------------------------------------
# chunked machinery


def _row_blocks(n: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """Row ranges [r0, r1) whose trapezoid rows x columns [r0, n) fits in chunk_size."""
    r0 = 0
    while r0 < n:
        rows = max(1, chunk_size // (n - r0))
        r1 = min(n, r0 + rows)
        yield r0, r1
        r0 = r1


def _symmetric_matrix(
    n: int, block: Callable[[int, int], FloatArray], chunk_size: int
) -> FloatArray:
    """Assemble an (n, n) symmetric matrix from blocks rows [r0, r1) x columns [r0, n).

    ``block`` must be symmetric on its leading square (the callers build it from
    squared distances that :meth:`_SqDist.block` makes symmetric there).
    """
    out = np.empty((n, n))
    # Touch every page once, in order: faulting them in later, tile by tile
    # while mirroring, costs several times more.
    out.fill(0.0)
    for r0, r1 in _row_blocks(n, chunk_size):
        values = block(r0, r1)
        out[r0:r1, r0:] = values
        _mirror(out[r0 + (r1 - r0) :, r0:r1], values[:, r1 - r0 :])
    return out


def _mirror(dst: FloatArray, src: FloatArray, tile: int = 256) -> None:
    """``dst[...] = src.T`` tile by tile (a plain transposed copy misses the cache)."""
    for a in range(0, src.shape[0], tile):
        for c in range(0, src.shape[1], tile):
            dst[c : c + tile, a : a + tile] = src[a : a + tile, c : c + tile].T


class _SqDist:
    """Squared distances between rows of one array, block by block."""

    def __init__(self, points: FloatArray) -> None:
        self.raw = points
        # Centring shrinks the norms the Gram expansion subtracts, so fewer
        # digits cancel; identical rows stay identical after it.
        self.centred = points - points.mean(axis=0)
        self.norms = np.einsum("ij,ij->i", self.centred, self.centred)

    def block(self, r0: int, r1: int) -> FloatArray:
        """Rows [r0, r1) x columns [r0, N), symmetric on the leading square."""
        d2 = self.centred[r0:r1] @ self.centred[r0:].T
        d2 *= -2.0
        scale = np.add.outer(self.norms[r0:r1], self.norms[r0:])
        d2 += scale
        np.maximum(d2, 0.0, out=d2)
        scale *= _REFINE_BELOW
        ii, jj = np.nonzero(d2 <= scale)
        del scale
        # Batches keep the (pairs, d) difference array near one block in size.
        step = max(1, d2.size // max(1, self.raw.shape[1]))
        for s in range(0, ii.size, step):
            i, j = ii[s : s + step], jj[s : s + step]
            diff = self.raw[r0 + i] - self.raw[r0 + j]
            d2[i, j] = np.einsum("ij,ij->i", diff, diff)
        # Leading square: keep the upper triangle, mirror it (exact symmetry).
        m = r1 - r0
        square = d2[:, :m]
        lower = np.tril_indices(m, -1)
        square[lower] = square.T[lower]
        return d2


def _inputs_targets(X: ArrayLike, Y: ArrayLike) -> tuple[_SqDist, _SqDist]:
    x = _SqDist(_points("X", X))
    return x, _SqDist(_points("Y", Y, x.raw.shape[0]))


def squared_distances(points: ArrayLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> FloatArray:
    """All pairwise squared Euclidean distances ``||p_i - p_j||^2``.

    Parameters
    ----------
    points : array_like, shape (N, d) or (N,)
        One row per point (a 1-D array is N points in one dimension).
    chunk_size : int, optional
        Pairs handled at once; bounds the memory beyond the output.

    Returns
    -------
    ndarray, shape (N, N)
        Exactly symmetric, exactly 0 on the diagonal and for identical rows;
        other entries accurate to about 1e-12 relative (see the module notes).
    """
    sq = _SqDist(_points("points", points))
    return _symmetric_matrix(sq.raw.shape[0], sq.block, _chunk(chunk_size))


# ---------------------------------------------------------------------------
# predictions


def rich_limit_distances(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    eta_h: float,
    eta_y: float,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> FloatArray:
    """Rich-limit (small-weight) predicted squared distances for every pair.

    ``A_ij = sqrt(dx2_ij * dy2_ij * eta_h / eta_y)`` with ``dx2_ij = ||x_i - x_j||^2``
    and ``dy2_ij = ||y_i - y_j||^2``: the ``a_low`` of :func:`final_distance`,
    which ``h_inf`` approaches when the initial weights are small. Pairs with the
    same target (or the same input) get exactly 0.

    Parameters
    ----------
    X : array_like, shape (N, d_in) or (N,)
        Inputs, one row per point.
    Y : array_like, shape (N, d_out) or (N,)
        Targets, one row per point.
    eta_h, eta_y : float
        Effective learning rates (> 0); only their ratio ``eta_h / eta_y``
        enters (to predict from a ratio ``r`` alone, pass ``eta_h=r, eta_y=1.0``).
    chunk_size : int, optional
        Pairs handled at once.

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric, zero diagonal.
    """
    x, y = _inputs_targets(X, Y)
    n = x.raw.shape[0]
    ratio = _ratio(eta_h, eta_y)

    def block(r0: int, r1: int) -> FloatArray:
        return np.sqrt(x.block(r0, r1) * y.block(r0, r1) * ratio)

    with np.errstate(over="ignore"):
        out = _symmetric_matrix(n, block, _chunk(chunk_size))
    check.computable("X, Y, eta_h, eta_y", out)
    return out


def pairwise_final_distances(
    X: ArrayLike,
    Y: ArrayLike,
    H0: ArrayLike,
    Yhat0: ArrayLike,
    *,
    eta_h: float,
    eta_y: float,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> FloatArray:
    """Predicted final squared representational distance ``h_inf`` for every pair.

    For each pair ``(i, j)`` the initial state is measured from the network at
    the start of training: ``h0 = ||H0_i - H0_j||^2`` and
    ``y0 = ||Yhat0_i - Yhat0_j||^2``; with ``dx2``, ``dy2`` from the data the
    entry is :func:`final_distance` ``(h0, y0, eta_h=..., eta_y=..., dx2=..., dy2=...).h_inf``.

    Degenerate pairs, where the two-point formula has ``0/0``, take these
    limits of the theory:

    * identical inputs (``dx2 = 0``, the diagonal included): ``dh/dt =
      -eta_h dx2 w`` vanishes, so ``h`` never moves and the entry is ``h0``
      (0 on the diagonal and for any deterministic network);
    * distinct inputs whose initial representations coincide (``h0 = 0``):
      the limit ``h0 -> 0`` at fixed ``y0``. If ``y0 = 0`` too, ``A_high -> 0``
      and the entry is the rich limit ``sqrt(dx2 dy2 eta_h / eta_y)``; if
      ``y0 > 0`` (possible only when the output does not depend on this layer
      alone, e.g. skip connections), ``A_high -> -inf`` and the entry is 0.

    Parameters
    ----------
    X : array_like, shape (N, d_in) or (N,)
        Inputs.
    Y : array_like, shape (N, d_out) or (N,)
        Targets.
    H0 : array_like, shape (N, d_h)
        Hidden representations at the tracked layer before training (flattened).
    Yhat0 : array_like, shape (N, d_out)
        Network outputs before training (same columns as ``Y``).
    eta_h, eta_y : float
        Effective learning rates (> 0), e.g. fitted on one pair; only their
        ratio enters.
    chunk_size : int, optional
        Pairs handled at once.

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric, zero diagonal.
    """
    x, y = _inputs_targets(X, Y)
    n = x.raw.shape[0]
    h = _SqDist(_points("H0", H0, n))
    yhat = _SqDist(_points("Yhat0", Yhat0, n))
    if yhat.raw.shape[1] != y.raw.shape[1]:
        raise ArgumentValueError(
            "Yhat0", f"Yhat0 must have the same number of output columns as Y ({y.raw.shape[1]}); "
            f"got {yhat.raw.shape[1]}. Pass the network's outputs for the same points."
        )
    ratio = _ratio(eta_h, eta_y)

    def block(r0: int, r1: int) -> FloatArray:
        dx2, dy2 = x.block(r0, r1), y.block(r0, r1)
        h0, y0 = h.block(r0, r1), yhat.block(r0, r1)
        regular = (dx2 > 0) & (h0 > 0)
        # Placeholders keep final_distance's checks happy on the degenerate
        # pairs; their results are replaced below.
        try:
            fixed = final_distance(
                np.where(regular, h0, 1.0),
                y0,
                eta_h=ratio,  # only the ratio enters
                eta_y=1.0,
                dx2=np.where(regular, dx2, 1.0),
                dy2=dy2,
            ).h_inf
        except ArgumentValueError:
            raise ArgumentValueError(names, f"{names}: a pair's fixed point is beyond float64's range; "
                                     "rescale the data or the representations") from None
        collapsed = np.where(y0 > 0, 0.0, np.sqrt(dx2 * dy2 * ratio))
        return np.where(regular, fixed, np.where(dx2 > 0, collapsed, h0))

    names = "X, Y, H0, Yhat0, eta_h, eta_y"
    with np.errstate(over="ignore"):
        out = _symmetric_matrix(n, block, _chunk(chunk_size))
    check.computable(names, out)
    return out


# ---------------------------------------------------------------------------
# triangle inequality


@dataclass(frozen=True)
class TriangleCount:
    """Triangles whose longest side exceeds the sum of the other two.

    Attributes
    ----------
    violations : int
        Violating triangles among those checked.
    checked : int
        Triangles checked (all of them unless sampled).
    total : int
        All triangles of distinct points, ``N (N-1) (N-2) / 6``.
    """

    violations: int
    checked: int
    total: int

    @property
    def fraction(self) -> float:
        """Violating fraction of the checked triangles (NaN if none checked)."""
        return self.violations / self.checked if self.checked else float("nan")

    @property
    def exact(self) -> bool:
        """Whether every triangle was checked."""
        return self.checked == self.total


def triangle_violations(
    D: ArrayLike,
    *,
    atol: float | None = None,
    sample: int | None = None,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> TriangleCount:
    """Count triangles ``{i, j, k}`` of distinct points that break the triangle inequality.

    ``D`` holds *distances* (not squared distances: squared Euclidean distances
    of three points on a line, 1, 1 and 4, already break it). A triangle
    violates when one side exceeds the sum of the other two by more than
    ``atol``; at most one side of a triangle can, so each violating triangle
    counts once.

    The exact count checks ``N^3 / 6`` triangles (about 2 s for N = 1,000,
    minutes for N = 5,000); ``sample`` estimates the fraction from random
    triangles instead.

    Parameters
    ----------
    D : array_like, shape (N, N)
        Symmetric, nonnegative distances; the diagonal is not used.
    atol : float, optional
        Slack against rounding; default ``1e-12 * max(D)``.
    sample : int, optional
        Check this many uniformly drawn triangles (with replacement) instead of all.
    seed : int, optional
        Seed of the sample.
    chunk_size : int, optional
        Triangles checked at once (exact count).

    Returns
    -------
    TriangleCount
    """
    d = _square("D", D)
    n = d.shape[0]
    total = n * (n - 1) * (n - 2) // 6
    tol = 1e-12 * float(d.max(initial=0.0)) if atol is None else check.real_scalar("atol", atol, at_least=0)
    chunk = _chunk(chunk_size)
    seed = checks.seed("seed", seed)
    if sample is not None:
        sample = check.integer(
            "sample", sample, minimum=1, maximum=MAX_SAMPLE,
            fix=f"{MAX_SAMPLE} triangles take about a minute; the exact count (sample=None) may be cheaper",
        )
        if total == 0:
            return TriangleCount(0, 0, 0)
        rng = np.random.default_rng(seed)
        bad = 0
        for s in range(0, sample, chunk):
            m = min(chunk, sample - s)
            # Distinct triples, uniform over unordered triangles: i, then j != i, then k != i, j.
            i = rng.integers(0, n, m)
            j = (i + rng.integers(1, n, m)) % n
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            k = rng.integers(0, n - 2, m)
            k = k + (k >= lo)
            k = k + (k >= hi)
            bad += _violating(d[i, j], d[i, k], d[j, k], tol)
        return TriangleCount(int(bad), int(sample), total)

    bad = 0
    for i in range(n - 2):
        # Triangles with smallest index i: sides u_j = D[i, j], u_k = D[i, k], D[j, k].
        u = d[i, i + 1 :]
        m = u.size
        rows = max(1, chunk // m)
        for a in range(0, m - 1, rows):
            b = min(m - 1, a + rows)
            # Only k > j: columns from a + 1; the mask drops k <= j in the square part.
            side = d[i + 1 + a : i + 1 + b, i + 1 + a + 1 :]
            uj = u[a:b, None]
            uk = u[None, a + 1 :]
            upper = np.arange(a, b)[:, None] < np.arange(a + 1, m)[None, :]
            viol = (side > uj + uk + tol) | (side < np.abs(uj - uk) - tol)
            bad += int(np.count_nonzero(viol & upper))
    return TriangleCount(int(bad), total, total)


def _violating(a: FloatArray, b: FloatArray, c: FloatArray, tol: float) -> int:
    longest = np.maximum(np.maximum(a, b), c)
    return int(np.count_nonzero(2 * longest > a + b + c + tol))


# ---------------------------------------------------------------------------
# exponential weighing


#: How :func:`exponential_weighing` turns ``P = E A E`` into squared distances
#: (``P`` itself has a positive diagonal): ``"centred"``,
#: ``D_ij = P_ij - (P_ii + P_jj) / 2``; ``"zeroed"``, ``P`` with its diagonal set to 0.
DISTANCE_FORMS = ("centred", "zeroed")


@dataclass(frozen=True)
class ExponentialWeighing:
    """Result of :func:`exponential_weighing`.

    Attributes
    ----------
    p : ndarray, shape (N, N)
        The weighed matrix ``E A E`` (or the normalised form), as the paper's
        formula gives it: symmetric, with a positive diagonal in general.
    d : ndarray, shape (N, N)
        ``p`` presented as squared distances: symmetric, zero diagonal,
        nonnegative (see ``distances`` of :func:`exponential_weighing`).
    tau : float
        The scale used.
    underflow : float
        Fraction of off-diagonal weights ``E_ij`` that are exactly 0 although
        ``A_ij > 0`` (the weight underflowed: tau is too small for this A).
    negative : float
        Fraction of off-diagonal entries of the centred form that came out
        below 0 and were set to 0 in ``d`` (always 0 for ``"zeroed"``).
    violations_before, violations_after : TriangleCount or None
        Triangle-inequality violations of ``sqrt(A)`` and ``sqrt(d)`` (None when
        not counted).
    """

    p: FloatArray
    d: FloatArray
    tau: float
    underflow: float
    negative: float
    violations_before: TriangleCount | None
    violations_after: TriangleCount | None


def weighed_distances(P: ArrayLike, *, form: str = "centred") -> tuple[FloatArray, float]:
    """Squared distances (symmetric, zero diagonal) from a weighed matrix ``P``, and the clipped fraction.

    ``"centred"``: ``D_ij = P_ij - (P_ii + P_jj) / 2``, clipped at 0. When the
    weights are row-normalised (``W``, rows summing to 1) and ``A`` holds squared
    distances of points ``a_k``, ``P = W A W^T`` gives exactly
    ``D_ij = ||m_i - m_j||^2`` with ``m_i = sum_k W_ik a_k``: the squared
    distance of the smoothed points, whose diagonal is 0. The same correction
    removes the self-distance ``P_ii`` in general; entries of a non-Euclidean
    ``A`` (the rich limit is one) can fall below 0, and their fraction of the
    off-diagonal entries is returned. ``"zeroed"``: ``P`` with its diagonal set
    to 0 (the off-diagonal values of the paper's formula unchanged).
    """
    check.choice("distances", form, DISTANCE_FORMS)
    p = _square("P", P, nonnegative=False)
    n = p.shape[0]
    if form == "zeroed":
        d = p.copy()
        np.fill_diagonal(d, 0.0)
        return d, 0.0
    diag = np.diag(p).copy()
    d = p - 0.5 * (diag[:, None] + diag[None, :])
    np.fill_diagonal(d, 0.0)
    d = 0.5 * (d + d.T)
    below = d < 0
    negative = float(np.count_nonzero(below)) / (n * (n - 1)) if n > 1 else 0.0
    d[below] = 0.0
    return d, negative


def _tau(value: float) -> float:
    expected = f"tau must be a number > 0 (inf allowed) or None for the default; got {checks.describe(value)}"
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise check.ArgumentTypeError("tau", expected)
    try:
        scale = float(value)
    except OverflowError:  # an integer beyond float64
        scale = np.inf
    if not scale > 0:
        raise ArgumentValueError("tau", expected)
    return scale


#: :func:`default_tau` takes this quantile of the positive off-diagonal
#: ``A_ij``: the 10th percentile, so that a point's weights fall to ``e^-1`` at
#: its nearest tenth of the pairs. Chosen over the median and the paper's
#: ``tau = 1`` by the measurement against trained networks in docs/structure.md.
DEFAULT_TAU_QUANTILE = 0.1


def default_tau(A: ArrayLike, *, quantile: float = DEFAULT_TAU_QUANTILE) -> float:
    """The default scale of :func:`exponential_weighing`: a quantile of the positive off-diagonal A_ij.

    The default quantile (:data:`DEFAULT_TAU_QUANTILE`, 0.1) gives the nearest
    tenth of the pairs weights above ``exp(-1)``; ``quantile=0.5`` (the median)
    sets the typical weight to ``exp(-1)``. A weight only underflows when
    ``A_ij > 745 tau``, so on raw data (any units) ``E`` keeps its structure
    instead of collapsing to the identity as with a fixed ``tau = 1``. Any
    quantile is equivariant: scaling A scales tau, leaving ``E`` unchanged, so
    it needs nothing but the inputs and targets. Zeros are left out because
    the rich limit puts every same-target pair at 0, which can be half of all
    pairs (two classes). Returns 1.0 if A has no positive off-diagonal entry
    (then ``P = 0`` for every tau).
    """
    quantile = check.real_scalar("quantile", quantile, above=0, at_most=1)
    a = _square("A", A)
    n = a.shape[0]
    values = [row[row > 0] for row in (a[i, i + 1 :] for i in range(n))]
    positive = np.concatenate(values) if values else np.empty(0)
    return float(np.quantile(positive, quantile)) if positive.size else 1.0


def exponential_weighing(
    A: ArrayLike,
    *,
    tau: float | None = None,
    normalise: bool = False,
    distances: str = "centred",
    tau_quantile: float = DEFAULT_TAU_QUANTILE,
    count_violations: bool = True,
) -> ExponentialWeighing:
    """The paper's exponential weighing of pairwise predictions, ``P = E A E``.

    ``E_ij = exp(-A_ij / tau)`` and ``P = E @ A @ E``: a large ``A_ik`` raises
    ``P_ij`` for every ``j`` near ``k``, which reduces triangle-inequality
    violations (paper, appendix "Exponential Weighing"; no guarantee).

    ``A`` holds predicted *squared* distances (e.g. :func:`rich_limit_distances`),
    and so does ``P``; violations are therefore counted on ``sqrt(A)`` and
    ``sqrt(P)``, the distances. (The paper's code applies the weights to ``A``
    itself, as done here; only the check takes square roots.)

    Limits (exact, tested):

    * ``tau -> inf``: ``E`` becomes all ones and every entry of ``P``, the
      diagonal included, equals ``S = sum_kl A_kl``; with ``normalise=True``
      every entry equals the mean ``S / N^2``.
    * ``tau -> 0``: ``E`` becomes ``Z`` with ``Z_ij = 1`` where ``A_ij = 0``
      (the diagonal and, in the rich limit, same-target pairs) and 0 elsewhere,
      so ``P -> Z A Z``. This is ``A`` itself when the only zeros of ``A`` are on
      its diagonal; with zero off-diagonal entries it sums ``A`` over the groups.

    ``P`` has a positive diagonal in general (``P_ii = sum_kl E_ik A_kl E_li``),
    so it is not itself a matrix of squared distances; ``d`` is, formed as
    ``distances`` says (:func:`weighed_distances`).

    Parameters
    ----------
    A : array_like, shape (N, N)
        Symmetric, nonnegative predicted squared distances.
    tau : float, optional
        Scale of the weights, in the units of ``A`` (> 0, ``inf`` allowed).
        Default :func:`default_tau` (the ``tau_quantile`` quantile of the
        positive off-diagonal entries).
    normalise : bool, optional
        Use row-normalised weights ``W = E / E.sum(1)``, ``P = W A W^T``, so that
        ``P`` is a weighted mean of entries of ``A`` and keeps its units. Not in
        the paper; default False (the paper's form, whose scale grows with N).
    distances : {"centred", "zeroed"}, optional
        How ``P`` becomes the squared distances ``d``; see :func:`weighed_distances`.
    tau_quantile : float, optional
        The quantile :func:`default_tau` takes when ``tau`` is None.
    count_violations : bool, optional
        Count triangle violations of ``sqrt(A)`` and ``sqrt(d)`` exactly (cost
        ``O(N^3)``; pass False for large N and call :func:`triangle_violations`
        with ``sample``).

    Returns
    -------
    ExponentialWeighing
    """
    a = _square("A", A)
    normalise = checks.flag("normalise", normalise)
    count_violations = checks.flag("count_violations", count_violations)
    scale = default_tau(a, quantile=tau_quantile) if tau is None else _tau(tau)
    e = np.exp(-a / scale) if np.isfinite(scale) else np.ones_like(a)
    n = a.shape[0]
    off = n * (n - 1)
    underflow = float(np.count_nonzero((e == 0) & (a > 0))) / off if off else 0.0
    if normalise:
        e = e / e.sum(axis=1, keepdims=True)
    p = (e @ a) @ e.T
    # Rounding in the two products leaves P slightly asymmetric.
    p = 0.5 * (p + p.T)
    d, negative = weighed_distances(p, form=distances)
    before = after = None
    if count_violations:
        before = triangle_violations(np.sqrt(a))
        after = triangle_violations(np.sqrt(d))
    return ExponentialWeighing(p=p, d=d, tau=scale, underflow=underflow, negative=negative,
                               violations_before=before, violations_after=after)
