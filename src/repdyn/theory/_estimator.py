"""An estimator around :func:`repdyn.theory.fit` that follows scikit-learn's contract."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._fit import FitResult, fit
from repdyn.theory._loss import loss_curve
from repdyn.theory._r2 import r2
from repdyn.theory._system import solve

FloatArray = NDArray[np.float64]


class RateEstimator:
    """Fit the effective learning rates of the theory, in the scikit-learn style.

    The contract is scikit-learn's: the constructor only stores its
    (keyword-only) hyperparameters, :meth:`fit` validates them together with
    the data and returns the estimator itself, :meth:`get_params` and
    :meth:`set_params` read the parameter names from the constructor's
    signature, and fitted attributes end in ``_``. Constants of the data, the
    squared input and target distances ``dx2`` and ``dy2``, are arguments of
    :meth:`fit`, not hyperparameters, so one estimator fits any pair.
    scikit-learn itself is not required (so that ``sklearn.base.clone`` and
    the like work, the class only follows its conventions).

    The argument order is that of the rest of :mod:`repdyn.theory`, not
    scikit-learn's ``(X, y)``: the observed trajectory first, then its times
    (``fit(observed, t, ...)``, ``score(observed, t)``); :meth:`predict`
    takes the times alone.

    Parameters
    ----------
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
        The full result of :func:`repdyn.theory.fit`, which also holds the
        ``dx2`` and ``dy2`` the fit used.

    Examples
    --------
    >>> est = RateEstimator().fit(observed, t, dx2=1.0, dy2=0.5)  # doctest: +SKIP
    >>> est.eta_h_, est.predict(t_new)                            # doctest: +SKIP
    """

    def __init__(
        self, *, rtol: float | None = None, max_nfev: int = 200, objective: str = "scaled"
    ) -> None:
        self.rtol = rtol
        self.max_nfev = max_nfev
        self.objective = objective

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (scikit-learn's order)."""
        signature = inspect.signature(cls.__init__)
        return sorted(
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters and their values, as scikit-learn expects.

        ``deep`` is accepted for compatibility; no parameter is an estimator.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> RateEstimator:
        """Set constructor parameters (checked, like all of them, by :meth:`fit`); returns self."""
        valid = self._get_param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} of RateEstimator; valid: {valid}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"RateEstimator({args})"

    def fit(
        self,
        observed: ArrayLike,
        t: ArrayLike,
        *,
        dx2: ArrayLike,
        dy2: ArrayLike,
        loss: ArrayLike | None = None,
        weights: ArrayLike | None = None,
    ) -> RateEstimator:
        """Fit the rates to ``observed`` (shape (T, 3) or (B, T, 3)); see :func:`fit`.

        ``dx2`` and ``dy2`` (scalars or one per trajectory) are the data's
        squared input and target distances; ``fit(**run.theory_inputs())``
        passes them with the data. The hyperparameters are checked here, with
        the data, by :func:`fit`. Returns the estimator itself.
        """
        result = fit(
            observed,
            t,
            dx2=dx2,
            dy2=dy2,
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
            raise ValueError(
                "this RateEstimator is not fitted yet; "
                "call fit(observed, t, dx2=..., dy2=...) first"
            )
        return self.result_

    def _times(self, t: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``t`` checked against the fit's start, and the grid to integrate on (``t``,
        with the start prepended when ``t`` begins later)."""
        result = self._fitted()
        t = check.times(t, min_points=1)
        t0 = float(result.t[0])
        if t[0] < t0:
            raise check.ArgumentValueError(
                "t", f"t must start at or after the first fitted time point {t0:g} (the model's "
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
        options = {} if self.rtol is None else {"rtol": self.rtol}
        z = solve(
            result.z0,
            grid,
            eta_h=result.eta_h,
            eta_y=result.eta_y,
            dx2=result.dx2,
            dy2=result.dy2,
            **options,
        )
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
        return loss_curve(
            self.predict(t), t - result.t[0], eta_m=eta_m, dy2=result.dy2, m0=result.m0
        )

    def score(self, observed: ArrayLike, t: ArrayLike) -> float:
        """Mean :func:`repdyn.theory.r2` over ``h``, ``y``, ``w`` (and the batch) of
        :meth:`predict` at ``t`` against ``observed``.

        A variable that is exactly constant in ``observed`` has no R^2 and is
        left out of the mean; NaN if no variable has one.
        """
        predicted = self.predict(t)
        obs = check.as_finite("observed", observed)
        if obs.shape != predicted.shape:
            raise check.ArgumentValueError(
                "observed", f"observed must have shape {predicted.shape} to match t; got {obs.shape}"
            )
        values = r2(obs, predicted, axis=-2)
        return float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")
