"""Stability of the fixed points (appendix A.3) and the lazy limit of large initial weights (appendix A.5).

Fixed points. ``dh/dt = -a w`` vanishes only at ``w = 0``, and then
``dw/dt = eta_y/2 (y - dy2) h`` only at ``y = dy2`` (or ``h = 0``). In
``(h, y, w)`` the fixed points therefore form a curve, one point per value of
the conserved quantity ``C = y/h - k h``, and the 3-variable Jacobian has the
eigenvalue 0 at each of them, with the left eigenvector ``grad C`` (a start on
a neighbouring level set of ``C`` goes to that level set's fixed point). The
stability that decides where a trajectory ends is the one within its level set
``y = h (C + k h)``, the paper's 2-D reduction in ``(h, w)``. On it the fixed
points are the roots of ``k h^2 + C h - dy2 = 0`` and the origin:

- ``h_plus = (-C + sqrt(C^2 + 4 k dy2)) / (2 k)``, the ``h_inf`` of
  :func:`final_distance`. Its reduced Jacobian ``[[0, -a], [eta_y/2 (C + 2 k h) h,
  -3/2 eta_y h - a dy2 / (2 h)]]`` has trace ``< 0`` and determinant
  ``a eta_y / 2 (k h^2 + dy2) > 0`` (Eqs 29-31): stable.
- ``h_minus``, the other root, is negative for ``dy2 > 0`` (trace and
  determinant both positive: unstable) and no pair of vectors realises it.
- the origin ``h = y = w = 0``, where ``w / h`` has no value. Approaching it along
  ``w = q h`` (Eqs 32-35), ``(1, q)`` is an eigenvector for
  ``q = (C +- sqrt(C^2 + 4 k dy2)) / 2``, with eigenvalues ``-a q``, which are
  ``eta_y h_minus < 0`` and ``eta_y h_plus > 0``: a saddle. It is reachable only
  for ``C >= 0`` (else ``y = h (C + k h) < 0`` near it).

With ``dy2 = 0`` (identical targets) ``w = y`` always and the level set is
one-dimensional, ``dh/dt = -a h (C + k h)``: one eigenvalue, ``-a (C + 2 k h)``,
at the roots ``0`` and ``-C / k``; the other is NaN.

Lazy limit. Scaling the encoder and the decoder by ``s`` scales ``h`` by
``s^2`` and ``y``, ``w`` by ``s^4``. With ``h = s^2 h'``, ``y = s^4 y'``,
``w = s^4 w'`` and ``tau = s^2 t`` the system keeps its form exactly, with
``dy2`` replaced by ``dy2 / s^4``; as ``s`` grows it becomes the identical-target
system (``dy2 = 0``, ``w = y``), whose solution is exact
(:func:`exact_identical_targets`): smooth decay, no plateau. :func:`lazy_limit`
is that solution from a given state; its distance from :func:`solve`, in units
of each variable's scale, shrinks like ``sqrt(dy2 / y0)`` (like ``1 / s^2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._exact import exact_identical_targets
from repdyn.theory._fixed_point import final_distance

FloatArray = NDArray[np.float64]

STABLE, UNSTABLE, SADDLE, MARGINAL = "stable", "unstable", "saddle", "marginal"
#: The classes of :attr:`FixedPoint.stability`, from the real parts of the
#: eigenvalues within the level set of ``C``: all negative, all positive, both
#: signs, or one of them zero (only at ``dy2 = 0`` with ``C = 0``, where ``h``
#: decays like ``1 / t``, not exponentially).
STABILITIES = (STABLE, UNSTABLE, SADDLE, MARGINAL)
#: The fixed points on a level set of ``C``, in the order :func:`fixed_points` returns them.
FIXED_POINT_NAMES = ("h_plus", "origin", "h_minus")

#: ``|C|`` at or below this fraction of ``y0/h0 + k h0`` counts as ``C = 0``
#: (rounding of ``C``'s two terms); only the class at ``dy2 = 0`` depends on it.
_C_ZERO = 1e-12


@dataclass(frozen=True)
class FixedPoint:
    """One fixed point of the system on the level set of ``C`` through an initial state.

    Attributes
    ----------
    name : str
        ``"h_plus"`` (the positive root, :func:`final_distance`'s ``h_inf``),
        ``"origin"`` or ``"h_minus"`` (the other root).
    h, y, w : ndarray
        The fixed point (``w = 0``; ``y = dy2`` at the roots, 0 at the origin).
    eigenvalues : ndarray, shape (..., 2), complex
        Eigenvalues of the dynamics within the level set (the paper's reduced
        ``(h, w)`` system), largest real part last; the second is NaN where the
        level set is one-dimensional (``dy2 = 0``). At the origin they are the
        rates along the directions of approach ``w = q h`` (Eq. 35).
    stability : ndarray of str
        One of :data:`STABILITIES`.
    reachable : ndarray of bool
        Whether states some pair of vectors realises (``h >= 0``, ``y >= 0``)
        reach the point or its neighbourhood: ``h_minus`` never for ``dy2 > 0``,
        the origin only for ``C >= 0``.
    final : ndarray of bool
        Whether this is the point :func:`final_distance` returns (its
        ``h_inf``): ``h_plus``, everywhere (with ``dy2 = 0`` and ``C >= 0`` it
        lies at the origin: the points merge).
    """

    name: str
    h: FloatArray
    y: FloatArray
    w: FloatArray
    eigenvalues: NDArray[np.complex128]
    stability: NDArray[np.str_]
    reachable: NDArray[np.bool_]
    final: NDArray[np.bool_]


def jacobian(
    z: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike, dy2: ArrayLike
) -> FloatArray:
    """Jacobian ``d rhs / d(h, y, w)`` of the 3-variable system, at any state with ``h > 0``.

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
        ``J[..., i, j] = d(rhs_i) / d(z_j)``, rows and columns in the order ``(h, y, w)``.
        At a fixed point it has the eigenvalue 0 with the left eigenvector
        ``grad C`` (the conserved quantity) and the eigenvalues of
        :attr:`FixedPoint.eigenvalues`; they are those of the regular form
        that :func:`solve` integrates (docs/theory.md), except that the one
        across ``dy`` appears doubled (``y`` depends on that direction only
        through its square).
    """
    h, y, w, eta_h, eta_y, dx2, dy2 = check.problem("z", z, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    a = eta_h * dx2
    zero = np.zeros_like(h)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        rows = (
            (zero, zero, -a * np.ones_like(h)),
            (-w * (eta_y - a * y / h**2), -a * w / h, -(eta_y * h + a * y / h)),
            (-0.5 * eta_y * (3 * w - y + dy2) + 0.5 * a * (y + w) * w / h**2,
             0.5 * eta_y * h - 0.5 * a * w / h,
             -1.5 * eta_y * h - 0.5 * a * (y + 2 * w) / h),
        )
    out = np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)
    check.computable("z, eta_h, eta_y, dx2, dy2", out)
    return out


def _classify(eigenvalues: NDArray[np.complex128]) -> NDArray[np.str_]:
    real = eigenvalues.real
    defined = ~np.isnan(real)
    negative = np.all(np.where(defined, real < 0, True), axis=-1)
    positive = np.all(np.where(defined, real > 0, True), axis=-1)
    zero = np.any(defined & (real == 0), axis=-1)
    return np.where(zero, MARGINAL, np.where(negative, STABLE, np.where(positive, UNSTABLE, SADDLE)))


def _reduced_root_eigenvalues(h: FloatArray, a: FloatArray, eta_y: FloatArray, dy2: FloatArray) -> FloatArray:
    """Eigenvalues of the reduced ``(h, w)`` Jacobian at a root ``h != 0`` (Eq. 29), ascending real part."""
    safe = np.where(h != 0, h, 1.0)
    trace = -1.5 * eta_y * h - 0.5 * a * dy2 / safe
    det = 0.5 * a * eta_y * (eta_y / a * h**2 + dy2)
    root = np.sqrt((0.25 * trace**2 - det).astype(np.complex128))
    return np.stack([0.5 * trace - root, 0.5 * trace + root], axis=-1)


def _sorted(eigenvalues: NDArray[np.complex128]) -> NDArray[np.complex128]:
    key = np.where(np.isnan(eigenvalues.real), np.inf, eigenvalues.real)
    return np.take_along_axis(eigenvalues, np.argsort(key, axis=-1), axis=-1)


def fixed_points(
    h0: ArrayLike,
    y0: ArrayLike,
    *,
    eta_h: ArrayLike,
    eta_y: ArrayLike,
    dx2: ArrayLike,
    dy2: ArrayLike,
) -> tuple[FixedPoint, FixedPoint, FixedPoint]:
    """The fixed points reachable in principle from ``(h0, y0)``, their eigenvalues and stability.

    The initial state fixes the conserved quantity ``C = y0/h0 - k h0``; on its
    level set the system has three fixed points (module notes): the positive
    root ``h_plus`` (stable; the ``h_inf`` of :func:`final_distance`), the
    origin (a saddle) and the negative root ``h_minus`` (unstable, never
    reached). With ``dy2 = 0`` one root is the origin itself and the other
    ``-C / k``: for ``C > 0`` the origin is stable (the points merge), for
    ``C < 0`` ``-C / k`` is, and the origin unstable and unreachable.

    Parameters
    ----------
    h0, y0 : array_like
        Initial squared representational (> 0) and prediction (>= 0) distances.
    eta_h, eta_y : array_like
        Effective learning rates, > 0.
    dx2, dy2 : array_like
        Squared input (> 0) and target (>= 0) distances. All arguments broadcast.

    Returns
    -------
    tuple of FixedPoint
        ``(h_plus, origin, h_minus)`` (:data:`FIXED_POINT_NAMES`); ``h_plus``
        is the one :func:`final_distance` returns (``final``). With ``dy2 = 0``
        the origin coincides with one of the roots.
    """
    h0, y0, eta_h, eta_y, dx2, dy2 = check.broadcast(
        h0=check.positive("h0", h0), y0=check.nonnegative("y0", y0),
        eta_h=check.positive("eta_h", eta_h), eta_y=check.positive("eta_y", eta_y),
        dx2=check.positive("dx2", dx2), dy2=check.nonnegative("dy2", dy2),
    )
    a = eta_h * dx2
    k = eta_y / a
    c = y0 / h0 - k * h0
    c = np.where(np.abs(c) <= _C_ZERO * (y0 / h0 + k * h0), 0.0, c)
    fd = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    h_plus = fd.h_inf
    # Vieta: h_plus * h_minus = -dy2 / k (exact where the formula for h_minus would cancel).
    h_minus = np.where(dy2 > 0, -dy2 / (k * np.where(h_plus > 0, h_plus, 1.0)), np.minimum(-c / k, 0.0))
    identical = dy2 == 0
    nan = np.full(h0.shape, np.nan + 0j)

    # dy2 > 0: the 2-D level set. dy2 = 0: the 1-D one, dh/dt = -a h (C + k h).
    def one_dimensional(h: FloatArray) -> NDArray[np.complex128]:
        return np.stack([-a * (c + 2 * k * h) + 0j, nan], axis=-1)

    plus_eig = np.where(identical[..., None], one_dimensional(h_plus), _reduced_root_eigenvalues(h_plus, a, eta_y, dy2))
    minus_eig = np.where(identical[..., None], one_dimensional(h_minus),
                         _reduced_root_eigenvalues(h_minus, a, eta_y, dy2))
    # Origin: eigenvalues -a q along w = q h, q = k h_minus and k h_plus negated (Eq. 35).
    origin_eig = np.where(identical[..., None], one_dimensional(np.zeros_like(h0)),
                          np.stack([eta_y * h_minus + 0j, eta_y * h_plus + 0j], axis=-1))

    zero, ones, nowhere = np.zeros_like(h0), np.ones(h0.shape, dtype=bool), np.zeros(h0.shape, dtype=bool)
    points = (
        ("h_plus", h_plus, dy2, plus_eig, ones, ones),
        ("origin", zero, zero, origin_eig, c >= 0, nowhere),
        ("h_minus", h_minus, dy2, minus_eig, identical & (h_minus == 0) & (c >= 0), nowhere),
    )
    out = []
    for name, h, y, eig, reachable, final in points:
        eig = _sorted(eig)
        out.append(FixedPoint(name=name, h=h, y=y, w=zero, eigenvalues=eig, stability=_classify(eig),
                              reachable=np.asarray(reachable), final=np.asarray(final)))
    return tuple(out)


def lazy_limit(
    z0: ArrayLike, t: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike
) -> FloatArray:
    """The large-initial-weight (lazy) limit of :func:`solve` from ``z0`` (appendix A.5).

    Under ``h = s^2 h'``, ``y = s^4 y'``, ``w = s^4 w'``, ``t = tau / s^2`` the
    system is unchanged but for ``dy2 -> dy2 / s^4`` (module notes); as ``s``
    grows it becomes the identical-target system, solved exactly here from
    ``(h0, y0)`` with ``w = y``: ``h(t) = C h0 / ((C + k h0) exp(a C t) - k h0)``.
    It approximates :func:`solve` where ``dy2 << y0`` (``|A_high| >> A_low``),
    with an error in units of each variable's scale of order ``sqrt(dy2 / y0)``.

    Parameters
    ----------
    z0 : array_like, shape (..., 3)
        Initial state ``(h, y, w)``; ``h > 0``, ``y >= 0``. Its ``w`` does not
        enter: in the limit ``w = y`` (``dy . dyhat`` is negligible against ``y``).
    t : array_like, shape (T,)
        Times in epochs since the initial state (``t >= 0``).
    eta_h, eta_y : array_like
        Effective learning rates (> 0), broadcasting against ``z0[..., 0]``.
    dx2 : array_like
        Squared input distance (> 0). ``dy2`` does not enter the limit.

    Returns
    -------
    ndarray, shape (..., T, 3)
        ``(h, y, w)`` with ``w = y``.
    """
    z0 = check.state("z0", z0)
    return exact_identical_targets(z0[..., 0], z0[..., 1], t, eta_h=eta_h, eta_y=eta_y, dx2=dx2)
