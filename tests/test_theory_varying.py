"""The 3-variable system with time-varying rates given as samples (``solve_varying``).

Oracles: ``solve`` with constant rates; an independent integration of the
right-hand side ``rhs`` in ``(h, y, w)`` with the same piecewise-constant
rates; and, for rates linear in time, the convergence of the piecewise
rule to the exact time-varying system at second order in the sample spacing.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from repdyn.theory import rhs, solve, solve_varying

Z0 = np.array([0.05, 0.01, 0.01 - np.sqrt(0.5 * 0.01) * 0.8])  # dy . dyhat > 0: h stays away from 0
CONSTANTS = {"dx2": 1.0, "dy2": 0.5}


def integrate_rhs(z0, t, eta_h_of_t, eta_y_of_t, breaks=()):
    """``rhs`` in (h, y, w) with rates given as functions of time, stepping exactly onto ``breaks``."""
    field = lambda s, z: rhs(z, eta_h=eta_h_of_t(s), eta_y=eta_y_of_t(s), **CONSTANTS)  # noqa: E731
    bounds = np.union1d([t[0], t[-1]], [b for b in breaks if t[0] < b < t[-1]])
    out, state = np.empty((t.size, 3)), np.asarray(z0, dtype=float)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        inside = np.flatnonzero((t >= start) & (t <= stop))
        sol = solve_ivp(field, (start, stop), state, method="Radau", rtol=1e-11, atol=1e-14,
                        t_eval=np.union1d(t[inside], [stop]))  # fmt: skip
        out[inside] = sol.y.T[np.isin(sol.t, t[inside])]
        state = sol.y[:, -1]
    return out


def test_constant_samples_give_solve():
    t = np.arange(0.0, 3001.0, 10.0)
    z0 = np.stack([Z0, [0.02, 0.001, 0.001 + 0.01], [0.3, 0.2, 0.1]])
    expected = solve(z0, t, eta_h=0.002, eta_y=0.02, **CONSTANTS)
    rate_times = np.arange(0.0, 3001.0, 25.0)
    got = solve_varying(z0, t, eta_h=np.full(rate_times.size, 0.002), eta_y=np.full(rate_times.size, 0.02),
                        rate_times=rate_times, **CONSTANTS)  # fmt: skip
    scale = np.abs(expected).max(axis=-2, keepdims=True)
    assert np.abs(got - expected).max() / scale.min() < 1e-7  # solve's own stated accuracy


def test_piecewise_rates_match_an_independent_integration_of_rhs():
    t = np.linspace(0.0, 2000.0, 81)
    rate_times = np.array([0.0, 300.0, 700.0, 1500.0])
    eta_h = np.array([0.004, 0.002, 0.001, 0.003])
    eta_y = np.array([0.05, 0.01, 0.03, 0.02])
    got = solve_varying(Z0, t, eta_h=eta_h, eta_y=eta_y, rate_times=rate_times, **CONSTANTS)

    def held(samples):
        def value(s):
            k = np.searchsorted(rate_times, s, side="right")
            if k == 0 or k == rate_times.size:
                return samples[min(max(k - 1, 0), rate_times.size - 1)]
            return 0.5 * (samples[k - 1] + samples[k])

        return value

    expected = integrate_rhs(Z0, t, held(eta_h), held(eta_y), breaks=rate_times)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_rates_linear_in_time_converge_at_second_order():
    t = np.linspace(0.0, 1500.0, 31)
    eta_h_of_t = lambda s: 0.001 + 2e-6 * s  # noqa: E731
    eta_y_of_t = lambda s: 0.04 - 2e-5 * s  # noqa: E731
    exact = integrate_rhs(Z0, t, eta_h_of_t, eta_y_of_t)
    errors = []
    for spacing in (300.0, 150.0, 75.0):
        rate_times = np.arange(0.0, 1500.0 + spacing / 2, spacing)
        got = solve_varying(Z0, t, eta_h=eta_h_of_t(rate_times), eta_y=eta_y_of_t(rate_times),
                            rate_times=rate_times, **CONSTANTS)  # fmt: skip
        errors.append(np.abs(got - exact).max())
    assert errors[0] / errors[1] > 3 and errors[1] / errors[2] > 3, errors


def test_samples_broadcast_over_a_batch_and_hold_outside_their_range():
    t = np.linspace(0.0, 500.0, 11)
    z0 = np.stack([Z0, Z0])
    eta_h = np.array([[0.002, 0.002], [0.004, 0.004]])
    eta_y = np.array([0.02, 0.02])  # one series shared by the batch
    got = solve_varying(z0, t, eta_h=eta_h, eta_y=eta_y, rate_times=[100.0, 200.0], **CONSTANTS)
    np.testing.assert_allclose(got[1], solve(Z0, t, eta_h=0.004, eta_y=0.02, **CONSTANTS), rtol=1e-8)
    np.testing.assert_allclose(got[0], solve(Z0, t, eta_h=0.002, eta_y=0.02, **CONSTANTS), rtol=1e-8)
    single = solve_varying(Z0, t, eta_h=[0.003], eta_y=[0.03], rate_times=[250.0], **CONSTANTS)
    np.testing.assert_allclose(single, solve(Z0, t, eta_h=0.003, eta_y=0.03, **CONSTANTS), rtol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eta_h": [0.1, 0.1, 0.1]}, "one sample per rate time"),
        ({"eta_y": [0.1, -0.1]}, "eta_y must be finite numbers > 0; got .*element 1 is -0.1"),
        ({"rate_times": [1.0, 1.0]}, "rate_times must be strictly increasing"),
        ({"eta_h": [0.1, np.nan]}, "eta_h must be finite numbers > 0; got .*element 1 is nan"),
    ],
)
def test_bad_samples_are_refused(kwargs, match):
    args = {"eta_h": [0.1, 0.1], "eta_y": [0.1, 0.1], "rate_times": [0.0, 10.0], **CONSTANTS, **kwargs}
    with pytest.raises(ValueError, match=match):
        solve_varying(Z0, [0.0, 5.0, 10.0], **args)


def test_rates_are_keyword_only():
    with pytest.raises(TypeError):
        solve_varying(Z0, [0.0, 1.0], [0.1], [0.1], [0.0], 1.0, 0.5)  # type: ignore[misc]
