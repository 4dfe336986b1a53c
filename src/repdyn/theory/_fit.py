"""Least-squares fit of the effective learning rates to observed trajectories.

The rates ``(eta_h, eta_y)`` are fitted in log space, so they are positive by
construction. The model starts from the observed first point (projected into
the states the system can reach). By default (``objective="scaled"``) the
residual of each variable is divided by that variable's spread in the data, so
``h``, ``y`` and ``w`` all count whatever their magnitudes; ``objective="paper"``
minimises the paper's plain sum of squared differences (its Eq. 49).

Every fit carries a ``quality`` verdict (``good`` / ``poor`` / ``unfit``) from
its R^2, with the one threshold :data:`POOR_R2`; ``success`` only says that the
optimiser converged.

What keeps the fit fast and reliable:

- The Jacobian is a forward difference in the log rates, but the base rates and
  both perturbed pairs are integrated together in ONE batched :func:`solve`
  call. The batch shares one adaptive step sequence, so the differences are
  free of step-size noise, and the extra two trajectories cost about 10 % more
  than one (the integration is dominated by per-step overhead).
- The starting point comes from two linear regressions on the data (the
  conserved quantity gives the rate ratio, ``dh/dt = -eta_h dx2 w`` gives
  ``eta_h``), not from a grid of rate pairs. It is usually within 1 % of the
  optimum, and the optimiser stops as soon as the next Gauss-Newton step is
  negligible against the rates' standard errors: typically 2 or 3 solves.
- Stiff rates (fast relaxation over the observed span) are integrated with
  LSODA instead of the explicit default, whose error at its stability limit
  would make the finite differences meaningless; the solver tolerance follows
  the data (tighter when a variable barely moves relative to its size).
- If the fit is poor (some R^2 < 0.9), it is restarted from the best of a few
  overall time scales at the data's rate ratio (evaluated in one batched
  solve): the time scale from the integral of ``w`` is the fragile part of the
  start when a fast transient falls between two samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._fixed_point import final_distance
from repdyn.theory._loss import loss_curve
from repdyn.theory._r2 import r2
from repdyn.theory._system import SolverError, relaxation_rate, solve
from repdyn.vocabulary import json_ready

FloatArray = NDArray[np.float64]

# The per-trajectory fields of a FitResult: a Python scalar for one trajectory,
# an array of shape (B,) over a batch of B.
PerFitFloat: TypeAlias = float | NDArray[np.float64]
PerFitInt: TypeAlias = int | NDArray[np.int64]
PerFitBool: TypeAlias = bool | NDArray[np.bool_]
PerFitStr: TypeAlias = str | NDArray[np.str_]

VARIABLES = ("h", "y", "w")

# Forward-difference step in log rate. The batched solve shares one step
# sequence between base and perturbed rates, so the integration error varies
# smoothly between them and largely cancels in the difference; a step near
# sqrt(rtol) is not needed (as long as the solver is not at its stability limit,
# see repdyn.theory._system.STIFF_SWITCH).
_FD_STEP = 1e-6
# Residual given to the optimiser for rates the solver cannot (or should not)
# integrate: large enough that such a trial step is always rejected.
_PENALTY = 1e10
# Stiffness = the largest eigenvalue of the Jacobian times the observed time span;
# solve's method="auto" switches to LSODA above STIFF_SWITCH. Above _MAX_STIFFNESS the
# rates are not integrated at all: a relaxation that much faster than the
# observed span cannot be told apart from a jump, and such rates only arise
# from runaway trial steps.
_MAX_STIFFNESS = 1e7
# A data-driven start stiffer than this is slowed down (both rates scaled
# together) to this many relaxation times over the observed span.
_START_STIFFNESS = 300.0
# Smallest residual scale of a variable, relative to its magnitude.
_SCALE_FLOOR = 1e-6
# The optimisation stops once the next Gauss-Newton step is below this fraction
# of the rates' standard errors (in log rate), or below _MIN_STEP.
_STEP_IN_STANDARD_ERRORS = 1e-3
_MIN_STEP = 1e-9
#: A fit whose worst R^2 over h, y, w is below this is "poor": it is retried from
#: other time scales, and its ``quality`` says so. At 0.9 the theory's curve
#: misses a tenth of the variable's variance, a miss that is plain to see in a
#: plot of the trajectory.
POOR_R2 = 0.9
#: The ``quality`` verdicts of a fit, from best to worst.
QUALITIES = ("good", "poor", "unfit")
#: The objectives :func:`fit` minimises.
OBJECTIVES = ("scaled", "paper")
_SCALE_FACTORS = 10.0 ** np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])


@dataclass(frozen=True, eq=False, repr=False)
class FitResult:
    """Fitted effective learning rates and the goodness of fit.

    For a single trajectory (``observed`` of shape (T, 3)) the rates, ``m0``,
    ``rss``, ``rss_loss``, ``h_inf``, ``dx2`` and ``dy2`` are Python floats,
    ``n_solves`` an int, ``success`` a bool, ``quality`` and ``message`` strs,
    and ``r2`` maps each variable to a float. For a batch (shape (B, T, 3)) the
    same fields are arrays of shape (B,) (float64, int64, bool and str dtypes),
    each ``r2`` value is a float64 array (B,) and ``message`` is a tuple of B
    strings; :meth:`split` returns the per-trajectory results.

    Attributes
    ----------
    eta_h, eta_y : float or ndarray
        Fitted effective learning rates (> 0).
    eta_m : float or ndarray or None
        Fitted rate of the output mean, from the loss curve; ``None`` when no
        loss was given, NaN where ``m0 == 0`` leaves it undetermined.
    m0 : float or ndarray or None
        Mean-output error ``||y_bar - m||^2`` at the first time point, estimated
        from the first loss value; ``None`` without a loss.
    rss : float or ndarray
        The minimised objective: the weighted residual sum of squares of the
        trajectory fit, with each variable's residual divided by its scale
        (``objective="scaled"``) or plain (``objective="paper"``; see :func:`fit`).
    rss_loss : float or ndarray or None
        Unscaled residual sum of squares of the loss fit.
    r2 : dict
        :func:`repdyn.theory.r2` per variable (``"h"``, ``"y"``, ``"w"`` and ``"loss"`` when
        given), unweighted, on the data's own scale; NaN for a variable that
        is constant in the data (a variation within ``1e-6`` of its magnitude,
        the precision of the measurements and of the solver) or where the
        fitted model is not finite.
    n_solves : int or ndarray
        Number of :func:`solve` calls (each integrates the base rates and the
        finite-difference perturbations together).
    success : bool or ndarray
        Whether the optimiser converged at rates the solver could integrate.
        It says nothing about whether the theory describes the data: see ``quality``.
    quality : str or ndarray of str
        ``"good"``, ``"poor"`` or ``"unfit"``, from the R^2 of h, y, w (see
        :func:`fit_quality`).
    message : str or tuple of str
        The optimiser's message, plus the reason of any failure.
    predicted : ndarray, shape ([B,] T, 3)
        The fitted model's ``(h, y, w)`` at the observed times.
    predicted_loss : ndarray, shape ([B,] T) or None
        The fitted loss curve, when a loss was given.
    h_inf : float or ndarray
        Predicted final squared distance of the fitted model from its initial state.
    z0 : ndarray, shape ([B,] 3)
        Initial state the model started from (the projected first observation).
    t : ndarray, shape (T,)
        Observation times.
    dx2, dy2 : float or ndarray
        The squared input and target distances the fit used.
    """

    eta_h: PerFitFloat
    eta_y: PerFitFloat
    eta_m: PerFitFloat | None
    m0: PerFitFloat | None
    rss: PerFitFloat
    rss_loss: PerFitFloat | None
    r2: dict[str, float] | dict[str, FloatArray]
    n_solves: PerFitInt
    success: PerFitBool
    quality: PerFitStr
    message: str | tuple[str, ...]
    predicted: FloatArray
    predicted_loss: FloatArray | None
    h_inf: PerFitFloat
    z0: FloatArray
    t: FloatArray
    dx2: PerFitFloat
    dy2: PerFitFloat
    _items: tuple[FitResult, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.predicted.shape[-2:] != (self.t.size, 3):
            raise ValueError(
                f"predicted must have shape ([B,] {self.t.size}, 3); got {self.predicted.shape}"
            )
        expected = set(VARIABLES) | ({"loss"} if self.predicted_loss is not None else set())
        if set(self.r2) != expected:
            raise ValueError(f"r2 must have the keys {sorted(expected)}; got {sorted(self.r2)}")

    def __repr__(self) -> str:
        """One line: rates, R^2 per variable, h_inf and success; no arrays (see :meth:`to_dict`)."""
        if self.batched:
            n = len(self._items)
            eta_h = np.asarray(self.eta_h, dtype=float)
            r2_h = np.asarray(self.r2["h"], dtype=float)
            return (
                f"FitResult(batch of {n}, median eta_h={np.nanmedian(eta_h):.4g}, "
                f"median R2 h={np.nanmedian(r2_h):.3f}, success {int(np.sum(self.success))}/{n}, "
                f"T={self.t.size})"
            )
        per_variable = ", ".join(f"{k}={float(v):.3f}" for k, v in self.r2.items())
        eta_m = "" if self.eta_m is None else f", eta_m={float(self.eta_m):.4g}"
        return (
            f"FitResult(eta_h={float(self.eta_h):.4g}, eta_y={float(self.eta_y):.4g}{eta_m}, "
            f"R2({per_variable}), h_inf={float(self.h_inf):.4g}, success={bool(self.success)}, "
            f"T={self.t.size})"
        )

    @property
    def batched(self) -> bool:
        """True when the result holds a batch of fits (fields are arrays)."""
        return self.predicted.ndim == 3

    def split(self) -> list[FitResult]:
        """The per-trajectory results (a one-element list for a single fit)."""
        return list(self._items) if self.batched else [self]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (rates, goodness of fit, h_inf); NaN becomes None.

        For a batch every value is a list over the batch.
        """
        if self.batched:
            parts = [item.to_dict() for item in self._items]
            return {key: [part[key] for part in parts] for key in parts[0]}
        out: dict[str, Any] = {
            "eta_h": self.eta_h,
            "eta_y": self.eta_y,
            "eta_m": self.eta_m,
            "m0": self.m0,
            "rss": self.rss,
            "rss_loss": self.rss_loss,
            "r2": dict(self.r2),
            "h_inf": self.h_inf,
            "n_solves": self.n_solves,
            "success": self.success,
            "quality": self.quality,
            "message": self.message,
        }
        return json_ready(out)


def fit_quality(r2: Mapping[str, Any]) -> str:
    """The verdict on a fit from its R^2 values: ``"good"``, ``"poor"`` or ``"unfit"``.

    Only h, y and w count (the loss is fitted separately), and a variable with
    no R^2 (None or NaN: constant in the data) is left out.

    - ``"unfit"``: no variable has an R^2 (a constant trajectory carries no
      information on the rates, or the fitted model is not finite), or the
      worst is below 0, so the theory describes the data worse than their mean;
    - ``"poor"``: the worst R^2 lies in ``[0, POOR_R2)``;
    - ``"good"``: every R^2 is at least :data:`POOR_R2`.

    Parameters
    ----------
    r2 : mapping
        R^2 per variable, keyed ``"h"``, ``"y"``, ``"w"`` (others are ignored),
        as in :attr:`FitResult.r2`, ``FitResult.to_dict()["r2"]`` or a
        ``summary.json`` record.
    """
    if not isinstance(r2, Mapping):
        raise check.ArgumentTypeError(
            "r2", f"r2 must be a mapping of R^2 per variable (keys 'h', 'y', 'w'); got {check.describe(r2)}"
        )
    values = [r2.get(v) for v in VARIABLES]
    for name, v in zip(VARIABLES, values, strict=True):
        if v is not None:
            check.real_or_nan(f"r2[{name!r}]", v)
            if np.ndim(v) != 0:
                raise check.ArgumentValueError(f"r2[{name!r}]", f"r2[{name!r}] must be one number or None")
    finite = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    if not finite or min(finite) < 0:
        return "unfit"
    return "poor" if min(finite) < POOR_R2 else "good"


def fit(
    observed: ArrayLike,
    t: ArrayLike,
    *,
    dx2: ArrayLike,
    dy2: ArrayLike,
    loss: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    objective: str = "scaled",
    rtol: float | None = None,
    max_nfev: int = 200,
) -> FitResult:
    """Fit ``(eta_h, eta_y)`` to observed ``(h, y, w)``, and ``eta_m`` to a loss curve.

    The model starts from the observed first point, projected into the states
    the system can reach: ``h0 > 0``, ``y0 >= 0`` and
    ``|y0 - w0| <= sqrt(dy2 * y0)`` (Cauchy-Schwarz on ``dy . dyhat``). The first
    point is taken as given rather than fitted: a network's initial state is
    measured exactly, and keeping the fit to two parameters keeps it simple and
    fast. Noise in the first point therefore biases the fit, mildly in the lazy
    regime (2 % noise: rates within a few %) but badly in the rich regime,
    where the plateau length depends on the tiny initial ``y0`` and ``h0``
    (2 % noise of the spread swamps them: rates off by up to 10x). Pass a clean
    first point there (e.g. the exactly measured state at initialisation).

    The objective (``objective="scaled"``, the default) is
    ``sum_t,v weights * ((model - observed) / scale_v)**2`` with ``scale_v`` the
    standard deviation over time of observed variable ``v``, but at least 1e-6
    of its magnitude (of ``y``'s for ``w``, which is a difference of terms that
    size), and 1 for an all-zero variable. ``objective="paper"`` is the paper's
    Eq. 49, ``sum_t,v weights * (model - observed)**2``. Either is minimised over
    ``log eta_h, log eta_y`` by :func:`scipy.optimize.least_squares` from a
    data-driven start (see the module docstring).

    Scaled is the default because the three variables differ in size by orders
    of magnitude: in the rich regime ``h`` starts near 1 while ``y`` and ``w``
    start near 1e-4, so the plain sum is decided by ``h`` alone and leaves
    ``y`` and ``w`` (which carry the decoder's rate) nearly unconstrained;
    dividing by each variable's spread gives every variable the same say
    whatever its units. The paper's objective is there to reproduce its
    procedure exactly.

    If ``loss`` is given, ``m0`` is estimated as twice the first loss value
    minus the ``(y, w)`` part of the loss there (clipped at 0), and ``eta_m``
    is fitted (in log space) to the loss with the fitted trajectory held fixed.
    The mean-output term decays from the first time point, so ``m0`` refers to
    ``t[0]``.

    Parameters
    ----------
    observed : array_like, shape (T, 3) or (B, T, 3)
        Observed ``(h, y, w)``; a 3-D array is a batch of independent fits.
    t : array_like, shape (T,)
        Strictly increasing times in epochs, at least 3.
    dx2, dy2 : float or array_like of shape (B,)
        Squared input (> 0) and target (>= 0) distances, one per trajectory or shared.
    loss : array_like, shape ([B,] T), optional
        Observed training loss (convention ``1/2 mean_i ||y_i - yhat_i||^2``).
    weights : array_like, optional
        Non-negative weights broadcasting to ``observed``'s shape, for instance
        (3,) per variable or (T, 1) per time point; default all 1.
    objective : {"scaled", "paper"}
        ``"scaled"``: residuals divided by each variable's scale (see above);
        ``"paper"``: the plain unweighted sum of squares of the paper's Eq. 49.
    rtol : float, optional
        Relative tolerance of the solver during the fit. By default it is
        chosen per trajectory: ``1e-5`` times the smallest ratio of a
        variable's scale to its magnitude, clipped to ``[1e-12, 1e-8]``, so
        that the solver's error stays far below each variable's variation
        (1e-8 for typical trajectories; tighter in the lazy regime, where
        ``h`` barely moves relative to its size).
    max_nfev : int, optional
        Most objective evaluations per trajectory (each is one :func:`solve` call).

    Returns
    -------
    FitResult
        Scalars for one trajectory, arrays over the batch for a batch.

    Raises
    ------
    ValueError
        On invalid input: shapes, NaN/inf, non-positive ``dx2``, negative
        ``dy2``, fewer than 3 time points, ``h <= 0`` at the first point.
        Solver failures during the fit never raise; they are reported through
        ``success`` and ``message``.
    """
    t = check.times(t, min_points=3)
    obs = check.as_finite("observed", observed)
    if obs.ndim not in (2, 3) or obs.shape[-2:] != (t.size, 3):
        raise ValueError(
            f"observed must have shape (T, 3) or (B, T, 3) with T = len(t) = {t.size}, "
            f"columns (h, y, w); got shape {obs.shape}"
        )
    batched = obs.ndim == 3
    obs_b = obs if batched else obs[None]
    n_batch = obs_b.shape[0]
    if n_batch == 0:
        raise ValueError("observed holds a batch of 0 trajectories; give at least one")
    if np.any(obs_b[:, 0, 0] <= 0):
        i = int(np.argmin(obs_b[:, 0, 0]))
        raise ValueError(
            f"observed h at the first time point must be > 0 (the model starts there); "
            f"trajectory {i} has h={float(obs_b[i, 0, 0])!r}"
        )
    dx2_b = _per_trajectory("dx2", check.positive("dx2", dx2), n_batch, batched)
    dy2_b = _per_trajectory("dy2", check.nonnegative("dy2", dy2), n_batch, batched)
    loss_b = None
    if loss is not None:
        loss_arr = check.as_finite("loss", loss)
        if loss_arr.shape != obs.shape[:-1]:
            raise ValueError(
                f"loss must have shape {obs.shape[:-1]} (one value per observed time point); "
                f"got {loss_arr.shape}"
            )
        loss_b = loss_arr if batched else loss_arr[None]
    if weights is None:
        weights_b = np.ones_like(obs_b)
    else:
        w_arr = check.nonnegative("weights", weights)
        try:
            weights_b = np.broadcast_to(w_arr, obs.shape).reshape(obs_b.shape)
        except ValueError:
            raise ValueError(
                f"weights must broadcast to observed's shape {obs.shape}; got shape {w_arr.shape}"
            ) from None
        if not np.all(weights_b.reshape(n_batch, -1).sum(axis=1) > 0):
            raise ValueError("weights must not be all zero for a trajectory; give positive weights")
    check.choice("objective", objective, OBJECTIVES)
    if rtol is not None:
        rtol = check.real_scalar("rtol", rtol, at_least=1e-13, at_most=1e-5)
    max_nfev = check.integer("max_nfev", max_nfev, minimum=1)

    items = [
        _fit_one(
            t,
            obs_b[i],
            float(dx2_b[i]),
            float(dy2_b[i]),
            None if loss_b is None else loss_b[i],
            weights_b[i],
            objective,
            rtol,
            int(max_nfev),
        )
        for i in range(n_batch)
    ]
    return items[0] if not batched else _stack(items)


def _per_trajectory(name: str, value: FloatArray, n_batch: int, batched: bool) -> FloatArray:
    if value.ndim == 0:
        return np.full(n_batch, float(value))
    if batched and value.shape == (n_batch,):
        return value
    expected = f"a scalar or shape ({n_batch},)" if batched else "a scalar for a single trajectory"
    raise ValueError(f"{name} must be {expected}; got shape {value.shape}")


def project_initial_state(z: ArrayLike, *, dy2: float) -> FloatArray:
    """Nearest state the system can start from: ``y >= 0``, ``|y - w| <= sqrt(dy2 y)``.

    A measured first state ``(h, y, w)`` can lie just outside that set (noise,
    float32); :func:`fit` starts the theory from this projection, and so must
    anything that compares a trajectory with the theory run from its first state.

    Parameters
    ----------
    z : array_like, shape (3,)
        ``(h, y, w)``; ``h`` must already be positive (it is the model's starting distance).
    dy2 : float
        Squared target distance of the pair.

    Returns
    -------
    numpy.ndarray, shape (3,)
    """
    z = check.as_finite("z", z)
    if z.shape != (3,):
        raise check.ArgumentValueError("z", f"z must have shape (3,) holding (h, y, w); got shape {z.shape}")
    check.positive("z[0] (h, the squared representational distance)", z[0])
    dy2 = check.scalar("dy2", dy2, at_least=0)
    h, y, w = z
    y = max(y, 0.0)
    band = np.sqrt(dy2 * y)
    return np.array([h, y, float(np.clip(w, y - band, y + band))])


def initial_guess(
    t: FloatArray, observed: FloatArray, dx2: float, dy2: float
) -> tuple[float, float]:
    """Starting rates ``(eta_h, eta_y)`` from two regressions on the data.

    1. ``C = y/h - k h`` is conserved with ``k = eta_y / (eta_h dx2)``, so
       ``y_t/h_t - y_0/h_0 = k (h_t - h_0)``. Multiplying by ``h_t`` (which keeps
       noise at small ``h`` from blowing up) gives a regression through the
       origin of ``y_t - h_t y_0/h_0`` on ``h_t (h_t - h_0)``.
    2. ``h_t - h_0 = -eta_h dx2 int_0^t w``: a regression through the origin of
       ``h_t - h_0`` on ``-dx2`` times the cumulative trapezoid integral of ``w``.
    """
    z0 = project_initial_state(observed[0], dy2=dy2)
    h, y, w = observed.T
    h0, y0 = z0[0], z0[1]
    span = t[-1] - t[0]
    h_end = max(abs(h[-1]), np.finfo(float).tiny)

    x = h * (h - h0)
    k = _slope(x, y - h * y0 / h0)
    if not k > 0:
        # Degenerate (h hardly moves, or noise gives the wrong sign): assume the
        # trajectory ends near its fixed point, where y = dy2, so that
        # k h_end^2 + C h_end = dy2 with C = y0/h0 - k h0.
        k = (dy2 - h_end * y0 / h0) / (h_end * (h_end - h0)) if h_end != h0 else np.nan
    if not (np.isfinite(k) and k > 0):
        # Last resort: the rich limit h_inf = A_low = sqrt(dy2 / k) at h_end,
        # or (identical targets) the observed ratio y / h^2.
        k = max(dy2, float(np.max(np.abs(y)))) / h_end**2
    if not (np.isfinite(k) and k > 0):
        k = 1.0 / max(float(np.max(np.abs(h))), np.finfo(float).tiny)

    from scipy.integrate import cumulative_trapezoid
    integral = cumulative_trapezoid(w, t, initial=0.0)
    eta_h = _slope(-dx2 * integral, h - h0)
    if not (np.isfinite(eta_h) and eta_h > 0):
        # w gives no usable signal (already converged, or the wrong sign): pick
        # the rate at which h would move by its own size over a fifth of the
        # observed time at the observed |w|.
        # A trajectory that does not move at all carries no rate information;
        # any finite start will do there (scale 1).
        w_scale = max(float(np.max(np.abs(w))), float(np.max(np.abs(y))), dy2) or 1.0
        eta_h = 5.0 * max(float(np.mean(np.abs(h))), h0) / (dx2 * w_scale * span)
    eta_y = k * eta_h * dx2
    return float(eta_h), float(eta_y)


def _slope(x: FloatArray, y: FloatArray) -> float:
    """Least-squares slope of ``y`` on ``x`` through the origin (NaN if ``x`` is 0)."""
    den = float(x @ x)
    return float(x @ y) / den if den > 0 else np.nan


def _exp(theta: FloatArray) -> FloatArray:
    """Rates from log rates; overflow to inf is caught downstream as not integrable."""
    with np.errstate(over="ignore"):
        return np.exp(theta)


class _TrajectoryProblem:
    """Residuals and their Jacobian in log rates, both from one batched solve."""

    def __init__(
        self,
        t: FloatArray,
        observed: FloatArray,
        z0: FloatArray,
        dx2: float,
        dy2: float,
        weights: FloatArray,
        rtol: float,
        *,
        objective: str = "scaled",
    ) -> None:
        self.t, self.observed, self.z0 = t, observed, z0
        self.dx2, self.dy2, self.rtol = dx2, dy2, rtol
        scale = variable_scale(observed) if objective == "scaled" else 1.0
        self.factor = np.sqrt(weights) / scale
        self.n_solves = 0
        self.failure = ""
        self._key: bytes | None = None
        self._res = np.empty(0)
        self._jac = np.empty((0, 2))
        self._traj = np.empty(0)

    def stiffness(self, rates: FloatArray) -> FloatArray:
        """Fastest relaxation rate times the time span, per rate pair (rows of ``rates``)."""
        # Rates that under- or overflowed far out in log space count as not integrable.
        valid = np.all((rates > 0) & np.isfinite(rates), axis=1)
        safe = np.where(valid[:, None], rates, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            fastest = relaxation_rate(
                self.z0, eta_h=safe[:, 0], eta_y=safe[:, 1], dx2=self.dx2, dy2=self.dy2
            )
        ok = valid & np.isfinite(fastest)
        return np.where(ok, fastest * (self.t[-1] - self.t[0]), np.inf)

    def scaled_residuals(self, rates: FloatArray) -> tuple[FloatArray, FloatArray, str]:
        """Trajectories (J, T, 3) and scaled residuals (J, T*3) of J rate pairs, in one
        :func:`solve` call; both empty, with the reason, if they cannot be integrated."""
        empty = np.empty((0, self.observed.size))
        stiffness = float(np.max(self.stiffness(rates)))
        if not stiffness <= _MAX_STIFFNESS:
            return empty, empty, "rates too stiff to integrate over the observed time"
        try:
            z = solve(
                np.broadcast_to(self.z0, (len(rates), 3)),
                self.t,
                eta_h=rates[:, 0],
                eta_y=rates[:, 1],
                dx2=self.dx2,
                dy2=self.dy2,
                rtol=self.rtol,
            )
        except SolverError as exc:
            return empty, empty, str(exc)
        finally:
            self.n_solves += 1
        r = ((z - self.observed) * self.factor).reshape(len(rates), -1)
        if not np.all(np.isfinite(r)):
            return empty, empty, "the solver returned non-finite values"
        return z, r, ""

    def costs(self, thetas: FloatArray) -> FloatArray:
        """Sum of squared residuals per row of log rates, in one solve (inf: not integrable)."""
        out = np.full(len(thetas), np.inf)
        ok = self.stiffness(_exp(thetas)) <= _MAX_STIFFNESS
        if np.any(ok):
            _, r, _ = self.scaled_residuals(_exp(thetas[ok]))
            if r.size:
                out[ok] = np.sum(r**2, axis=1)
        return out

    def _evaluate(self, theta: FloatArray) -> None:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key == self._key:
            return
        self._key = key
        steps = np.vstack([np.zeros(2), _FD_STEP * np.eye(2)])
        z, r, self.failure = self.scaled_residuals(_exp(theta[None, :] + steps))
        if self.failure:
            self._traj = np.full_like(self.observed, np.nan)
            self._res = np.full(self.observed.size, _PENALTY)
            self._jac = np.zeros((self.observed.size, 2))
        else:
            self._res = r[0]
            self._jac = ((r[1:] - r[0]) / _FD_STEP).T
            self._traj = z[0]

    def residuals(self, theta: FloatArray) -> FloatArray:
        self._evaluate(theta)
        return self._res

    def jacobian(self, theta: FloatArray) -> FloatArray:
        self._evaluate(theta)
        return self._jac

    def trajectory(self, theta: FloatArray) -> FloatArray:
        self._evaluate(theta)
        return self._traj


def _magnitudes(observed: FloatArray) -> FloatArray:
    """Largest magnitude of each variable, the unit its precision is relative to.

    ``w = y - dy . dyhat`` is a difference of terms of the size of ``y``, so it
    is known (measured or integrated) only relative to ``y``'s magnitude.
    """
    magnitude = np.max(np.abs(observed), axis=0)
    magnitude[2] = max(magnitude[2], magnitude[1])
    return magnitude


def variable_scale(observed: FloatArray) -> FloatArray:
    """Per-variable scale of an observed (T, 3) trajectory, used to weigh residuals.

    The standard deviation over time, but at least ``1e-6`` of the variable's
    magnitude (for ``w``, of ``y``'s if larger): a variation smaller than that
    is below the precision of float32 measurements and of the solver, and would
    only weigh noise up. An all-zero variable gets scale 1.
    """
    scale = np.maximum(np.std(observed, axis=0), _SCALE_FLOOR * _magnitudes(observed))
    return np.where(scale > 0, scale, 1.0)


def automatic_rtol(observed: FloatArray) -> float:
    """Solver tolerance that keeps the integration error far below every variable's scale.

    The solver's error is roughly ``10 * rtol`` times a variable's magnitude;
    ``1e-5`` times the smallest scale-to-magnitude ratio keeps it near
    ``1e-4`` of the residual scale, well below any noise in the data. Tighter
    than 1e-8 only pays for variables that barely move.
    """
    magnitude = _magnitudes(observed)
    ratio = variable_scale(observed) / np.where(magnitude > 0, magnitude, np.inf)
    return float(np.clip(1e-5 * np.min(ratio), 1e-12, 1e-8))


def trajectory_r2(observed: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """R^2 of a predicted trajectory of ``(h, y, w)`` per variable, as :func:`fit` scores its own.

    Any prediction (a fitted theory, the zero-fit theory of measured rates, a
    baseline) is scored by the same rule, so their R^2 compare: each variable
    on its linear scale over all rows, a variable that varies by less than its
    precision (1e-6 of its magnitude; ``w``'s magnitude is at least ``y``'s)
    counting as constant (NaN, see :func:`r2`).

    Parameters
    ----------
    observed : array_like, shape (T, 3)
        Measured ``h``, ``y``, ``w``, finite.
    predicted : array_like, shape (T, 3)
        The prediction at the same rows; NaN anywhere gives NaN R^2.

    Returns
    -------
    dict
        ``{"h": R^2, "y": R^2, "w": R^2}``.
    """
    observed = check.as_finite("observed", observed)
    if observed.ndim != 2 or observed.shape[1] != 3:
        raise check.ArgumentValueError(
            "observed", f"observed must have shape (T, 3) (h, y, w per row); got {observed.shape}")
    predicted = np.asarray(predicted, dtype=np.float64)
    magnitude = _magnitudes(observed)
    return {
        v: float(r2(observed[:, i], predicted[:, i], atol=_SCALE_FLOOR * magnitude[i]))
        for i, v in enumerate(VARIABLES)
    }


def _fit_one(
    t: FloatArray,
    observed: FloatArray,
    dx2: float,
    dy2: float,
    loss: FloatArray | None,
    weights: FloatArray,
    objective: str,
    rtol: float | None,
    max_nfev: int,
) -> FitResult:
    z0 = project_initial_state(observed[0], dy2=dy2)
    if rtol is None:
        rtol = automatic_rtol(observed)
    problem = _TrajectoryProblem(t, observed, z0, dx2, dy2, weights, rtol, objective=objective)
    guess = np.array(initial_guess(t, observed, dx2, dy2))
    if not np.all(np.isfinite(guess) & (guess > 0)):
        raise check.ArgumentValueError(
            "observed, dx2, dy2",
            "observed, dx2, dy2: the rates these data imply are beyond float64's range (eta_h enters only "
            f"as eta_h * dx2, here dx2 = {dx2:.3g}; eta_y through dy2 = {dy2:.3g}); rescale the "
            "distances or check dx2 and dy2",
        )
    theta0 = np.log(guess)
    stiffness = float(problem.stiffness(_exp(theta0[None, :]))[0])
    if not stiffness <= _START_STIFFNESS:
        # Scaling both rates only rescales time, and the stiffness with it.
        theta0 = theta0 - np.log(stiffness / _START_STIFFNESS)
    theta, success, message = _optimise(problem, theta0, max_nfev)
    if not success or _min_r2(observed, problem.trajectory(theta)) < POOR_R2:
        theta, success, message = _retry_time_scale(
            problem, theta0, (theta, success, message), max_nfev
        )

    eta_h, eta_y = (float(v) for v in _exp(theta))
    check.computable("observed, dx2, dy2 (the fitted eta_h, eta_y)", eta_h, eta_y)
    predicted = problem.trajectory(theta)
    rss = float(np.sum(problem.residuals(theta) ** 2))
    r2_values = trajectory_r2(observed, predicted)
    h_inf = float(final_distance(z0[0], z0[1], eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2).h_inf)

    eta_m = m0 = rss_loss = predicted_loss = None
    if loss is not None:
        if np.all(np.isfinite(predicted)):
            eta_m, m0, note = _fit_eta_m(t - t[0], loss, predicted, dy2)
            predicted_loss = loss_curve(
                predicted, t - t[0], eta_m=0.0 if np.isnan(eta_m) else eta_m, dy2=dy2, m0=m0
            )
            rss_loss = float(np.sum((predicted_loss - loss) ** 2))
            message += note
        else:
            eta_m = m0 = rss_loss = float("nan")
            predicted_loss = np.full_like(loss, np.nan)
        r2_values["loss"] = float(
            r2(loss, predicted_loss, atol=_SCALE_FLOOR * float(np.max(np.abs(loss))))
        )

    return FitResult(
        eta_h=eta_h,
        eta_y=eta_y,
        eta_m=eta_m,
        m0=m0,
        rss=rss,
        rss_loss=rss_loss,
        r2=r2_values,
        n_solves=problem.n_solves,
        success=success,
        quality=fit_quality(r2_values),
        message=message,
        predicted=predicted,
        predicted_loss=predicted_loss,
        h_inf=h_inf,
        z0=z0,
        t=t,
        dx2=dx2,
        dy2=dy2,
    )


_Outcome = tuple[FloatArray, bool, str]


def _optimise(problem: _TrajectoryProblem, theta0: FloatArray, max_nfev: int) -> _Outcome:
    """Least squares in log rates from ``theta0``: (log rates, success, message)."""
    problem.residuals(theta0)
    if problem.failure:
        return theta0, False, f"the solver failed at the starting rates: {problem.failure}"
    from scipy.optimize import least_squares
    opt = least_squares(
        problem.residuals,
        theta0,
        jac=problem.jacobian,
        max_nfev=max_nfev,
        callback=lambda x: _stop_if(_step_within_noise(problem, x)),
    )
    problem.residuals(opt.x)
    if opt.status == -2:  # stopped by _step_within_noise
        success, message = (
            True,
            "converged: the remaining Gauss-Newton step is below 0.1 % of the standard error",
        )
    else:
        success, message = bool(opt.status > 0), str(opt.message)
    if problem.failure:
        success, message = False, f"{message}; {problem.failure}"
    return opt.x, success, message


def _stop_if(condition: bool) -> None:
    """least_squares stops (status -2) when its callback raises StopIteration."""
    if condition:
        raise StopIteration


def _step_within_noise(problem: _TrajectoryProblem, theta: FloatArray) -> bool:
    """True when the next Gauss-Newton step would move the log rates by less than
    ``_STEP_IN_STANDARD_ERRORS`` of their standard errors.

    least_squares would otherwise integrate one more trial point only to find
    the change negligible; the residuals and Jacobian at ``theta`` are already
    known (cached), so this test costs no solve. Exact data have standard errors
    near 0, and the test then reduces to a step below ``_MIN_STEP``.
    """
    jac, res = problem.jacobian(theta), problem.residuals(theta)
    if problem.failure or res.size <= theta.size:
        return False
    step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
    variance = float(res @ res) / (res.size - theta.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        std_err = np.sqrt(variance * np.diag(np.linalg.pinv(jac.T @ jac)))
    return bool(np.all(np.abs(step) <= np.maximum(_STEP_IN_STANDARD_ERRORS * std_err, _MIN_STEP)))


def _retry_time_scale(
    problem: _TrajectoryProblem, theta0: FloatArray, first: _Outcome, max_nfev: int
) -> _Outcome:
    """Restart a poor fit from the best of a few time scales at the start's rate ratio.

    The ratio ``eta_y / eta_h`` from the conserved quantity uses only relations
    between the variables and is robust; the overall time scale from the
    integral of ``w`` is not when a fast transient falls between two samples.
    Scaling both rates together only rescales time, so trying a few scales (in
    one batched solve) repairs exactly that part of the start.
    """
    first_cost = float(np.sum(problem.residuals(first[0]) ** 2))
    candidates = theta0[None, :] + np.log(_SCALE_FACTORS)[:, None]
    costs = problem.costs(candidates)
    best = int(np.argmin(costs))
    if not np.isfinite(costs[best]):
        return first
    theta, success, message = _optimise(problem, candidates[best], max_nfev)
    if not float(np.sum(problem.residuals(theta) ** 2)) < first_cost:
        return first
    return (
        theta,
        success,
        message + f"; restarted at {_SCALE_FACTORS[best]:g} x the data's time scale",
    )


def _min_r2(observed: FloatArray, predicted: FloatArray) -> float:
    values = list(trajectory_r2(observed, predicted).values())
    finite = [v for v in values if np.isfinite(v)]
    return min(finite) if finite else (1.0 if np.all(np.isfinite(predicted)) else -np.inf)


def _fit_eta_m(
    tau: FloatArray, loss: FloatArray, z: FloatArray, dy2: float
) -> tuple[float, float, str]:
    """Fit ``eta_m`` with the trajectory fixed; returns ``(eta_m, m0, note)``."""
    base = 0.25 * z[:, 2] + 0.125 * (dy2 - z[:, 1])
    m0 = max(2.0 * float(loss[0] - base[0]), 0.0)
    if m0 == 0:
        return float("nan"), 0.0, "; m0 = 0 (no mean-output error), so eta_m is undetermined"
    excess = loss - base
    # Start from the 1/e time of the excess loss, which decays as exp(-2 eta_m t).
    below = np.flatnonzero(excess <= excess[0] / np.e)
    tau_e = tau[below[0]] if below.size else tau[-1]
    scale = float(np.std(loss)) or max(float(np.max(np.abs(loss))), 1.0)

    def residuals(theta: FloatArray) -> FloatArray:
        return (0.5 * m0 * np.exp(-2.0 * _exp(theta[0]) * tau) - excess) / scale

    def jacobian(theta: FloatArray) -> FloatArray:
        eta_m = _exp(theta[0])
        return (-m0 * eta_m * tau * np.exp(-2.0 * eta_m * tau) / scale)[:, None]

    from scipy.optimize import least_squares
    opt = least_squares(residuals, [np.log(0.5 / tau_e)], jac=jacobian)
    return float(np.exp(opt.x[0])), m0, ""


def _stack(items: list[FitResult]) -> FitResult:
    """Combine per-trajectory results into one batched result with array fields."""

    def arr(name: str) -> Any:
        values = [getattr(item, name) for item in items]
        return None if values[0] is None else np.array(values)

    first = items[0]
    return replace(
        first,
        eta_h=arr("eta_h"),
        eta_y=arr("eta_y"),
        eta_m=arr("eta_m"),
        m0=arr("m0"),
        rss=arr("rss"),
        rss_loss=arr("rss_loss"),
        r2={key: np.array([item.r2[key] for item in items]) for key in first.r2},
        n_solves=arr("n_solves"),
        success=arr("success"),
        quality=arr("quality"),
        message=tuple(item.message for item in items),
        predicted=np.stack([item.predicted for item in items]),
        predicted_loss=arr("predicted_loss"),
        h_inf=arr("h_inf"),
        z0=np.stack([item.z0 for item in items]),
        dx2=arr("dx2"),
        dy2=arr("dy2"),
        _items=tuple(items),
    )
