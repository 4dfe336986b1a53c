"""The fuzzer of the public theory API: valid calls, arguments swapped for bad ones, and the rule.

The rule (issue 21): every public function of ``repdyn.theory`` either returns
a finite result (trajectories inside the reachable set) or raises a ValueError
or TypeError whose message names the argument; never another exception. Shared
by ``tests/test_theory_fuzz.py`` and ``benchmarks/bench_robustness.py`` (which
reports the counts).
"""

from __future__ import annotations

import re

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import repdyn.theory as theory

# Values a user might pass where a number or an array belongs, by class.
BAD_VALUES: dict[str, Any] = {
    "zero": 0.0,
    "negative": -1.5,
    "huge": 1e300,
    "tiny": 1e-300,
    "subnormal": 5e-324,
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "True": True,
    "False": False,
    "numeric string": "1",
    "word": "abc",
    "None": None,
    "empty list": [],
    "matrix": np.full((2, 2), 0.5),
    "long vector": np.full(7, 0.5),
    "complex": 1 + 1j,
    "bool array": np.array([True, False, True]),
    "object": object(),
    "huge integer": 10**400,
}


def _trajectory_ok(z: Any, dy2: Any) -> bool:
    z = np.asarray(z)
    return bool(np.all(np.isfinite(z)) and np.all(theory.reachable(z, dy2=np.asarray(dy2)[..., None])))


def _finite(value: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))


def _fit_ok(result: theory.FitResult) -> bool:
    rates = np.asarray([result.eta_h, result.eta_y], dtype=float)
    if not (np.all(np.isfinite(rates)) and np.all(rates > 0)):
        return False
    return bool(np.all(result.quality == "unfit") or _trajectory_ok(result.predicted, result.dy2))


_T = np.linspace(0.0, 200.0, 21)
_Z0 = np.array([0.3, 0.2, 0.1])
_OBSERVED = theory.solve(_Z0, _T, eta_h=0.01, eta_y=0.02, dx2=1.0, dy2=0.5)
_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(5, 2))
_Y = _RNG.normal(size=(5, 1))
_H0 = 0.1 * _RNG.normal(size=(5, 3))
_YHAT0 = 0.1 * _RNG.normal(size=(5, 1))
_D = theory.squared_distances(_X)


@dataclass(frozen=True)
class Target:
    """A public function, a valid call of it, and what a valid result is."""

    name: str
    call: Callable[..., Any]
    valid: dict[str, Any]
    result_ok: Callable[[Any, dict[str, Any]], bool]


_ESTIMATOR = theory.RateEstimator().fit(_OBSERVED, _T, dx2=1.0, dy2=0.5)


TARGETS = [
    Target("solve", lambda z0, t, eta_h, eta_y, dx2, dy2, rtol: theory.solve(
        z0, t, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2, rtol=rtol),
        {"z0": _Z0, "t": _T, "eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0, "dy2": 0.5, "rtol": 1e-10},
        lambda out, a: _trajectory_ok(out, a["dy2"])),
    Target("rhs", lambda z, eta_h, eta_y, dx2, dy2: theory.rhs(z, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2),
           {"z": _Z0, "eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0, "dy2": 0.5}, lambda out, a: _finite(out)),
    Target("jacobian", lambda z, eta_h, eta_y, dx2, dy2: theory.jacobian(
        z, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2),
        {"z": _Z0, "eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0, "dy2": 0.5}, lambda out, a: _finite(out)),
    Target("reachable", lambda z, dy2, rtol: theory.reachable(z, dy2=dy2, rtol=rtol),
           {"z": _Z0, "dy2": 0.5, "rtol": 1e-12}, lambda out, a: np.asarray(out).dtype == bool),
    Target("conserved", lambda h, y, eta_h, eta_y, dx2: theory.conserved(h, y, eta_h=eta_h, eta_y=eta_y, dx2=dx2),
           {"h": 0.3, "y": 0.2, "eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0}, lambda out, a: _finite(out)),
    Target("final_distance", lambda h0, y0, eta_h, eta_y, dx2, dy2, margin: theory.final_distance(
        h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2, margin=margin),
        {"h0": 0.3, "y0": 0.2, "eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0, "dy2": 0.5, "margin": 10.0},
        lambda out, a: _finite([out.h_inf, out.a_low, out.a_high]) and bool(np.all(out.h_inf >= 0))),
    Target("exact_identical_targets", lambda h0, y0, t, eta_h, eta_y, dx2: theory.exact_identical_targets(
        h0, y0, t, eta_h=eta_h, eta_y=eta_y, dx2=dx2),
        {"h0": 0.3, "y0": 0.2, "t": _T, "eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0},
        lambda out, a: _trajectory_ok(out, 0.0)),
    Target("loss_curve", lambda z, t, eta_m, dy2, m0: theory.loss_curve(z, t, eta_m=eta_m, dy2=dy2, m0=m0),
           {"z": _OBSERVED, "t": _T, "eta_m": 0.01, "dy2": 0.5, "m0": 0.1}, lambda out, a: _finite(out)),
    Target("r2", lambda observed, predicted, axis, atol: theory.r2(observed, predicted, axis=axis, atol=atol),
           {"observed": _OBSERVED, "predicted": _OBSERVED * 1.01, "axis": 0, "atol": 0.0},
           # NaN is r2's documented answer for a constant series.
           lambda out, a: not np.any(np.isinf(np.asarray(out, dtype=float)))),
    Target("fit", lambda observed, t, dx2, dy2, rtol, max_nfev: theory.fit(
        observed, t, dx2=dx2, dy2=dy2, rtol=rtol, max_nfev=max_nfev),
        {"observed": _OBSERVED, "t": _T, "dx2": 1.0, "dy2": 0.5, "rtol": None, "max_nfev": 50},
        lambda out, a: _fit_ok(out)),
    Target("RateEstimator.fit", lambda observed, t, dx2, dy2: theory.RateEstimator().fit(
        observed, t, dx2=dx2, dy2=dy2).result_,
        {"observed": _OBSERVED, "t": _T, "dx2": 1.0, "dy2": 0.5}, lambda out, a: _fit_ok(out)),
    Target("RateEstimator.predict", lambda t: _ESTIMATOR.predict(t), {"t": _T},
           lambda out, a: _trajectory_ok(out, 0.5)),
    Target("RateEstimator.score", lambda observed, t: _ESTIMATOR.score(observed, t),
           {"observed": _OBSERVED, "t": _T}, lambda out, a: not np.isinf(out)),
    Target("project_initial_state", lambda z, dy2: theory.project_initial_state(z, dy2=dy2),
           {"z": _Z0, "dy2": 0.5}, lambda out, a: _trajectory_ok(out, a["dy2"])),
    Target("fit_quality", lambda r2: theory.fit_quality(r2), {"r2": {"h": 0.95, "y": 0.99, "w": 0.97}},
           lambda out, a: out in theory.QUALITIES),
    Target("squared_distances", lambda points, chunk_size: theory.squared_distances(points, chunk_size=chunk_size),
           {"points": _X, "chunk_size": 1024}, lambda out, a: _finite(out)),
    Target("rich_limit_distances", lambda X, Y, eta_h, eta_y: theory.rich_limit_distances(
        X, Y, eta_h=eta_h, eta_y=eta_y), {"X": _X, "Y": _Y, "eta_h": 0.01, "eta_y": 0.02},
        lambda out, a: _finite(out)),
    Target("pairwise_final_distances", lambda X, Y, H0, Yhat0, eta_h, eta_y: theory.pairwise_final_distances(
        X, Y, H0, Yhat0, eta_h=eta_h, eta_y=eta_y),
        {"X": _X, "Y": _Y, "H0": _H0, "Yhat0": _YHAT0, "eta_h": 0.01, "eta_y": 0.02},
        lambda out, a: _finite(out)),
    Target("npoint_distances", lambda X, Y, eta_h, eta_y, length_scale: theory.npoint_distances(
        X, Y, eta_h=eta_h, eta_y=eta_y, length_scale=length_scale),
        {"X": _X, "Y": _Y, "eta_h": 0.01, "eta_y": 0.02, "length_scale": 1.0}, lambda out, a: _finite(out)),
    Target("encoder_kernel", lambda X, length_scale: theory.encoder_kernel(X, length_scale=length_scale),
           {"X": _X, "length_scale": 1.0}, lambda out, a: _finite(out)),
    Target("triangle_violations", lambda D, atol, sample, seed: theory.triangle_violations(
        D, atol=atol, sample=sample, seed=seed), {"D": _D, "atol": 1e-9, "sample": 50, "seed": 0},
        lambda out, a: out.violations >= 0),
    Target("weighed_distances", lambda P: theory.weighed_distances(P), {"P": _D},
           lambda out, a: _finite(out[0]) and _finite(out[1])),
    Target("default_tau", lambda A, quantile: theory.default_tau(A, quantile=quantile),
           {"A": _D, "quantile": 0.1}, lambda out, a: _finite(out) and out > 0),
    Target("exponential_weighing", lambda A, tau: theory.exponential_weighing(A, tau=tau),
           {"A": _D, "tau": 1.0}, lambda out, a: _finite(out.p) and _finite(out.d)),
]


def _names(text: str, name: str) -> bool:
    """Whether ``text`` names the argument ``name`` as a word (``t`` in "t must be", not in "must")."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


@dataclass
class Outcome:
    """What one fuzzed call did: ``kind`` is "valid", "refused" or "failure"."""

    kind: str
    detail: str


def run_case(target: Target, bad: dict[str, str]) -> Outcome:
    """Call ``target`` with the arguments in ``bad`` replaced by values of those classes."""
    args = dict(target.valid)
    for name, value_class in bad.items():
        args[name] = BAD_VALUES[value_class]
    what = f"{target.name}({', '.join(f'{k}={v}' for k, v in bad.items())})"
    with np.errstate(all="ignore"):
        try:
            out = target.call(**args)
        except (ValueError, TypeError) as exc:
            message = str(exc)
            named = getattr(exc, "parameter", "") or ""
            if any(_names(message, name) or _names(named, name) for name in bad):
                return Outcome("refused", what)
            return Outcome("failure", f"{what}: {type(exc).__name__} names none of {list(bad)}: {message[:200]}")
        except Exception as exc:  # noqa: BLE001 (counting every other exception is the point)
            return Outcome("failure", f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
    try:
        ok = target.result_ok(out, args)
    except Exception as exc:  # noqa: BLE001
        return Outcome("failure", f"{what}: its result could not be checked: {type(exc).__name__}: {exc}")
    return Outcome("valid", what) if ok else Outcome("failure", f"{what}: returned an invalid result")
