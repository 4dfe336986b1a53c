"""The 3-variable system with time-varying rates given as samples: the theory with no fitted parameter.

The rates measured from a network's tangent kernels (``repdyn.track``,
``kernel_every``) change over training; this solves the system with those
samples instead of two fitted constants. Between consecutive sample times
the rates are held constant at the mean of the interval's two samples, which
is the interval's average of their linear interpolation, so the integral
of each rate over time is that of the piecewise-linear interpolant. Before
the first sample and after the last the end samples are held. Each interval
is integrated by :func:`repdyn.theory.solve` from the state the previous one
reached: the system's right-hand side and its regular integration are those
of ``solve`` alone (restarting from ``(h, y, w)`` is exact, since the
regular form is symmetric under ``(s, p) -> (-s, -p)``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._system import solve

FloatArray = NDArray[np.float64]


def interval_rates(samples: FloatArray, rate_times: FloatArray, bounds: FloatArray) -> FloatArray:
    """The rate held on each interval ``[bounds[i], bounds[i+1]]``, shape ``(..., len(bounds) - 1)``.

    ``bounds`` are the integration times between which the rates are
    constant (the output span cut at every interior sample time): inside the
    samples' range an interval between two consecutive samples takes their
    mean; outside it, the nearest end sample.
    """
    mids = 0.5 * (bounds[:-1] + bounds[1:])
    after = np.searchsorted(rate_times, mids, side="right")  # samples at or before each midpoint
    left = np.clip(after - 1, 0, len(rate_times) - 1)
    right = np.clip(after, 0, len(rate_times) - 1)
    return 0.5 * (samples[..., left] + samples[..., right])


def solve_varying(
    z0: ArrayLike,
    t: ArrayLike,
    *,
    eta_h: ArrayLike,
    eta_y: ArrayLike,
    dx2: ArrayLike,
    dy2: ArrayLike,
    rate_times: ArrayLike,
    rtol: float = 1e-10,
    method: str = "auto",
) -> FloatArray:
    """Solve the 3-variable system with rates that change over time, given as samples.

    The theory with zero fitted parameters: with ``eta_h`` and ``eta_y``
    measured from a network's kernels (:meth:`repdyn.track.PairTracking.zero_fit_inputs`
    gives every argument) it predicts the whole trajectory from the initial
    state alone. Constant samples give :func:`solve`'s solution.

    Parameters
    ----------
    z0 : array_like, shape (..., 3)
        Initial state ``(h, y, w)`` at ``t[0]``, as for :func:`solve`.
    t : array_like, shape (T,)
        Strictly increasing output times in epochs (at least 2).
    eta_h, eta_y : array_like, shape (..., S)
        Samples of the two rates (> 0) at ``rate_times``; the leading shape
        broadcasts against ``z0[..., 0]`` (a 1-D array is one series shared
        by the batch).
    dx2, dy2 : array_like
        Squared input (> 0) and target (>= 0) distances.
    rate_times : array_like, shape (S,)
        Strictly increasing times of the samples, in epochs (one or more).
        Between two of them each rate is held at the mean of its two
        samples; outside their range at the nearest sample.
    rtol, method
        As for :func:`solve`, applied on every interval.

    Returns
    -------
    ndarray, shape (..., T, 3)
        ``(h, y, w)`` at every time in ``t``.

    Raises
    ------
    ValueError
        On invalid input. :class:`SolverError` if the integrator fails.
    """
    z0 = check.state("z0", z0)
    t = check.times(t)
    rate_times = check.times(rate_times, name="rate_times", min_points=1)
    eta_h = np.atleast_1d(check.positive("eta_h", eta_h))
    eta_y = np.atleast_1d(check.positive("eta_y", eta_y))
    for name, samples in (("eta_h", eta_h), ("eta_y", eta_y)):
        if samples.shape[-1] != rate_times.size:
            raise ValueError(
                f"{name} must hold one sample per rate time along its last axis ({rate_times.size}); "
                f"got shape {samples.shape}"
            )
    dx2 = check.positive("dx2", dx2)
    dy2 = check.nonnegative("dy2", dy2)
    interior = rate_times[(rate_times > t[0]) & (rate_times < t[-1])]
    bounds = np.union1d(np.array([t[0], t[-1]]), interior)
    held_h = interval_rates(eta_h, rate_times, bounds)
    held_y = interval_rates(eta_y, rate_times, bounds)
    batch = np.broadcast_shapes(z0.shape[:-1], held_h.shape[:-1], held_y.shape[:-1], dx2.shape, dy2.shape)
    state = np.broadcast_to(z0, (*batch, 3))
    out = np.empty((*batch, t.size, 3))
    out[..., 0, :] = state
    for i in range(len(bounds) - 1):
        start, stop = bounds[i], bounds[i + 1]
        inside = np.flatnonzero((t > start) & (t < stop))
        times = np.concatenate([[start], t[inside], [stop]])
        z = solve(
            state, times, eta_h=held_h[..., i], eta_y=held_y[..., i], dx2=dx2, dy2=dy2,
            rtol=rtol, method=method,
        )  # fmt: skip
        out[..., inside, :] = z[..., 1:-1, :]
        state = z[..., -1, :]
        at_stop = np.flatnonzero(t == stop)
        out[..., at_stop, :] = state[..., None, :]
    return out
