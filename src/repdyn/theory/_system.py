"""The closed 3-variable system for (h, y, w) and its vectorised solver.

The solver integrates an equivalent form of the system that is polynomial, so
it has no singularity anywhere, and whose every state is reachable. Without
rotation the representation difference is ``dh = s u`` for a fixed unit vector
``u`` and a signed length ``s`` (``h = s**2``); the decoder's response along
``u``, ``g = W_g u``, moves in the plane of its start and ``dy``, where it has
the coordinates ``g1`` along ``dy`` and ``g2`` across it. With ``D = |dy|``:

    ds/dt  = a/2 * (D g1 - s (g1**2 + g2**2))
    dg1/dt = eta_y/2 * s * (D - s g1)
    dg2/dt = -eta_y/2 * s**2 * g2

with ``a = eta_h dx2``; ``h = s**2``, ``y = s**2 (g1**2 + g2**2)`` and
``w = y - s D g1``. This is gradient flow on ``1/2 |dy - s g|**2`` with the
rates ``a/2`` and ``eta_y/2``, so the Jacobian's eigenvalues are real and
the loss never grows. ``h >= 0``, ``y >= 0`` and the Cauchy-Schwarz band
``|y - w| <= sqrt(dy2 y)`` hold by construction for every ``(s, g1, g2)``,
whatever the integrator's error.

Each pair is integrated in its own units: ``h`` in units of
``H = max(h0, h_inf)``, ``y`` in units of ``Y = max(y0, dy2)``, so every
variable stays of order one or below and only the two rates
``A = a Y / H`` and ``B = eta_y H`` carry the scales. See docs/theory.md
("How solve integrates it") for the method choice, the check after the solve
and the inputs that are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check

FloatArray = NDArray[np.float64]


#: Stiffness (the largest eigenvalue of the Jacobian times the time span)
#: above which ``method="auto"`` integrates with a stiff method: beyond it the
#: explicit DOP853 takes steps near its stability limit, where its error
#: estimate is no longer reliable, and LSODA is the faster (measured on 150
#: pairs of the paper's ranges: DOP853 faster in 52 % at 20-50, 33 % at 50-100).
STIFF_SWITCH = 50.0

#: The stiffness above which :func:`solve` refuses. An implicit method solves
#: with the matrix ``I - c h J`` at steps ``h`` up to the span; as ``h`` times
#: the largest eigenvalue nears the reciprocal of float64's resolution
#: (1 / 2.2e-16 = 4.5e15), rounding the large entries of ``h J`` erases the
#: identity and with it the slow motion. The work shows it long before:
#: measured on four problems, LSODA needs 400 to 2300 evaluations at 1e12,
#: 1000 to 16000 at 1e13, up to 160000 at 1e14 and more than 200000 at 1e15.
#: 1e12 keeps the work small and three decades of margin.
MAX_STIFFNESS = 1e12

#: The most right-hand-side evaluations one integration may take before
#: :func:`solve` gives up with a :class:`SolverError` (a bound on its time).
MAX_EVALUATIONS = 100_000

#: :func:`solve` returns every variable within ``TOLERANCE_FACTOR * rtol`` of
#: its scale (see :func:`solve`), and checks this after each solve through
#: the conserved quantity.
TOLERANCE_FACTOR = 1e4

#: The stiff method :func:`solve` falls back to, with its banded Jacobian in closed form.
STIFF_METHOD = "LSODA"

#: ``method="auto"`` integrates at most this many pairs at once with DOP853;
#: a larger batch goes to LSODA, whose banded Jacobian keeps the work per pair
#: flat (measured: LSODA 1.6 s, DOP853 2.2 s for 1000 pairs of 6000 epochs).
EXPLICIT_BATCH = 8

_IMPLICIT = ("Radau", "BDF", "LSODA")
_RTOL_RANGE = (1e-13, 1e-5)
# Output times at which the check after the solve looks (evenly spaced, and the last).
_CHECKED_TIMES = 512
# Absolute tolerances, relative to each variable's size: a small value that
# later grows (sigma from a small start, gamma1 from the seed a transient leaves)
# carries its relative error into the time it takes to grow, so sigma's is
# 1e-3 of its start (1 unless h grows) and gamma1's far below its largest
# size; gamma2 only decays, and y needs it only relative to its scale.
_ATOL_SIGMA = 1e-3
_ATOL_GAMMA1 = 1e-6
# A path whose squared distance to the saddles at sigma = gamma1 = 0 falls below
# this fraction of its start is solved twice (see _verified).
_SADDLE_APPROACH = 1e-4


class SolverError(RuntimeError):
    """The integrator could not return the solution within its stated tolerance."""


class _Exhausted(Exception):
    """The integration used up :data:`MAX_EVALUATIONS`."""


@dataclass(frozen=True)
class _Scaled:
    """A batch of n pairs in their own units (flat arrays of shape (n,))."""

    h_unit: FloatArray  # H = max(h0, h_inf)
    y_unit: FloatArray  # Y = max(y0, dy2), or 1 where both are 0
    rate_h: FloatArray  # A = eta_h dx2 Y / H
    rate_y: FloatArray  # B = eta_y H
    delta: FloatArray  # sqrt(dy2 / Y)
    x0: FloatArray  # (3, n): sigma = s / sqrt(H), gamma1, gamma2 = g sqrt(H / Y)
    sigma_end: FloatArray  # sigma at the fixed point, sqrt(h_inf / H)
    gamma_scale: FloatArray  # largest |gamma| along the path (at its start or end)

    @property
    def n(self) -> int:
        return self.delta.size

    def take(self, which: NDArray[np.bool_]) -> _Scaled:
        """The pairs where ``which`` is True."""
        return _Scaled(**{name: getattr(self, name)[..., which] for name in self.__dataclass_fields__})


def _log(x: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def _product(factors: list[FloatArray], divisors: list[FloatArray]) -> FloatArray:
    """The product of ``factors`` over that of ``divisors`` (all > 0), through logarithms
    where the plain product over- or underflows on the way although the result may not."""
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        direct = np.prod(factors, axis=0) / np.prod(divisors, axis=0)
        ok = np.isfinite(direct) & (direct >= np.finfo(np.float64).tiny)
        if np.all(ok):
            return direct
        log_value = sum(_log(f) for f in factors) - sum(_log(d) for d in divisors)
        return np.where(ok, direct, np.exp(log_value))


def _refuse(names: str, what: str, value: float, limit: str, index: tuple[int, ...] | None) -> ValueError:
    at = f" at index {index}" if index else ""
    return check.ArgumentValueError(
        names,
        f"{names}: {what} is {value:.3g}{at}, {limit}; float64 cannot integrate this "
        "correctly (see docs/theory.md, 'Inputs solve refuses'). Rescale the problem "
        "(time, or the units of h and y) or check the arguments."
    )


def _first(mask: FloatArray, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if not shape:
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), shape))


def _scale(
    h0: FloatArray, y0: FloatArray, w0: FloatArray, eta_h: FloatArray, eta_y: FloatArray,
    dx2: FloatArray, dy2: FloatArray, shape: tuple[int, ...],
) -> _Scaled:
    """The pairs in their own units; refuses those whose units float64 cannot hold."""
    # The fixed point, from the dimensionless q = y0 / (k h0^2) and
    # l = dy2 / (k h0^2) (k = eta_y / (eta_h dx2)), with no intermediate product
    # overflowing: h_inf / h0 = (1 - q)/2 + sqrt((1 - q)^2/4 + l).
    q = np.where(y0 > 0, _product([y0, eta_h, dx2], [eta_y, h0, h0]), 0.0)
    l = np.where(dy2 > 0, _product([dy2, eta_h, dx2], [eta_y, h0, h0]), 0.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        half = (1 - q) / 2
        root = np.sqrt(half * half + l)
        ratio = np.where(half >= 0, half + root, l / (root - half))
        # l / (root - half) loses l where it underflows; then h_inf = h0 dy2 / y0.
        ratio = np.where((half < 0) & ~(ratio > 0) & (dy2 > 0), dy2 / y0, ratio)
        h_inf = h0 * ratio
    bad = ~(np.isfinite(q) & np.isfinite(l) & np.isfinite(h_inf))
    if np.any(bad):
        i = _first(bad, shape)
        j = int(np.argmax(bad))
        raise _refuse(
            "z0, eta_h, eta_y, dx2, dy2",
            "max(y0, dy2) * eta_h * dx2 / (eta_y * h0**2) (the coupling of the prediction to the "
            "representation; its square root is A_low / h0)",
            float(max(q[j], l[j])), "beyond float64's range (1.8e308)", i,
        )
    h_unit = np.maximum(h0, h_inf)
    both_zero = (y0 == 0) & (dy2 == 0)
    y_unit = np.where(both_zero, 1.0, np.maximum(y0, dy2))
    rate_h = _product([eta_h, dx2, y_unit], [h_unit])
    rate_y = _product([eta_y, h_unit], [np.ones_like(h_unit)])
    for name, rate, names in (("eta_h * dx2 * Y / H", rate_h, "eta_h, dx2, z0, dy2"),
                              ("eta_y * H", rate_y, "eta_y, z0")):
        if not np.all(np.isfinite(rate)):
            bad = ~np.isfinite(rate)
            raise _refuse(names, f"the rate {name} (H = max(h0, h_inf), Y = max(y0, dy2))",
                          np.inf, "beyond float64's range", _first(bad, shape))
    delta = np.sqrt(dy2 / y_unit)
    sigma0 = np.sqrt(h0 / h_unit)
    gamma0 = np.sqrt(y0 / y_unit) / sigma0  # |gamma| at the start
    with np.errstate(divide="ignore", invalid="ignore"):
        along = np.where(delta > 0, (y0 - w0) / y_unit / (sigma0 * delta), 0.0)
    along = np.clip(along, -gamma0, gamma0)  # onto the band, against rounding
    across = np.sqrt((gamma0 - np.abs(along)) * (gamma0 + np.abs(along)))
    sigma_end = np.sqrt(h_inf / h_unit)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma_end = np.where(sigma_end > 0, delta / sigma_end, 0.0)
    gamma_scale = np.maximum(gamma0, gamma_end)
    return _Scaled(
        h_unit=h_unit, y_unit=y_unit, rate_h=rate_h, rate_y=rate_y, delta=delta,
        x0=np.stack([sigma0, along, across]), sigma_end=sigma_end, gamma_scale=np.where(gamma_scale > 0, gamma_scale, 1.0),
    )


def _fastest(x: FloatArray, rate_h: FloatArray, rate_y: FloatArray, delta: FloatArray) -> FloatArray:
    """The largest eigenvalue magnitude of the Jacobian at the states ``x`` = (sigma, gamma1, gamma2).

    The field is ``-P grad L`` with ``L = 1/2 |delta e1 - sigma gamma|^2`` and
    ``P = diag(A, B, B) / 2``, so the Jacobian ``-P Hess L`` has the real
    eigenvalues of the symmetric ``M = P^1/2 Hess L P^1/2``. ``M`` has the
    eigenvalue ``B sigma^2 / 2`` across ``(M01, M02)``; the other two are those of
    the 2 x 2 block ``[[M00, |m|], [|m|, B sigma^2 / 2]]``.
    """
    sigma, g1, g2 = x
    m00 = 0.5 * rate_h * (g1 * g1 + g2 * g2)
    m11 = 0.5 * rate_y * sigma * sigma
    cross = 0.5 * np.sqrt(rate_h * rate_y)
    m = cross * np.hypot(2 * sigma * g1 - delta, 2 * sigma * g2)
    mean, half = 0.5 * (m00 + m11), 0.5 * (m00 - m11)
    spread = np.hypot(half, m)
    return np.maximum(np.abs(mean) + spread, m11)


def _end_state(scaled: _Scaled) -> FloatArray:
    """The fixed point in scaled units: (sigma_inf, delta / sigma_inf, 0). With identical
    targets (delta = 0) |gamma| there is at most its start, which bounds the eigenvalues."""
    _, g1, g2 = scaled.x0
    with np.errstate(divide="ignore", invalid="ignore"):
        along = np.where(scaled.delta > 0, scaled.delta / scaled.sigma_end, np.hypot(g1, g2))
    return np.stack([scaled.sigma_end, along, np.zeros_like(along)])


def _stiffness(scaled: _Scaled, span: float) -> FloatArray:
    """The largest eigenvalue of the Jacobian at the start and at the fixed point, times the span."""
    start = _fastest(scaled.x0, scaled.rate_h, scaled.rate_y, scaled.delta)
    end = _fastest(_end_state(scaled), scaled.rate_h, scaled.rate_y, scaled.delta)
    with np.errstate(over="ignore"):
        return np.maximum(start, end) * span


#: Up to this many pairs :class:`_Field` computes in Python floats.
FLOAT_PAIRS = 4


def _pair_field(a: float, b: float, d: float, ad: float, sigma: float, g1: float,
                g2: float) -> tuple[float, float, float]:
    """One pair's scaled field, as :meth:`_Field.__call__` computes it for many."""
    b_sigma = b * sigma
    b_sigma2 = b_sigma * sigma
    return ad * g1 - a * sigma * (g1 * g1 + g2 * g2), b_sigma * d - b_sigma2 * g1, -b_sigma2 * g2


class _Field:
    """The scaled field of n pairs and its Jacobian.

    The explicit methods see the state as three blocks ``(sigma, gamma1,
    gamma2)`` of n values each; the stiff method sees it pair by pair
    (``sigma_0, gamma1_0, gamma2_0, sigma_1, ...``), so that the Jacobian is
    banded (two diagonals either side) and LSODA factorises it in O(n).
    """

    def __init__(self, scaled: _Scaled, *, interleaved: bool) -> None:
        self.a, self.b, self.d = 0.5 * scaled.rate_h, 0.5 * scaled.rate_y, scaled.delta
        self.ad = self.a * self.d
        self.n, self.interleaved = scaled.n, interleaved
        self.calls = 0
        # A few pairs (a trial's theory, fit's triples): Python floats cost a
        # fraction of short arrays per call, with the same operations in the same order.
        self.constants = None
        if self.n <= FLOAT_PAIRS:
            self.constants = list(zip(*(v.tolist() for v in (self.a, self.b, self.d, self.ad))))

    def pack(self, x: FloatArray) -> FloatArray:
        """(3, n) variables to the flat state."""
        return (x.T if self.interleaved else x).reshape(-1)

    def unpack(self, state: FloatArray) -> FloatArray:
        """The flat state (or a (size, T) array of them) as (3, n[, T]) variables."""
        tail = state.shape[1:]
        if self.interleaved:
            return np.moveaxis(state.reshape(self.n, 3, *tail), 1, 0)
        return state.reshape(3, self.n, *tail)

    def __call__(self, _t: float, state: FloatArray) -> FloatArray:
        self.calls += 1
        if self.calls > MAX_EVALUATIONS:
            raise _Exhausted
        n = self.n
        if self.constants is not None:
            values = state.tolist()
            if n == 1:  # both layouts hold one pair as (sigma, gamma1, gamma2)
                return np.array(_pair_field(*self.constants[0], *values))
            pairs = ([values[3 * k:3 * k + 3] for k in range(n)] if self.interleaved
                     else zip(values[:n], values[n:2 * n], values[2 * n:]))  # fmt: skip
            rates = [_pair_field(*constants, *pair) for constants, pair in zip(self.constants, pairs)]
            return np.array(rates).reshape(-1) if self.interleaved else np.array(rates).T.reshape(-1)
        if self.interleaved:
            sigma, g1, g2 = state[0::3], state[1::3], state[2::3]
        else:
            sigma, g1, g2 = state[:n], state[n:2 * n], state[2 * n:]
        b_sigma = self.b * sigma
        b_sigma2 = b_sigma * sigma
        d_sigma = self.ad * g1 - self.a * sigma * (g1 * g1 + g2 * g2)
        d_g1 = b_sigma * self.d - b_sigma2 * g1
        d_g2 = -b_sigma2 * g2
        if self.interleaved:
            out = np.empty_like(state)
            out[0::3], out[1::3], out[2::3] = d_sigma, d_g1, d_g2
            return out
        return np.concatenate([d_sigma, d_g1, d_g2])

    def entries(self, state: FloatArray) -> dict[tuple[int, int], FloatArray]:
        """The nonzero entries ``d f_i / d x_j`` of the Jacobian, per pair, keyed ``(i, j)``."""
        sigma, g1, g2 = self.unpack(state)
        a, b = self.a, self.b
        residual = self.d - 2 * sigma * g1
        return {(0, 0): -a * (g1 * g1 + g2 * g2), (0, 1): a * residual, (0, 2): -2 * a * sigma * g2,
                (1, 0): b * residual, (1, 1): -b * sigma * sigma,
                (2, 0): -2 * b * sigma * g2, (2, 2): -b * sigma * sigma}

    def banded_jacobian(self, _t: float, state: FloatArray) -> FloatArray:
        """The Jacobian in LSODA's packed band format (interleaved layout):
        ``packed[2 + i - j, 3 k + j]`` is d f_i / d x_j of pair k."""
        packed = np.zeros((5, self.n, 3))
        for (i, j), values in self.entries(state).items():
            packed[2 + i - j, :, j] = values
        return packed.reshape(5, -1)

    def sparse_jacobian(self, _t: float, state: FloatArray):  # noqa: ANN201 (a scipy.sparse matrix)
        """The Jacobian as a sparse matrix (block layout), for Radau and BDF."""
        from scipy.sparse import csc_matrix

        entries = self.entries(state)
        index = np.arange(self.n)
        rows = np.concatenate([i * self.n + index for i, _ in entries])
        cols = np.concatenate([j * self.n + index for _, j in entries])
        size = 3 * self.n
        return csc_matrix((np.concatenate(list(entries.values())), (rows, cols)), shape=(size, size))


def _integrate(scaled: _Scaled, tau: FloatArray, method: str, rtol: float) -> FloatArray:
    """Integrate the scaled pairs over ``tau`` (starting at 0); (3, n, T), or raise SolverError."""
    from scipy.integrate import solve_ivp

    stiff = method == "LSODA"
    field = _Field(scaled, interleaved=stiff)
    atol = rtol * field.pack(np.stack([_ATOL_SIGMA * scaled.x0[0], _ATOL_GAMMA1 * scaled.gamma_scale,
                                       scaled.gamma_scale]))
    options = ({"jac": field.banded_jacobian, "lband": 2, "uband": 2} if stiff
               else {"jac": field.sparse_jacobian} if method in _IMPLICIT else {})
    try:
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            sol = solve_ivp(field, (0.0, tau[-1]), field.pack(scaled.x0), method=method, t_eval=tau,
                            rtol=rtol, atol=atol, **options)
    except _Exhausted:
        raise SolverError(
            f"the ODE solver ({method}) gave up after {MAX_EVALUATIONS} evaluations of the right-hand side"
        ) from None
    if not sol.success or sol.y.shape[1] != tau.size:
        raise SolverError(f"the ODE solver ({method}) failed: {sol.message}")
    return field.unpack(sol.y)


def _defects(scaled: _Scaled, x: FloatArray, tol: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per pair: the drift of the conserved quantity relative to what the stated
    tolerance allows (inf where not finite), the largest eigenvalue along the
    path, and how close the path comes to the saddles at ``sigma = gamma1 = 0``
    (the least squared distance in scaled units, ``sigma^2 + (gamma1 /
    gamma_scale)^2``, over its value at the start).

    Looks at up to ``_CHECKED_TIMES`` evenly spaced output times and the last:
    a failed integration drifts for good, so a sample finds it at a fraction
    of the cost of every point of a large batch.
    """
    steps = max(1, x.shape[2] // _CHECKED_TIMES)
    x = np.concatenate([x[:, :, ::steps], x[:, :, -1:]], axis=2)
    sigma, g1, g2 = x
    a, b = scaled.rate_h[:, None], scaled.rate_y[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        # A |gamma|^2 - B sigma^2 = A C H / Y is constant along every solution; an
        # error within tol of the scales (1 for sigma, gamma_scale for gamma) moves it
        # by at most 2 tol (A |gamma| gamma_scale + B |sigma|).
        r = g1 * g1 + g2 * g2
        conserved = a * r - b * sigma * sigma
        drift = np.max(np.abs(conserved - conserved[:, :1]), axis=1)
        allowed = 2 * tol * (scaled.rate_h * np.sqrt(np.max(r, axis=1)) * scaled.gamma_scale
                             + scaled.rate_y * np.max(np.abs(sigma), axis=1))
        ratio = np.where(drift > 0, drift / np.maximum(allowed, np.finfo(np.float64).tiny), 0.0)
        fastest = np.max(_fastest(x, a, b, scaled.delta[:, None]), axis=1)
        # The saddles h = 0, dy . dyhat = 0 (sigma = gamma1 = 0)
        distance = sigma * sigma + (g1 / scaled.gamma_scale[:, None]) ** 2
        approach = np.min(distance, axis=1) / distance[:, 0]
    finite = np.all(np.isfinite(x), axis=(0, 2))
    return np.where(finite, ratio, np.inf), np.where(finite, fastest, np.inf), approach


def relaxation_rate(
    z0: FloatArray, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike, dy2: ArrayLike
) -> FloatArray:
    """The fastest relaxation rate (largest eigenvalue magnitude of the Jacobian, per epoch)
    at the initial state ``z0`` (..., 3) and at the fixed point, whichever is larger.

    Inputs whose scales float64 cannot hold give ``inf``.
    """
    z0 = np.asarray(z0, dtype=np.float64)
    h0, y0, w0, eta_h, eta_y, dx2, dy2 = np.broadcast_arrays(
        z0[..., 0], z0[..., 1], z0[..., 2], *(np.asarray(v, dtype=np.float64) for v in (eta_h, eta_y, dx2, dy2))
    )
    shape = h0.shape
    flat = [np.ravel(v) for v in (h0, y0, w0, eta_h, eta_y, dx2, dy2)]
    try:
        scaled = _scale(*flat, shape=shape)
    except ValueError:
        return np.full(shape, np.inf)
    return _stiffness(scaled, 1.0).reshape(shape)


def reachable(z: ArrayLike, *, dy2: ArrayLike, rtol: float = 1e-12) -> NDArray[np.bool_]:
    """Whether each state ``(h, y, w)`` belongs to some pair of vectors.

    A state is reachable when it is finite, ``h >= 0``, ``y >= 0`` and ``w``
    lies in the Cauchy-Schwarz band ``|y - w| <= sqrt(dy2 * y)``: with
    ``w = y - dy . dyhat``, ``|dyhat|^2 = y`` and ``|dy|^2 = dy2``,
    ``|dy . dyhat| <= |dy| |dyhat|``. ``rtol`` is the slack for rounding:
    ``sqrt(dy2 y) (1 + rtol) + rtol max(y, |w|)``.

    Parameters
    ----------
    z : array_like, shape (..., 3)
        States; NaN or infinite entries make a state unreachable.
    dy2 : array_like
        Squared target distance (>= 0), broadcasting against ``z[..., 0]``.
    rtol : float, optional
        Relative slack for rounding, in ``[0, 1e-3]`` (default 1e-12).

    Returns
    -------
    ndarray of bool, shape ``z.shape[:-1]`` broadcast with ``dy2``
    """
    z = check.real_or_nan("z", z)
    if z.ndim == 0 or z.shape[-1] != 3:
        raise check.ArgumentValueError("z", f"z must have shape (..., 3) holding (h, y, w); got shape {z.shape}")
    dy2 = check.nonnegative("dy2", dy2)
    rtol = check.real_scalar("rtol", rtol, at_least=0, at_most=1e-3)
    h, y, w, dy2 = check.broadcast(h=z[..., 0], y=z[..., 1], w=z[..., 2], dy2=dy2)
    with np.errstate(over="ignore", invalid="ignore"):
        band = np.sqrt(dy2 * y) * (1 + rtol) + rtol * np.maximum(y, np.abs(w))
        return np.isfinite(z).all(axis=-1) & (h >= 0) & (y >= 0) & (np.abs(y - w) <= band)


def rhs(
    z: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike, dy2: ArrayLike
) -> FloatArray:
    """Right-hand side ``d(h, y, w)/dt`` of the system, exactly as written in the theory.

    Useful as an oracle and for phase portraits; :func:`solve` integrates an
    equivalent regular form instead. ``z`` has shape (..., 3), ``h > 0``.
    """
    h, y, w, eta_h, eta_y, dx2, dy2 = check.problem("z", z, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        a = eta_h * dx2
        dh = -a * w
        dy = -w * (eta_y * h + a * y / h)
        dw = -0.5 * eta_y * (3 * w - y + dy2) * h - 0.5 * a * (y + w) * w / h
    out = np.stack([dh, dy, dw], axis=-1)
    check.computable("z, eta_h, eta_y, dx2, dy2", out)
    return out


def solve(
    z0: ArrayLike,
    t: ArrayLike,
    *,
    eta_h: ArrayLike,
    eta_y: ArrayLike,
    dx2: ArrayLike,
    dy2: ArrayLike,
    rtol: float = 1e-10,
    method: str = "auto",
) -> FloatArray:
    """Solve the 3-variable system for a batch of initial states and rates.

    Parameters
    ----------
    z0 : array_like, shape (..., 3)
        Initial state ``(h, y, w)`` at time ``t[0]``; ``h > 0``, ``y >= 0`` and
        ``|y - w| <= sqrt(dy2 * y)`` (a reachable state; see :func:`reachable`).
    t : array_like, shape (T,)
        Strictly increasing output times in epochs (at least 2).
    eta_h, eta_y : array_like
        Effective learning rates (> 0), broadcasting against ``z0[..., 0]``.
    dx2, dy2 : array_like
        Squared input (> 0) and target (>= 0) distances, broadcasting likewise.
    rtol : float, optional
        Relative tolerance of the integrator, in ``[1e-13, 1e-5]``. Every
        variable is returned within ``TOLERANCE_FACTOR * rtol`` (1e-6 at the
        default) of its scale: ``h`` of its largest value over ``t``, ``y``
        and ``w`` of the largest of ``y`` and ``dy2``; ``h`` keeps its
        relative accuracy while it decays towards 0 down to about 1e-12 of
        its scale.
    method : str, optional
        ``"auto"`` (default): ``"DOP853"`` for at most :data:`EXPLICIT_BATCH`
        pairs whose stiffness (the largest eigenvalue of the Jacobian at the
        start or at the fixed point, times the time span) is at most
        :data:`STIFF_SWITCH`, else :data:`STIFF_METHOD` (LSODA). A result that
        fails the check after the solve (the drift of the conserved quantity,
        the stiffness along the path) is redone with LSODA, then Radau. Any
        method of :func:`scipy.integrate.solve_ivp` may be named instead; it
        is used as named, and its result is checked just the same.

    Returns
    -------
    ndarray, shape (..., T, 3)
        ``(h, y, w)`` at every time in ``t``; the leading shape is the broadcast
        of ``z0[..., 0]`` with the rates and constants. Every state is finite
        and reachable.

    Raises
    ------
    ValueError
        On invalid input, naming the argument, including inputs beyond what
        float64 can integrate (docs/theory.md, "Inputs solve refuses").
    TypeError
        For booleans, strings or other non-numbers where numbers belong.
    SolverError
        If no integrator returns the solution within the stated tolerance.
    """
    h0, y0, w0, eta_h, eta_y, dx2, dy2 = check.problem("z0", z0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    t = check.times(t)
    rtol = check.real_scalar("rtol", rtol, at_least=_RTOL_RANGE[0], at_most=_RTOL_RANGE[1])
    method = check.method(method)
    check.band("z0", y0, w0, dy2)
    shape = h0.shape
    if h0.size == 0:
        return np.empty((*shape, t.size, 3))
    flat = [np.ravel(v) for v in (h0, y0, w0, eta_h, eta_y, dx2, dy2)]
    scaled = _scale(*flat, shape=shape)

    with np.errstate(over="ignore"):
        span = float(t[-1] - t[0])
        tau = t - t[0]
    if not np.isfinite(span):
        raise check.ArgumentValueError("t", f"t spans {t[0]:.3g} to {t[-1]:.3g}, more than float64 can hold; shift or rescale t")
    stiffness = _stiffness(scaled, span)
    if not np.all(stiffness <= MAX_STIFFNESS):
        bad = ~(stiffness <= MAX_STIFFNESS)
        raise _refuse("eta_h, eta_y, dx2, dy2, z0, t",
                      "the stiffness (largest eigenvalue of the Jacobian times the span of t)",
                      float(np.max(np.where(bad, stiffness, 0))), f"above {MAX_STIFFNESS:.0e}",
                      _first(bad, shape))
    tol = TOLERANCE_FACTOR * rtol
    if method != "auto":
        tries = [method]
    elif np.max(stiffness) <= STIFF_SWITCH and scaled.n <= EXPLICIT_BATCH:
        tries = ["DOP853", STIFF_METHOD, "Radau"]
    else:
        tries = [STIFF_METHOD, "Radau"]
    problems = []
    for name in tries:
        try:
            x = _integrate(scaled, tau, name, rtol)
        except SolverError as exc:
            problems.append(str(exc))
            continue
        drift, fastest, approach = _defects(scaled, x, tol)
        # An explicit method on a path stiffer than its ends is at its stability
        # limit, where its error estimate misleads: the stiff method redoes it.
        too_stiff = name not in _IMPLICIT and method == "auto" and np.max(fastest) * span > STIFF_SWITCH
        if np.all(drift <= 1) and not too_stiff:
            z = _unscale(scaled, x)
            if np.all(np.isfinite(z)):
                return _verified(scaled, tau, z, approach, rtol, shape).reshape(*shape, t.size, 3)
            drift = np.where(np.all(np.isfinite(z), axis=(1, 2)), drift, np.inf)
        j = int(np.argmax(drift)) if not too_stiff else int(np.argmax(fastest))
        pair = f" for the pair at index {_first(np.arange(scaled.n) == j, shape)}" if shape else ""
        if too_stiff and drift[j] <= 1:
            problems.append(f"{name}: the path is stiffer ({fastest[j] * span:.3g}) than {STIFF_SWITCH:g}{pair}")
        elif np.isinf(drift[j]):
            problems.append(f"{name}: non-finite values{pair}")
        else:
            problems.append(f"{name}: the conserved quantity drifted by {drift[j]:.3g} times the tolerance{pair}")
    raise SolverError(
        f"could not solve within the stated tolerance ({tol:.1g} of each variable's scale): "
        + "; ".join(problems)
        + (". Try method='auto'" if method != "auto" else ". Try a larger rtol or a shorter span of t")
    )


def _verified(scaled: _Scaled, tau: FloatArray, z: FloatArray, approach: FloatArray, rtol: float,
              shape: tuple[int, ...]) -> FloatArray:
    """``z``, with the pairs that pass close to the saddles (``h = 0``, ``dy . dyhat = 0``) solved again.

    Near the saddle the part of the state that leads away from it is tiny, and
    when the path came there from far away it is a small difference of large
    numbers: the solution can then depend on the inputs' last digits. Those
    pairs are integrated again with LSODA at a hundredth of ``rtol``; where the
    two solutions differ by more than the stated tolerance the solution is not
    determined by the inputs within it, and :class:`SolverError` says so.
    """
    near = approach < _SADDLE_APPROACH
    if not np.any(near):
        return z
    again = _unscale(scaled.take(near), _integrate(scaled.take(near), tau, "LSODA", max(rtol / 100, _RTOL_RANGE[0])))
    first = z[near]
    dy2 = (scaled.y_unit * scaled.delta**2)[near]
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.maximum(
            np.max(np.abs(first[..., 0] - again[..., 0]), axis=1) / np.max(again[..., 0], axis=1),
            np.max(np.abs(first[..., 1:] - again[..., 1:]), axis=(1, 2)) / np.maximum(np.max(again[..., 1], axis=1), dy2),
        )
    tol = TOLERANCE_FACTOR * rtol
    if not np.all(error <= tol):
        j = int(np.flatnonzero(near)[np.argmax(np.where(error <= tol, 0, np.nan_to_num(error, nan=np.inf)))])
        pair = f" (the pair at index {_first(np.arange(scaled.n) == j, shape)})" if shape else ""
        raise SolverError(
            f"the solution is not determined within the stated tolerance ({tol:.1g}){pair}: the path passes "
            "so close to a saddle (h = 0, dy . dyhat = 0) that two integrations differ by "
            f"{float(np.max(error)):.2g} of the scale (the result depends on the inputs' last digits)"
        )
    z = z.copy()
    z[near] = again
    return z


def _unscale(scaled: _Scaled, x: FloatArray) -> FloatArray:
    """(h, y, w) of shape (n, T, 3) from the scaled states (3, n, T)."""
    sigma, g1, g2 = x
    z = np.empty((scaled.n, x.shape[2], 3))
    h, y, w = z[..., 0], z[..., 1], z[..., 2]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sigma2 = sigma * sigma
        np.multiply(scaled.h_unit[:, None], sigma2, out=h)
        np.multiply(scaled.y_unit[:, None], sigma2 * (g1 * g1 + g2 * g2), out=y)
        along = (scaled.y_unit * scaled.delta)[:, None] * sigma * g1  # dy . dyhat
        np.subtract(y, along, out=w)
        # The band holds for the scaled state; the clip keeps it through the rounding
        # of the products above (and where y underflows but dy . dyhat does not).
        reach = np.sqrt((scaled.y_unit * scaled.delta**2)[:, None] * y)
        np.clip(w, y - reach, y + reach, out=w)
    return z
