"""The closed 3-variable system for (h, y, w) and its vectorised solver.

The solver integrates an equivalent form of the system that is polynomial, so
it has no singularity anywhere. Without rotation the representation difference
is ``dh = s u`` for a fixed unit vector ``u`` and a signed length ``s``
(``h = s**2``); with ``g = W_g u`` the decoder's response along ``u``, let
``p = dy . g`` and ``r = |g|**2 = y / h``. Then

    ds/dt = a/2 * (p - s r)
    dp/dt = eta_y/2 * s * (dy2 - s p)
    r     = C + k s**2             (the conserved quantity, used exactly)

with ``a = eta_h dx2`` and ``k = eta_y / a``; ``y = s**2 r`` and
``w = y - s p``. In ``(h, y, w)`` the right-hand side divides by ``h``, which
blows up where the two representations pass through each other (``h -> 0``
with ``w`` changing sign) or merge (identical targets); in ``(s, p)`` both are
ordinary, smooth motion.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._fixed_point import final_distance

FloatArray = NDArray[np.float64]


#: Stiffness (fastest relaxation rate times the time span) above which
#: ``method="auto"`` uses LSODA: beyond it the explicit DOP853 runs at its
#: stability limit, where its error is large and jumps with the rates.
STIFF_SWITCH = 200.0


class SolverError(RuntimeError):
    """The ODE integrator failed (for instance, step size underflow)."""


def relaxation_rate(
    z0: FloatArray, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike, dy2: ArrayLike
) -> FloatArray:
    """Rough fastest relaxation rate of the regular (s, p) system, at start and end.

    From the Jacobian of ``ds/dt = a/2 (p - s r)``, ``dp/dt = eta_y/2 s (dy2 - s p)``
    with ``r = C + k s^2``: diagonal magnitudes plus the geometric mean of the
    off-diagonal ones, evaluated at the initial state and at the fixed point.
    """
    h0, y0, w0 = z0[..., 0], z0[..., 1], z0[..., 2]
    eta_h, eta_y, dx2, dy2 = (np.asarray(v, dtype=np.float64) for v in (eta_h, eta_y, dx2, dy2))
    a = eta_h * dx2
    k = eta_y / a
    c = y0 / h0 - k * h0
    h_inf = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2).h_inf
    rates = []
    for h, sp in ((h0, y0 - w0), (h_inf, dy2)):
        diag = 0.5 * a * np.abs(c + 3 * k * h) + 0.5 * eta_y * h
        rates.append(diag + 0.5 * np.sqrt(a * eta_y * np.abs(dy2 - 2 * sp)))
    return np.maximum(*rates)


def rhs(
    z: ArrayLike, *, eta_h: ArrayLike, eta_y: ArrayLike, dx2: ArrayLike, dy2: ArrayLike
) -> FloatArray:
    """Right-hand side ``d(h, y, w)/dt`` of the system, exactly as written in the theory.

    Useful as an oracle and for phase portraits; :func:`solve` integrates an
    equivalent regular form instead. ``z`` has shape (..., 3), ``h > 0``.
    """
    z = check.state("z", z)
    h, y, w = z[..., 0], z[..., 1], z[..., 2]
    eta_h, eta_y, dx2, dy2 = (np.asarray(v, dtype=np.float64) for v in (eta_h, eta_y, dx2, dy2))
    a = eta_h * dx2
    dh = -a * w
    dy = -w * (eta_y * h + a * y / h)
    dw = -0.5 * eta_y * (3 * w - y + dy2) * h - 0.5 * a * (y + w) * w / h
    return np.stack(np.broadcast_arrays(dh, dy, dw), axis=-1)


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
        Initial state ``(h, y, w)`` at time ``t[0]``; ``h > 0``, ``y >= 0``.
    t : array_like, shape (T,)
        Strictly increasing output times in epochs (at least 2).
    eta_h, eta_y : array_like
        Effective learning rates (> 0), broadcasting against ``z0[..., 0]``.
    dx2, dy2 : array_like
        Squared input (> 0) and target (>= 0) distances, broadcasting likewise.
    rtol : float, optional
        Relative tolerance of the integrator. The default gives 1e-7 or better
        accuracy relative to each variable's scale; ``h`` keeps its relative
        accuracy while it decays towards 0 down to about 1e-12 of its scale.
    method : str, optional
        ``"auto"`` (default) uses ``"DOP853"``, unless the fastest relaxation
        rate times the time span exceeds :data:`STIFF_SWITCH`, then ``"LSODA"``.
        Any method of :func:`scipy.integrate.solve_ivp` may be named instead.

    Returns
    -------
    ndarray, shape (..., T, 3)
        ``(h, y, w)`` at every time in ``t``; the leading shape is the broadcast
        of ``z0[..., 0]`` with the rates and constants.

    Raises
    ------
    ValueError
        On invalid input. :class:`SolverError` if the integrator fails.
    """
    z0 = check.state("z0", z0)
    t = check.times(t)
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must lie in (0, 1); got {rtol!r}")
    h0, y0, w0, eta_h, eta_y, dx2, dy2 = check.broadcast(
        h0=z0[..., 0],
        y0=z0[..., 1],
        w0=z0[..., 2],
        eta_h=check.positive("eta_h", eta_h),
        eta_y=check.positive("eta_y", eta_y),
        dx2=check.positive("dx2", dx2),
        dy2=check.nonnegative("dy2", dy2),
    )
    # Cauchy-Schwarz on dy . dyhat = y - w: states outside this band belong to
    # no pair of vectors (usually a sign that dy2 does not match the data).
    slack = np.sqrt(dy2 * y0) * (1 + 1e-6) + 1e-12 * np.maximum(y0, h0)
    if np.any(np.abs(y0 - w0) > slack):
        i = tuple(int(j) for j in np.unravel_index(np.argmax(np.abs(y0 - w0) - slack), h0.shape))
        raise ValueError(
            f"z0 is not a reachable state at index {i}: |y - w| = |dy . dyhat| must be "
            f"<= sqrt(dy2 * y), got y={y0[i]:.6g}, w={w0[i]:.6g}, dy2={dy2[i]:.6g}; "
            "check that dy2 matches the data the state was measured on"
        )
    batch_shape = h0.shape
    h0, y0, w0, eta_h, eta_y, dx2, dy2 = (np.ravel(v) for v in (h0, y0, w0, eta_h, eta_y, dx2, dy2))

    a = eta_h * dx2
    k = eta_y / a
    c = y0 / h0 - k * h0
    s0 = np.sqrt(h0)
    p0 = (y0 - w0) / s0
    n = h0.size

    # Absolute tolerances from each variable's natural scale (its start and its
    # value at the fixed point), so tiny and huge weights are treated alike.
    # The 1e-3 keeps relative accuracy while h decays towards 0.
    h_inf = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2).h_inf
    r_scale = np.maximum(np.abs(c) + k * np.maximum(h0, h_inf), y0 / h0)
    s_scale = np.sqrt(np.maximum(h0, h_inf))
    p_scale = np.maximum(np.abs(p0), np.sqrt(dy2 * r_scale))
    p_scale = np.where(p_scale > 0, p_scale, 1.0)
    atol = 1e-3 * rtol * np.concatenate([s_scale, p_scale])

    if method == "auto":
        span = t[-1] - t[0]
        fastest = relaxation_rate(
            np.stack([h0, y0, w0], -1), eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2
        )
        method = "LSODA" if float(np.max(fastest)) * span > STIFF_SWITCH else "DOP853"

    def field(_t: float, state: FloatArray) -> FloatArray:
        s, p = state[:n], state[n:]
        r = c + k * s * s
        return np.concatenate([0.5 * a * (p - s * r), 0.5 * eta_y * s * (dy2 - s * p)])

    from scipy.integrate import solve_ivp
    sol = solve_ivp(
        field, (t[0], t[-1]), np.concatenate([s0, p0]), method=method, t_eval=t, rtol=rtol, atol=atol
    )
    if not sol.success:
        raise SolverError(f"the ODE solver failed: {sol.message} (try method='Radau' for stiff rates)")

    s, p = sol.y[:n], sol.y[n:]  # each (n, T)
    h = s * s
    y = np.maximum(h * (c[:, None] + k[:, None] * h), 0.0)  # >= 0 exactly; clip rounding only
    w = y - s * p
    return np.stack([h, y, w], axis=-1).reshape(*batch_shape, t.size, 3)
