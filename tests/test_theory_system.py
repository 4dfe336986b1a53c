"""The 3-variable system: against matrix gradient flow, exact solutions and invariants."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _theory_oracles import matrix_flow, no_rotation_problem, reachable_states, realise_state
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.integrate import solve_ivp

from repdyn.theory import conserved, exact_identical_targets, final_distance, loss_curve, rhs, solve

pytestmark = pytest.mark.filterwarnings("error")


@pytest.mark.parametrize(
    ("d_in", "d_hidden", "d_out", "eta_h", "eta_y", "scale"),
    [
        (1, 1, 1, 0.01, 0.02, 0.5),
        (3, 5, 2, 0.004, 0.01, 0.3),
        (4, 8, 3, 0.02, 0.005, 1.0),
        (2, 6, 1, 0.01, 0.01, 0.05),  # small weights: plateau, then a drop
    ],
)
def test_solve_matches_gradient_flow_on_full_matrices(d_in, d_hidden, d_out, eta_h, eta_y, scale):
    rng = np.random.default_rng(d_in * 100 + d_hidden)
    dx, dy, w_f, w_g = no_rotation_problem(rng, d_in, d_hidden, d_out, scale)
    t = np.linspace(0, 3000, 301)
    expected, _ = matrix_flow(dx, dy, w_f, w_g, eta_h, eta_y, t)
    got = solve(expected[0], t, eta_h=eta_h, eta_y=eta_y, dx2=dx @ dx, dy2=dy @ dy)
    assert np.abs(got - expected).max(axis=0) == pytest.approx(0, abs=1e-7 * np.abs(expected).max())


def test_loss_formula_equals_loss_of_the_matrices():
    rng = np.random.default_rng(3)
    dx, dy, w_f, w_g = no_rotation_problem(rng, 3, 4, 2, 0.4)
    m_err0 = rng.normal(size=2)
    t = np.linspace(0, 2000, 201)
    z, loss = matrix_flow(dx, dy, w_f, w_g, 0.01, 0.02, t, eta_m=0.003, m_err0=m_err0)
    predicted = loss_curve(z, t, eta_m=0.003, dy2=dy @ dy, m0=m_err0 @ m_err0)
    np.testing.assert_allclose(predicted, loss, rtol=1e-9, atol=1e-12)


def test_solve_is_accurate_against_tight_reference_for_a_batch():
    rng = np.random.default_rng(0)
    z0 = reachable_states(rng, 6, dy2=0.5)
    eta_h, eta_y = rng.uniform(1e-3, 1e-2, 6), rng.uniform(1e-3, 1e-2, 6)
    t = np.arange(0, 6001.0, 10)
    got = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=0.5)
    for i in range(6):
        ref, _ = matrix_flow(*realise_state(z0[i], 1.0, 0.5), eta_h[i], eta_y[i], t)
        scale = np.abs(ref).max(axis=0)
        assert np.all(np.abs(got[i] - ref).max(axis=0) <= 1e-6 * scale)


def test_representations_passing_through_each_other():
    # h touches 0 while w changes sign: the (h, y, w) right-hand side divides by
    # h there, the solver's regular form must follow it smoothly.
    z0 = np.array([0.27708885, 0.41388146, 0.81416242])
    eta_h, eta_y = 0.008154733497841118, 0.005610969842471285
    t = np.linspace(0, 400, 81)
    z = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=0.5)
    assert z[:, 0].min() < 1e-3 * z0[0]
    assert z[0, 2] > 0 and z[-1, 2] < 0
    ref, _ = matrix_flow(*realise_state(z0, 1.0, 0.5), eta_h, eta_y, t)
    np.testing.assert_allclose(z, ref, atol=1e-8)


def test_conserved_quantity_along_independent_integration():
    rng = np.random.default_rng(5)
    z0 = reachable_states(rng, 1, dy2=0.3)[0]
    t = np.linspace(0, 2000, 201)
    ref = solve_ivp(lambda _t, z: rhs(z, eta_h=0.01, eta_y=0.004, dx2=2.0, dy2=0.3), (0, t[-1]), z0,
                    t_eval=t, method="DOP853", rtol=1e-12, atol=1e-14).y.T
    c = conserved(ref[:, 0], ref[:, 1], eta_h=0.01, eta_y=0.004, dx2=2.0)
    assert np.ptp(c) < 1e-8 * np.abs(c).max()
    assert np.std(ref[:, 0]) > 1e-3  # the state really moved


@pytest.mark.parametrize(
    ("z0", "eta_h", "eta_y", "dx2", "dy2", "expect_regime"),
    [
        ((1e-4, 1e-6, 0.0), 0.01, 0.01, 1.0, 0.5, "rich"),
        ((40.0, 0.5, 0.4), 0.01, 0.01, 1.0, 0.5, "lazy"),  # A_high > 0
        ((0.2, 3.0, 2.5), 0.01, 0.01, 1.0, 0.5, "lazy"),  # A_high < 0
        ((0.3, 0.2, 0.1), 0.002, 0.01, 0.7, 0.25, "intermediate"),
    ],
)
def test_long_time_solution_converges_to_final_distance(z0, eta_h, eta_y, dx2, dy2, expect_regime):
    t = np.array([0.0, 4e5])
    z = solve(np.array(z0), t, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    fd = final_distance(z0[0], z0[1], eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    assert z[-1, 0] == pytest.approx(float(fd.h_inf), rel=1e-7)
    assert z[-1, 1] == pytest.approx(dy2, rel=1e-7)
    assert fd.regime == expect_regime


def test_final_distance_is_a_fixed_point_and_obeys_its_limits():
    rng = np.random.default_rng(2)
    h0, y0 = rng.uniform(0.01, 2, 50), rng.uniform(0, 2, 50)
    eta_h, eta_y = rng.uniform(1e-3, 1e-1, 50), rng.uniform(1e-3, 1e-1, 50)
    fd = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=1.3, dy2=0.4)
    at_rest = rhs(np.stack([fd.h_inf, np.full(50, 0.4), np.zeros(50)], -1),
                  eta_h=eta_h, eta_y=eta_y, dx2=1.3, dy2=0.4)
    np.testing.assert_allclose(at_rest, 0, atol=1e-15)
    # The fixed point lies on the conserved curve through the initial state.
    np.testing.assert_allclose(
        conserved(fd.h_inf, 0.4, eta_h=eta_h, eta_y=eta_y, dx2=1.3),
        conserved(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=1.3),
        rtol=1e-9,
        atol=1e-12,
    )
    big = final_distance(1e4, 1.0, eta_h=0.01, eta_y=0.01, dx2=1.0, dy2=0.5)
    assert big.h_inf == pytest.approx(big.a_high, rel=1e-4)
    small = final_distance(1e-6, 1e-9, eta_h=0.01, eta_y=0.01, dx2=1.0, dy2=0.5)
    assert small.h_inf == pytest.approx(small.a_low, rel=1e-3)
    negative = final_distance(1e-3, 1e3, eta_h=0.01, eta_y=0.01, dx2=1.0, dy2=0.5)  # A_high hugely negative
    assert negative.a_high < 0
    assert negative.h_inf == pytest.approx(negative.a_low**2 / abs(negative.a_high), rel=1e-6)


@pytest.mark.parametrize("c_sign", ["positive", "zero", "negative"])
def test_identical_targets_solver_matches_exact_solution(c_sign):
    eta_h, eta_y, dx2, h0 = 0.01, 0.02, 1.0, 0.5
    k = eta_y / (eta_h * dx2)
    y0 = {"positive": 2.0, "zero": k * h0 * h0, "negative": 0.3}[c_sign]
    t = np.linspace(0, 6000, 601)
    exact = exact_identical_targets(h0, y0, t, eta_h=eta_h, eta_y=eta_y, dx2=dx2)
    z = solve(np.array([h0, y0, y0]), t, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=0.0)
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(exact))
    np.testing.assert_allclose(z, exact, rtol=1e-6, atol=1e-9 * h0)
    # h keeps its relative accuracy while it decays over many decades (the
    # solver's absolute floor is about 1e-13 of the scale of s = sqrt(h)).
    resolved = exact[:, 0] > 1e-12 * h0
    assert resolved.sum() > 50
    np.testing.assert_allclose(z[resolved, 0], exact[resolved, 0], rtol=1e-5)
    if c_sign == "positive":
        assert exact[-1, 0] < 1e-20 * h0  # h -> 0: the two points merge
    if c_sign == "zero":
        assert exact[-1, 0] == pytest.approx(h0 / (1 + eta_h * dx2 * k * h0 * t[-1]))


def test_exact_solution_satisfies_the_ode():
    t = np.linspace(0, 500, 5001)
    z = exact_identical_targets(0.4, 0.3, t, eta_h=0.01, eta_y=0.02, dx2=1.5)
    derivative = np.gradient(z, t, axis=0)
    np.testing.assert_allclose(derivative[5:-5], rhs(z, eta_h=0.01, eta_y=0.02, dx2=1.5, dy2=0.0)[5:-5],
                               rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("z0", [(0.3, 0.0, 0.0), (0.3, 0.2, 0.0), (1e-8, 0.0, 0.0)])
def test_zero_prediction_or_alignment_stays_finite(z0):
    t = np.linspace(0, 6000, 61)
    z = solve(np.array(z0), t, eta_h=0.01, eta_y=0.01, dx2=1.0, dy2=0.5)
    assert np.all(np.isfinite(z))
    assert z[-1, 1] == pytest.approx(0.5, rel=1e-3)


@settings(max_examples=30, deadline=None)
@given(
    batch=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
    rate_dims=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_broadcasting_and_positivity(batch, rate_dims, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(batch))
    z0 = reachable_states(rng, n, dy2=0.5).reshape(*batch, 3)
    rate_shape = batch[len(batch) - min(rate_dims, len(batch)):]
    eta_h = rng.uniform(1e-3, 1e-2, rate_shape)
    t = np.linspace(0, 1000, 11)
    z = solve(z0, t, eta_h=eta_h, eta_y=0.005, dx2=1.0, dy2=0.5)
    assert z.shape == (*batch, 11, 3)
    assert np.all(z[..., 0] > 0) and np.all(z[..., 1] >= 0)
    # Each member equals its own unbatched solve.
    flat_rates = np.broadcast_to(eta_h, batch).ravel()
    for i in range(min(n, 2)):
        single = solve(z0.reshape(-1, 3)[i], t, eta_h=flat_rates[i], eta_y=0.005, dx2=1.0, dy2=0.5)
        np.testing.assert_allclose(z.reshape(-1, 11, 3)[i], single, rtol=1e-6, atol=1e-7 * np.abs(single).max())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eta_h": 0.0}, "eta_h must be finite numbers > 0; got 0.0"),
        ({"eta_y": -1.0}, "eta_y must be finite numbers > 0"),
        ({"dx2": 0.0}, "dx2 must be finite numbers > 0"),
        ({"dy2": -0.1}, "dy2 must be finite numbers >= 0"),
        ({"eta_h": np.nan}, "eta_h must be finite numbers > 0; got nan"),
        ({"z0": np.array([-0.1, 0.1, 0.0])}, r"z0\[..., 0\] \(h"),
        ({"z0": np.array([0.1, -0.1, 0.0])}, r"z0\[..., 1\] \(y"),
        ({"z0": np.array([0.1, 0.1])}, r"shape \(..., 3\)"),
        ({"z0": np.ones((2, 3)) * 0.1, "eta_h": np.ones(3)}, "shapes do not broadcast"),
        ({"t": np.array([0.0])}, "at least 2 time points"),
        ({"t": np.array([0.0, 2.0, 1.0])}, "strictly increasing"),
        ({"z0": np.array([0.1, 0.1, 5.0])}, "not a reachable state"),
    ],
)
def test_invalid_input_names_the_problem(kwargs, match):
    args = {"z0": np.array([0.1, 0.1, 0.05]), "t": np.linspace(0, 10, 3), "eta_h": 0.01, "eta_y": 0.01,
            "dx2": 1.0, "dy2": 0.5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        solve(**args)


def test_importing_theory_does_not_import_torch():
    code = "import sys, repdyn.theory; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_auto_method_follows_stiff_rates():
    # Found by the fit: DOP853 at its stability limit leaves w far from 0 here.
    z0 = np.array([8.543, 0.0, 0.0])
    t = np.array([0, 120.9, 328.1, 362.6, 442.0, 973.4])
    rates = {"eta_h": 1.505e-4, "eta_y": 0.05699, "dx2": 0.3378, "dy2": 1.98}
    reference = solve(z0, t, **rates, method="Radau", rtol=1e-12)
    z = solve(z0, t, **rates)
    assert abs(reference[-1, 2]) < 1e-8
    np.testing.assert_allclose(z, reference, rtol=1e-6, atol=1e-7 * np.abs(reference).max())


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_a_few_pairs_in_python_floats_equal_the_array_field_bit_for_bit(n, monkeypatch):
    # Up to FLOAT_PAIRS pairs the field runs in Python floats for speed; the
    # array field (the path of larger batches) is the oracle, to the last bit.
    from repdyn.theory import _system

    rng = np.random.default_rng(n)
    t = np.arange(3001.0)
    h0, y0, dy2 = 10 ** rng.uniform(-4, 1, n), 10 ** rng.uniform(-6, 0, n), rng.uniform(0.3, 2, n)
    z0 = np.stack([h0, y0, y0 - rng.uniform(-1, 1, n) * np.sqrt(dy2 * y0)], axis=-1)
    # eta_y up to 1 makes some of them stiff, so both layouts (DOP853's blocks, LSODA's pairs) run.
    args = {"eta_h": 10 ** rng.uniform(-4, -1, n), "eta_y": 10 ** rng.uniform(-4, 0, n),
            "dx2": rng.uniform(0.3, 2, n), "dy2": dy2}
    fast = solve(z0, t, **args)
    plain_init = _system._Field.__init__

    def array_field(self, *a, **k):
        plain_init(self, *a, **k)
        self.constants = None

    monkeypatch.setattr(_system._Field, "__init__", array_field)
    np.testing.assert_array_equal(fast, solve(z0, t, **args))
