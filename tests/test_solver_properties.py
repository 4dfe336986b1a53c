"""The solver's rule, checked over many decades of every argument and on the known failures.

``solve`` returns the solution within its stated tolerance (``TOLERANCE_FACTOR * rtol``
of each variable's scale), or raises naming what it could not do; it never
returns a state outside the reachable set or a non-finite value. The reference
is an independent implementation: gradient flow of the realising vectors in the
problem's own units (no scaling, no closed-form Jacobian), integrated by
scipy's LSODA at rtol 1e-13 (and, for a few fixed cases, by Radau).
"""

from __future__ import annotations

import numpy as np
import pytest
from _theory_oracles import stiff_reference
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import repdyn.theory._system as system
from repdyn.theory import SolverError, exact_identical_targets, reachable, solve
from repdyn.theory._system import MAX_STIFFNESS, TOLERANCE_FACTOR, relaxation_rate

pytestmark = pytest.mark.filterwarnings("error")

RTOL = 1e-10
TOL = TOLERANCE_FACTOR * RTOL


def scaled_error(z: np.ndarray, ref: np.ndarray, dy2: float) -> float:
    """Largest error of h relative to max h, and of y and w relative to max(max y, dy2)."""
    scale_h = np.max(ref[:, 0])
    scale_yw = max(np.max(ref[:, 1]), dy2)
    err_h = np.max(np.abs(z[:, 0] - ref[:, 0])) / scale_h
    err_yw = np.max(np.abs(z[:, 1:] - ref[:, 1:])) / scale_yw if scale_yw > 0 else np.max(np.abs(z[:, 1:]))
    return float(max(err_h, err_yw))


def assert_valid(z: np.ndarray, dy2) -> None:
    assert np.all(np.isfinite(z)), "solve returned a non-finite value"
    inside = reachable(z, dy2=np.asarray(dy2)[..., None])
    assert np.all(inside), f"solve left the reachable set at {np.argwhere(~inside)[:3].tolist()}"


decade = st.floats(-8.0, 8.0)


@st.composite
def problems(draw):
    """A reachable initial state, rates, constants and times, each over 16 decades."""
    h0 = 10 ** draw(decade)
    y0 = draw(st.sampled_from([0.0, None]))
    y0 = 10 ** draw(decade) if y0 is None else y0
    dy2 = draw(st.sampled_from([0.0, None, None, None]))
    dy2 = 10 ** draw(decade) if dy2 is None else dy2
    # w anywhere in the Cauchy-Schwarz band, its edges included.
    along = draw(st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1.0, 1.0)))
    w0 = y0 - along * np.sqrt(dy2 * y0)
    rates = {name: 10 ** draw(decade) for name in ("eta_h", "eta_y", "dx2")}
    horizon = 10 ** draw(st.floats(-3.0, 6.0))
    start = draw(st.sampled_from([0.0, 1.0, 1e4]))
    t = start + horizon * np.linspace(0.0, 1.0, 17) ** draw(st.sampled_from([1.0, 3.0]))
    return np.array([h0, y0, w0]), t, {**rates, "dy2": dy2}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
@example(problem=(np.array([100.0, 100.0, 110.0]), np.linspace(0, 1, 17),
                  {"eta_h": 1.0, "eta_y": 10.0, "dx2": 1000.0, "dy2": 1.0}))  # close by the saddle
def test_solve_agrees_with_a_stiff_reference_over_many_decades(problem):
    check_against_reference(*problem)


@pytest.mark.xfail(strict=True, reason="known: a path that starts on dy . dyhat = 0 with y0 near dy2 >> h0 "
                   "passes h ~ 1e-18 (the saddle); solve refuses it as not determined although a 1e-12 "
                   "move of z0 moves the reference by 3.7e-7 only (found by a random draw of the test above)")
def test_a_path_through_the_saddle_is_solved_or_refused_rightly():
    check_against_reference(np.array([10.0, 1e8, 1e8]), 10.0 * np.linspace(0.0, 1.0, 17),
                            {"eta_h": 1.0, "eta_y": 1.0, "dx2": 1e4, "dy2": 56234132.51903491})


def check_against_reference(z0, t, args):
    """Solved within the stated tolerance of a stiff reference, or refused rightly."""
    stiffness = float(relaxation_rate(z0, **args)) * (t[-1] - t[0])
    try:
        z = solve(z0, t, **args, rtol=RTOL)
    except ValueError as exc:
        # Refused only beyond the documented boundary, naming the arguments.
        assert not stiffness <= MAX_STIFFNESS, f"refused at stiffness {stiffness:.3g}: {exc}"
        assert "eta_h" in str(exc) and "t" in str(exc)
        return
    except SolverError as exc:
        # Only where the solution is not determined within the tolerance: moving z0
        # by 1e-12 of itself moves the reference by more than the tolerance.
        assert "not determined" in str(exc), str(exc)
        ref = stiff_reference(z0, t, **args, method="LSODA")
        moved = stiff_reference(z0 * (1 + 1e-12), t, **args, method="LSODA")
        assume(ref is not None and moved is not None)
        assert scaled_error(moved, ref, args["dy2"]) > TOL, str(exc)
        return
    assert stiffness <= MAX_STIFFNESS
    assert_valid(z, args["dy2"])
    ref = stiff_reference(z0, t, **args, method="LSODA")
    assume(ref is not None)
    assert scaled_error(z, ref, args["dy2"]) <= TOL


@pytest.mark.parametrize(
    ("z0", "args", "horizon"),
    [
        # rich: small weights, a plateau and then a drop
        ((1e-4, 1e-8, 1e-8), {"eta_h": 0.004, "eta_y": 0.004, "dx2": 1.0, "dy2": 0.5}, 6000.0),
        # lazy with a huge coupling eta_y h0 / (eta_h dx2) (the class)
        ((0.313, 0.00165, 0.0), {"eta_h": 1.24e-6, "eta_y": 2.24, "dx2": 0.0262, "dy2": 0.0106}, 100.0),
        # representations passing through each other
        ((0.277, 0.414, 0.814), {"eta_h": 0.00815, "eta_y": 0.00561, "dx2": 1.0, "dy2": 0.5}, 400.0),
        # stiff: relaxation 1e6 times faster than the span
        ((2.0, 0.3, -0.1), {"eta_h": 30.0, "eta_y": 400.0, "dx2": 3.0, "dy2": 0.7}, 1e3),
    ],
)
def test_solve_agrees_with_radau(z0, args, horizon):
    t = np.linspace(0.0, horizon, 41)
    z = solve(np.array(z0), t, **args)
    assert_valid(z, args["dy2"])
    ref = stiff_reference(np.array(z0), t, **args, method="Radau", rtol=1e-12)
    assert ref is not None
    assert scaled_error(z, ref, args["dy2"]) <= TOL


# -- the failures of issue 21, as regression tests ----------------------------------------------------------

def test_auto_method_holds_where_dop853_at_its_stability_limit_broke():
    # `repdyn theory simulate --h0 0.313 --y0 0.00165 --eta-h 1.24e-06 --eta-y 2.24 --dx2 0.0262
    # --dy2 0.0106 --epochs 100` made y jump to 0.01505 at t = 70; Radau and LSODA give 0.0106.
    t = np.arange(101.0)
    args = {"eta_h": 1.24e-06, "eta_y": 2.24, "dx2": 0.0262, "dy2": 0.0106}
    z = solve(np.array([0.313, 0.00165, 0.00165]), t, **args)
    assert_valid(z, 0.0106)
    assert z[70, 1] == pytest.approx(0.0106, rel=1e-6)
    ref = stiff_reference(np.array([0.313, 0.00165, 0.00165]), t, **args, method="Radau", rtol=1e-12)
    assert scaled_error(z, ref, 0.0106) <= TOL


def test_large_coupling_keeps_the_cauchy_schwarz_band():
    # The random search of issue 21: 10 of 400 cases broke the band on w, all with
    # eta_y h0 / (eta_h dx2) >= 9e2. Here 60 cases with that coupling between 1e3 and 1e12.
    rng = np.random.default_rng(21)
    n = 60
    h0 = 10 ** rng.uniform(-2, 1, n)
    dy2 = 10 ** rng.uniform(-3, 0, n)
    y0 = dy2 * 10 ** rng.uniform(-3, 1, n)
    w0 = y0 - rng.uniform(-1, 1, n) * np.sqrt(dy2 * y0)
    eta_h, dx2 = 10 ** rng.uniform(-7, -3, n), 10 ** rng.uniform(-2, 0, n)
    coupling = 10 ** rng.uniform(3, 12, n)
    eta_y = coupling * eta_h * dx2 / h0
    t = np.linspace(0, 100, 101)
    stiff = relaxation_rate(np.stack([h0, y0, w0], -1), eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2) * 100
    keep = stiff <= MAX_STIFFNESS
    z0 = np.stack([h0, y0, w0], -1)[keep]
    z = solve(z0, t, eta_h=eta_h[keep], eta_y=eta_y[keep], dx2=dx2[keep], dy2=dy2[keep])
    assert_valid(z, dy2[keep])
    for i in range(0, int(keep.sum()), 6):
        args = {"eta_h": eta_h[keep][i], "eta_y": eta_y[keep][i], "dx2": dx2[keep][i], "dy2": dy2[keep][i]}
        ref = stiff_reference(z0[i], t, **args, method="LSODA")
        assert scaled_error(z[i], ref, args["dy2"]) <= TOL


def test_tiny_dx2_keeps_the_initial_state():
    # dx2 = 1e-20 returned y = 0 at t = 0 although y0 = 0.1, then w = -0.5 while y = 0.
    z0 = np.array([1.0, 0.1, 0.05])
    t = np.linspace(0, 10, 3)
    z = solve(z0, t, eta_h=0.01, eta_y=0.01, dx2=1e-20, dy2=0.5)
    assert_valid(z, 0.5)
    np.testing.assert_allclose(z[0], z0, rtol=1e-14)
    ref = stiff_reference(z0, t, eta_h=0.01, eta_y=0.01, dx2=1e-20, dy2=0.5, method="LSODA")
    assert scaled_error(z, ref, 0.5) <= TOL


@pytest.mark.parametrize(
    ("z0", "args", "named"),
    [
        ((1.0, 0.1, 0.05), {"eta_h": 1e40, "eta_y": 0.01, "dx2": 1.0, "dy2": 0.5}, "stiffness"),
        ((1e308, 0.1, 0.05), {"eta_h": 0.01, "eta_y": 0.01, "dx2": 1.0, "dy2": 0.5}, "stiffness"),
        ((1e-300, 1.0, 1.0), {"eta_h": 1.0, "eta_y": 1.0, "dx2": 1.0, "dy2": 0.5}, "coupling"),
        ((1.0, 0.1, 0.05), {"eta_h": 1e300, "eta_y": 1e-300, "dx2": 1e300, "dy2": 0.5}, "coupling"),
    ],
)
def test_inputs_beyond_float64_are_refused_by_name(z0, args, named):
    # Very large rates or states returned wrong numbers or NaN rows.
    with pytest.raises(ValueError, match=named) as info:
        solve(np.array(z0), np.linspace(0, 100, 11), **args)
    assert "eta_h" in str(info.value) and "z0" in str(info.value)


def test_the_stiffness_boundary():
    # Identical targets have an exact solution: just inside the boundary solve is
    # right, just outside it refuses.
    t = np.linspace(0, 100, 51)
    h0, y0 = 0.5, 0.25  # C = y0/h0 - k h0 = -0.5: h -> h_inf = 0.25
    base = {"eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0}
    per_unit = float(relaxation_rate(np.array([h0, y0, y0]), **base, dy2=0.0)) * 100
    inside = 0.5 * MAX_STIFFNESS / per_unit
    rates = {k: v * inside for k, v in base.items() if k != "dx2"}
    z = solve(np.array([h0, y0, y0]), t, **rates, dx2=1.0, dy2=0.0)
    exact = exact_identical_targets(h0, y0, t, **rates, dx2=1.0)
    assert scaled_error(z, exact, 0.0) <= TOL
    with pytest.raises(ValueError, match="stiffness"):
        solve(np.array([h0, y0, y0]), t, **{k: 4 * v for k, v in rates.items()}, dx2=1.0, dy2=0.0)


def test_a_path_stiffer_than_its_ends_goes_to_the_stiff_method(monkeypatch):
    # With the estimate before the solve blinded, auto starts with DOP853 on a stiff
    # problem; the stiffness along the computed path must send it to LSODA.
    z0 = np.array([0.0708, 0.1155, -0.2178])
    args = {"eta_h": 0.0934, "eta_y": 0.00532, "dx2": 1.0, "dy2": 1.876}
    t = np.arange(6001.0)
    used = []
    integrate = system._integrate
    monkeypatch.setattr(system, "_integrate", lambda *a: used.append(a[2]) or integrate(*a))
    monkeypatch.setattr(system, "_stiffness", lambda scaled, span: np.zeros(scaled.n))
    z = solve(z0, t, **args)
    assert used == ["DOP853", "LSODA"]
    ref = stiff_reference(z0, t, **args, method="LSODA")
    assert scaled_error(z, ref, args["dy2"]) <= TOL


@pytest.mark.parametrize("error", [3e-6, 1e-3])
def test_a_drifting_solution_is_caught_and_redone(monkeypatch, error):
    # The first integration comes back with sigma off by `error` (relative) from
    # half-way on: the conserved quantity shows it, and the next method redoes it.
    z0 = np.array([0.3, 0.2, 0.1])
    args = {"eta_h": 0.01, "eta_y": 0.03, "dx2": 0.7, "dy2": 0.4}
    t = np.linspace(0, 300, 61)
    used = []
    integrate = system._integrate

    def corrupted(scaled, tau, method, rtol):
        x = integrate(scaled, tau, method, rtol)
        if not used:
            x[0, :, tau.size // 2:] *= 1 + error
        used.append(method)
        return x

    monkeypatch.setattr(system, "_integrate", corrupted)
    z = solve(z0, t, **args)
    assert used == ["DOP853", "LSODA"]
    ref = stiff_reference(z0, t, **args, method="LSODA")
    assert scaled_error(z, ref, args["dy2"]) <= TOL


def test_every_method_failing_the_check_is_a_solver_error(monkeypatch):
    integrate = system._integrate

    def corrupted(scaled, tau, method, rtol):
        x = integrate(scaled, tau, method, rtol)
        x[0, :, -1] *= 1.01
        return x

    monkeypatch.setattr(system, "_integrate", corrupted)
    with pytest.raises(SolverError, match="DOP853: the conserved quantity drifted.*LSODA.*Radau"):
        solve(np.array([0.3, 0.2, 0.1]), np.linspace(0, 300, 61), eta_h=0.01, eta_y=0.03, dx2=0.7, dy2=0.4)


def test_a_named_method_is_checked_too():
    # DOP853 on a stiff problem: either right within the tolerance or a SolverError.
    z0 = np.array([0.0708, 0.1155, -0.2178])
    args = {"eta_h": 0.0934, "eta_y": 0.00532, "dx2": 1.0, "dy2": 1.876}
    t = np.arange(6001.0)
    ref = stiff_reference(z0, t, **args, method="LSODA")
    for method in ("DOP853", "RK45", "Radau", "BDF", "LSODA"):
        try:
            z = solve(z0, t, **args, method=method)
        except SolverError as exc:
            assert method in str(exc)
            continue
        assert_valid(z, args["dy2"])
        assert scaled_error(z, ref, args["dy2"]) <= TOL, method


def test_a_hopeless_integration_ends_with_a_solver_error(monkeypatch):
    # The evaluation budget bounds solve's time; running out is a SolverError naming it.
    monkeypatch.setattr(system, "MAX_EVALUATIONS", 50)
    with pytest.raises(SolverError, match="gave up after 50 evaluations"):
        solve(np.array([0.3, 0.2, 0.1]), np.linspace(0, 1e4, 11), eta_h=0.01, eta_y=0.03, dx2=0.7, dy2=0.4)
