"""An sklearn-style estimator around :func:`repdyn.theory.fit`."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._fit import OBJECTIVES, FitResult, fit
from repdyn.theory._loss import loss_curve
from repdyn.theory._system import solve

FloatArray = NDArray[np.float64]


class RateEstimator:
    """Fit the effective learning rates of the theory, in the scikit-learn style.

    ``fit`` returns the estimator itself; fitted attributes end in ``_``.
    scikit-learn is not required (the class only follows its conventions, so it
    also works with tools that expect ``get_params``/``set_params``).

    Parameters
    ----------
    dx2, dy2 : float or array_like of shape (B,)
        Squared input (> 0) and target (>= 0) distances of the tracked pair(s).
    rtol : float, optional
        Relative tolerance of the solver, during the fit and in :meth:`predict`;
        ``None`` picks it automatically in the fit (see :func:`fit`) and uses
        :func:`solve`'s default in :meth:`predict`.
    max_nfev : int, optional
        Most objective evaluations per trajectory.
    objective : {"scaled", "paper"}
        What the fit minimises (see :func:`fit`; scaled by default).

    Attributes
    ----------
    eta_h_, eta_y_ : float or ndarray
        Fitted rates (arrays of shape (B,) for a batch).
    eta_m_ : float or ndarray or None
        Fitted output-mean rate, ``None`` when no loss was given.
    r2_ : dict
        R^2 per variable.
    quality_ : str or ndarray of str
        ``"good"``, ``"poor"`` or ``"unfit"`` (see :func:`repdyn.theory.fit_quality`).
    result_ : FitResult
        The full result of :func:`repdyn.theory.fit`.

    Examples
    --------
    >>> est = RateEstimator(dx2=1.0, dy2=0.5).fit(t, observed)  # doctest: +SKIP
    >>> est.eta_h_, est.predict(t_new)                          # doctest: +SKIP
    """

    def __init__(
        self, *, dx2: ArrayLike, dy2: ArrayLike, rtol: float | None = None, max_nfev: int = 200,
        objective: str = "scaled",
    ) -> None:
        check.positive("dx2", dx2)
        check.nonnegative("dy2", dy2)
        if rtol is not None and not 0 < rtol < 1:
            raise ValueError(f"rtol must lie in (0, 1) or be None (automatic); got {rtol!r}")
        if not (isinstance(max_nfev, int | np.integer) and max_nfev >= 1):
            raise ValueError(f"max_nfev must be a positive integer; got {max_nfev!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
        self.dx2 = dx2
        self.dy2 = dy2
        self.rtol = rtol
        self.max_nfev = max_nfev
        self.objective = objective

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as scikit-learn expects."""
        return {"dx2": self.dx2, "dy2": self.dy2, "rtol": self.rtol, "max_nfev": self.max_nfev,
                "objective": self.objective}

    def set_params(self, **params: Any) -> RateEstimator:
        """Set constructor parameters (validated as in the constructor); returns self."""
        unknown = set(params) - set(self.get_params())
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)}; valid: {sorted(self.get_params())}"
            )
        self.__init__(**{**self.get_params(), **params})  # type: ignore[misc]
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"RateEstimator({args})"

    def fit(
        self,
        t: ArrayLike,
        observed: ArrayLike,
        loss: ArrayLike | None = None,
        *,
        weights: ArrayLike | None = None,
    ) -> RateEstimator:
        """Fit the rates to ``observed`` (shape (T, 3) or (B, T, 3)); see :func:`fit`."""
        result = fit(
            t,
            observed,
            self.dx2,
            self.dy2,
            loss=loss,
            weights=weights,
            objective=self.objective,
            rtol=self.rtol,
            max_nfev=self.max_nfev,
        )
        self.result_ = result
        self.eta_h_ = result.eta_h
        self.eta_y_ = result.eta_y
        self.eta_m_ = result.eta_m
        self.r2_ = result.r2
        self.quality_ = result.quality
        return self

    def _fitted(self) -> FitResult:
        if not hasattr(self, "result_"):
            raise ValueError("this RateEstimator is not fitted yet; call fit(t, observed) first")
        return self.result_

    def _times(self, t: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``t`` checked against the fit's start, and the grid to integrate on (``t``,
        with the start prepended when ``t`` begins later)."""
        result = self._fitted()
        t = check.times(t, min_points=1)
        t0 = float(result.t[0])
        if t[0] < t0:
            raise ValueError(
                f"t must start at or after the first fitted time point {t0:g} (the model's "
                f"initial state); got t[0] = {t[0]:g}"
            )
        grid = t if t[0] == t0 else np.concatenate([[t0], t])
        if grid.size < 2:  # solve needs two points; the extra one is dropped again
            grid = np.array([t0, t0 + 1.0])
        return t, grid

    def predict(self, t: ArrayLike) -> FloatArray:
        """The fitted model's ``(h, y, w)`` at times ``t`` (all >= the first fitted time).

        Returns
        -------
        ndarray, shape ([B,] len(t), 3)
        """
        result = self._fitted()
        t, grid = self._times(t)
        rates = (result.eta_h, result.eta_y, result.dx2, result.dy2)
        options = {} if self.rtol is None else {"rtol": self.rtol}
        z = solve(result.z0, grid, *rates, **options)
        return z[..., : t.size, :] if grid[0] == t[0] else z[..., 1 : t.size + 1, :]

    def predict_loss(self, t: ArrayLike) -> FloatArray:
        """The fitted loss curve at times ``t`` (needs a fit with ``loss``).

        Returns
        -------
        ndarray, shape ([B,] len(t))
        """
        result = self._fitted()
        if result.eta_m is None:
            raise ValueError("the estimator was fitted without a loss; pass loss= to fit first")
        t = check.times(t, min_points=1)
        eta_m = np.nan_to_num(np.asarray(result.eta_m, dtype=np.float64), nan=0.0)
        return loss_curve(self.predict(t), t - result.t[0], result.dy2, eta_m, result.m0)

    def score(self, t: ArrayLike, observed: ArrayLike) -> float:
        """Mean R^2 over ``h``, ``y``, ``w`` (and the batch) of :meth:`predict` against ``observed``."""
        predicted = self.predict(t)
        obs = check.as_finite("observed", observed)
        if obs.shape != predicted.shape:
            raise ValueError(
                f"observed must have shape {predicted.shape} to match t; got {obs.shape}"
            )
        dev = obs - obs.mean(axis=-2, keepdims=True)
        ss_res = np.sum((obs - predicted) ** 2, axis=-2)
        ss_tot = np.sum(dev**2, axis=-2)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)
        return float(np.nanmean(r2)) if np.any(np.isfinite(r2)) else float("nan")
