"""Stability of the fixed points and the lazy limit: against finite differences, long integrations
and the exact solution for identical targets."""

from __future__ import annotations

import numpy as np
import pytest
from _theory_oracles import no_rotation_problem, reachable_states
from scipy.integrate import solve_ivp

from repdyn.theory import (
    conserved,
    exact_identical_targets,
    final_distance,
    fixed_points,
    jacobian,
    lazy_limit,
    rhs,
    solve,
)

pytestmark = pytest.mark.filterwarnings("error")

RATES = {"eta_h": 0.004, "eta_y": 0.02, "dx2": 1.0}


def _level_set_state(h, c, w, *, eta_h, eta_y, dx2):
    """The state (h, y, w) with conserved quantity ``c``: y = h (c + k h)."""
    k = eta_y / (eta_h * dx2)
    return np.array([h, h * (c + k * h), w])


def test_jacobian_matches_central_differences_of_rhs():
    rng = np.random.default_rng(0)
    z = reachable_states(rng, 20, dy2=0.5)
    eta_h, eta_y, dx2 = rng.uniform(1e-3, 1e-2, 20), rng.uniform(1e-3, 1e-2, 20), rng.uniform(0.5, 2, 20)
    kw = {"eta_h": eta_h, "eta_y": eta_y, "dx2": dx2, "dy2": 0.5}
    got = jacobian(z, **kw)
    assert got.shape == (20, 3, 3)
    for j in range(3):
        step = 1e-6 * np.abs(z).max(axis=1)
        plus, minus = z.copy(), z.copy()
        plus[:, j] += step
        minus[:, j] -= step
        numeric = (rhs(plus, **kw) - rhs(minus, **kw)) / (2 * step[:, None])
        scale = np.abs(got).max(axis=(1, 2))[:, None]
        np.testing.assert_allclose(got[:, :, j] / scale, numeric / scale, atol=1e-7)


def test_known_fixed_points_of_the_theory_are_classified_as_docs_theory_says():
    # docs/theory.md: h_inf (the positive root) is the only stable fixed point and the one
    # final_distance returns; the negative root is invalid; h = 0 is not stable (a saddle).
    rng = np.random.default_rng(1)
    z0 = reachable_states(rng, 200, dy2=0.7)
    eta_h, eta_y, dx2 = rng.uniform(1e-4, 1e-1, 200), rng.uniform(1e-4, 1e-1, 200), rng.uniform(0.1, 3, 200)
    kw = {"eta_h": eta_h, "eta_y": eta_y, "dx2": dx2, "dy2": 0.7}
    plus, origin, minus = fixed_points(z0[:, 0], z0[:, 1], **kw)
    assert (plus.name, origin.name, minus.name) == ("h_plus", "origin", "h_minus")
    np.testing.assert_allclose(plus.h, final_distance(z0[:, 0], z0[:, 1], **kw).h_inf, rtol=1e-12)
    assert np.all(plus.stability == "stable") and np.all(plus.final) and np.all(plus.reachable)
    assert np.all(origin.stability == "saddle") and not origin.final.any()
    assert np.all(minus.stability == "unstable") and np.all(minus.h < 0) and not minus.reachable.any()
    # The roots solve k h^2 + C h - dy2 = 0 on the level set of C, with y = dy2 and w = 0.
    k = eta_y / (eta_h * dx2)
    c = conserved(z0[:, 0], z0[:, 1], eta_h=eta_h, eta_y=eta_y, dx2=dx2)
    for point in (plus, minus):
        np.testing.assert_allclose(k * point.h**2 + c * point.h, 0.7, rtol=1e-9)
        assert np.all(point.y == 0.7) and np.all(point.w == 0)
    # The origin is reachable exactly where y = h (C + k h) stays >= 0 near h = 0.
    np.testing.assert_array_equal(origin.reachable, c >= 0)


def test_level_set_eigenvalues_are_the_nonzero_eigenvalues_of_the_3_variable_jacobian():
    rng = np.random.default_rng(2)
    for _ in range(10):
        h0, y0 = rng.uniform(1e-3, 2), rng.uniform(1e-3, 2)
        kw = {"eta_h": rng.uniform(1e-3, 0.05), "eta_y": rng.uniform(1e-3, 0.05), "dx2": rng.uniform(0.5, 2),
              "dy2": rng.uniform(0.1, 1)}
        plus = fixed_points(h0, y0, **kw)[0]
        jac = jacobian([float(plus.h), kw["dy2"], 0.0], **kw)
        eig = np.linalg.eigvals(jac)
        zero = np.argmin(np.abs(eig))
        assert abs(eig[zero]) <= 1e-12 * np.abs(eig).max()
        np.testing.assert_allclose(np.sort_complex(np.delete(eig, zero)), np.sort_complex(plus.eigenvalues),
                                   rtol=1e-9)
        # The zero eigenvalue's left eigenvector is grad C: C is conserved to first order too.
        h, k = float(plus.h), kw["eta_y"] / (kw["eta_h"] * kw["dx2"])
        grad_c = np.array([-kw["dy2"] / h**2 - k, 1 / h, 0.0])
        np.testing.assert_allclose(grad_c @ jac, 0, atol=1e-12 * np.abs(jac).max() * np.abs(grad_c).max())


def test_a_nearby_start_converges_to_h_plus_at_the_rate_of_its_slowest_eigenvalue():
    kw = {**RATES, "dy2": 0.5}
    h0, y0 = 0.05, 0.3
    plus = fixed_points(h0, y0, **kw)[0]
    assert np.all(plus.eigenvalues.imag == 0)  # a node here: both rates real
    slowest = float(plus.eigenvalues.real.max())
    c = float(conserved(h0, y0, eta_h=RATES["eta_h"], eta_y=RATES["eta_y"], dx2=RATES["dx2"]))
    start = _level_set_state(0.95 * float(plus.h), c, 0.0, **RATES)  # w = 0: dy . dyhat = y <= sqrt(dy2 y)
    t = np.linspace(0, 8 / abs(slowest), 401)
    z = solve(start, t, **kw)
    gap = np.abs(z[:, 0] - plus.h)
    assert gap[-1] < 1e-3 * gap[0]
    late = (t > 3 / abs(slowest)) & (t < 6 / abs(slowest))
    slope = np.polyfit(t[late], np.log(gap[late]), 1)[0]
    assert slope == pytest.approx(slowest, rel=0.02)


@pytest.mark.parametrize("direction", ["unstable", "stable"])
def test_the_origin_is_a_saddle_a_start_along_each_eigenvector_moves_at_its_rate(direction):
    kw = {**RATES, "dy2": 0.5}
    k = RATES["eta_y"] / (RATES["eta_h"] * RATES["dx2"])
    c = 2.0  # > 0: the origin is reachable
    h0 = 1e-12
    plus, origin, minus = fixed_points(h0, h0 * (c + k * h0), **kw)
    assert origin.stability == "saddle" and origin.reachable
    # Along w = q h with q = -k h_plus (unstable) or -k h_minus (stable), h moves at rate
    # eta_y h_plus > 0 or eta_y h_minus < 0 (the paper's Eq. 35).
    root = float(plus.h if direction == "unstable" else minus.h)
    rate = RATES["eta_y"] * root
    assert rate == pytest.approx(float(origin.eigenvalues.real.max() if direction == "unstable"
                                       else origin.eigenvalues.real.min()), rel=1e-12)
    start = _level_set_state(h0, c, -k * root * h0, **RATES)
    t = np.linspace(0, 2.0 / abs(rate), 41)
    h = solve(start, t, **kw)[:, 0]
    assert np.log(h[-1] / h[0]) / t[-1] == pytest.approx(rate, rel=1e-3)
    if direction == "unstable":  # it leaves the origin for h_plus, the stable point
        far = solve(start, np.array([0.0, 60.0 / rate]), **kw)[-1, 0]
        assert far == pytest.approx(float(plus.h), rel=1e-6)


def _reduced_field(kw, c):
    """The paper's 2-D reduction in (h, w) on the level set of C, algebraic for any h != 0."""
    a = kw["eta_h"] * kw["dx2"]
    k = kw["eta_y"] / a

    def field(_t, state):
        h, w = state
        return [-a * w,
                -0.5 * kw["eta_y"] * (3 * w - h * (c + k * h) + kw["dy2"]) * h - 0.5 * a * (c + k * h) * w
                - 0.5 * a * w * w / h]

    return field


def test_a_case_built_to_be_unstable_the_negative_root_repels_at_its_eigenvalue_rate():
    kw = {**RATES, "dy2": 0.5}
    h0, y0 = 0.05, 0.3
    c = float(conserved(h0, y0, eta_h=RATES["eta_h"], eta_y=RATES["eta_y"], dx2=RATES["dx2"]))
    minus = fixed_points(h0, y0, **kw)[2]
    assert minus.stability == "unstable" and float(minus.h) < 0
    fastest = float(minus.eigenvalues.real.max())
    assert np.all(minus.eigenvalues.real > 0)
    h_star = float(minus.h)
    t = np.linspace(0, 2000, 201)
    sol = solve_ivp(_reduced_field(kw, c), (0, t[-1]), [h_star * (1 + 1e-9), 0.0], t_eval=t, rtol=1e-11,
                    atol=1e-16)
    gap = np.abs(sol.y[0] - h_star)
    assert gap[-1] > 1e4 * gap[0]  # a start next to it leaves it
    early = (t > 300) & (gap < 1e-4 * abs(h_star))
    slope = np.polyfit(t[early], np.log(gap[early]), 1)[0]
    assert slope == pytest.approx(fastest, rel=0.02)
    # The same reduced field at h_plus is still (an oracle check of the field itself).
    plus = float(fixed_points(h0, y0, **kw)[0].h)
    assert np.allclose(_reduced_field(kw, c)(0, [plus, 0.0]), 0, atol=1e-15)


@pytest.mark.parametrize("c_sign", [1.0, -1.0, 0.0])
def test_identical_targets_one_dimensional_level_set(c_sign):
    kw = {**RATES, "dy2": 0.0}
    a = RATES["eta_h"] * RATES["dx2"]
    k = RATES["eta_y"] / a
    h0 = 0.04
    c = c_sign * 0.1  # y0 = h0 (C + k h0) >= 0 needs C >= -k h0 = -0.2
    y0 = h0 * (c + k * h0)
    plus, origin, minus = fixed_points(h0, y0, **kw)
    assert np.all(np.isnan(plus.eigenvalues[..., 1].real))
    t = np.array([0.0, 20000.0, 30000.0])
    h = exact_identical_targets(h0, y0, t, eta_h=RATES["eta_h"], eta_y=RATES["eta_y"], dx2=RATES["dx2"])[:, 0]
    if c_sign > 0:  # the points merge: h -> 0 = h_plus = origin, at rate a C
        assert float(plus.h) == 0 and plus.stability == "stable" and origin.stability == "stable"
        assert minus.stability == "unstable" and float(minus.h) == pytest.approx(-c / k)
        assert np.log(h[2] / h[1]) / 10000 == pytest.approx(float(plus.eigenvalues[0].real), rel=1e-3)
    elif c_sign < 0:  # h -> -C / k > 0; the origin repels and cannot be reached (y < 0 near it)
        assert float(plus.h) == pytest.approx(-c / k) and plus.stability == "stable"
        assert origin.stability == "unstable" and not origin.reachable
        assert np.log((h[2] - plus.h) / (h[1] - plus.h)) / 10000 == pytest.approx(
            float(plus.eigenvalues[0].real), rel=1e-3)
    else:  # C = 0: h = h0 / (1 + eta_y h0 t), algebraic decay with no exponential rate
        assert plus.stability == "marginal" and float(plus.h) == 0
        assert (1 / h[2] - 1 / h[1]) / 10000 == pytest.approx(RATES["eta_y"], rel=1e-9)


def test_fixed_points_broadcast_and_refuse_bad_input():
    points = fixed_points(np.full((2, 3), 0.1), 0.2, eta_h=np.array([0.01, 0.02, 0.03]), eta_y=0.02, dx2=1.0,
                          dy2=0.5)
    assert points[0].h.shape == (2, 3) and points[0].eigenvalues.shape == (2, 3, 2)
    assert points[0].stability.shape == (2, 3)
    with pytest.raises(ValueError, match="h0"):
        fixed_points(-0.1, 0.2, eta_h=0.01, eta_y=0.02, dx2=1.0, dy2=0.5)
    with pytest.raises(ValueError, match="dy2"):
        fixed_points(0.1, 0.2, eta_h=0.01, eta_y=0.02, dx2=1.0, dy2=-0.5)
    with pytest.raises(ValueError, match="z"):
        jacobian([0.0, 0.1, 0.1], eta_h=0.01, eta_y=0.02, dx2=1.0, dy2=0.5)


def _scaled_state(s, dx, dy, w_f, w_g):
    """(h, y, w) with encoder and decoder scaled by s: h ~ s^2, y and w ~ s^4."""
    dh = s * w_f @ dx
    dyhat = s * w_g @ dh
    y = dyhat @ dyhat
    return np.array([dh @ dh, y, y - dy @ dyhat])


def test_lazy_limit_approaches_solve_as_the_weight_scale_grows_like_one_over_s_squared():
    rng = np.random.default_rng(4)
    dx, dy, w_f, w_g = no_rotation_problem(rng, 2, 4, 1, 1.0)
    dy = dy / np.linalg.norm(dy) * np.sqrt(0.5)
    kw = {"eta_h": 0.01, "eta_y": 0.02, "dx2": dx @ dx}
    gaps = []
    for s in (16.0, 32.0, 64.0, 128.0):
        z0 = _scaled_state(s, dx, dy, w_f, w_g)
        t = np.linspace(0, 50, 201) / s**2  # the rescaled time tau = s^2 t
        z = solve(z0, t, **kw, dy2=0.5)
        limit = lazy_limit(z0, t, **kw)
        gaps.append(np.abs(z - limit).max(axis=0) / np.abs(z).max(axis=0))
    gaps = np.array(gaps)
    assert gaps[-1].max() < 0.01
    np.testing.assert_allclose(gaps[:-1] / gaps[1:], 4.0, rtol=0.1)  # error ~ 1 / s^2 for h, y and w


def test_lazy_limit_is_the_identical_target_dynamics_and_has_no_plateau():
    z0 = np.array([0.2, 3.0, 3.0])  # w = y: dy . dyhat = 0
    t = np.linspace(0, 400, 81)
    kw = {"eta_h": 0.01, "eta_y": 0.02, "dx2": 1.0}
    np.testing.assert_allclose(lazy_limit(z0, t, **kw), solve(z0, t, **kw, dy2=0.0), rtol=1e-7, atol=1e-12)
    # Immediate decay: the loss-driving w falls fastest at the start.
    w = lazy_limit(z0, t, **kw)[:, 2]
    assert np.all(np.diff(w) < 0) and np.all(np.diff(w, 2) > 0)
