"""The Jacobian of rhs: against finite differences, and its eigenvalues against the solver's."""

from __future__ import annotations

import numpy as np
import pytest
from _theory_oracles import reachable_states
from hypothesis import given, settings
from hypothesis import strategies as st

from repdyn.theory import final_distance, jacobian, rhs
from repdyn.theory._system import _Field, _fastest, _scale

pytestmark = pytest.mark.filterwarnings("error")


def central_differences(z, args, step=1e-6):
    """d rhs / d z by central differences, column by column (step relative to each variable)."""
    out = np.empty((3, 3))
    for j in range(3):
        dz = np.zeros(3)
        dz[j] = step * max(abs(z[j]), 1e-3)
        out[:, j] = (rhs(z + dz, **args) - rhs(z - dz, **args)) / (2 * dz[j])
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_jacobian_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    dy2 = float(rng.uniform(0.05, 2.0))
    z = reachable_states(rng, 1, dy2=dy2)[0]
    z[0] = rng.uniform(0.05, 2.0)  # away from h = 0, where rhs divides by h
    args = {"eta_h": 10 ** rng.uniform(-3, 0), "eta_y": 10 ** rng.uniform(-3, 0),
            "dx2": 10 ** rng.uniform(-1, 1), "dy2": dy2}
    exact = jacobian(z, **args)
    numeric = central_differences(z, args)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-8 * np.abs(exact).max())


def test_jacobian_broadcasts_like_rhs():
    rng = np.random.default_rng(1)
    z = reachable_states(rng, 6, dy2=0.5).reshape(2, 3, 3)
    eta_h = rng.uniform(0.01, 0.1, 3)
    j = jacobian(z, eta_h=eta_h, eta_y=0.02, dx2=1.0, dy2=0.5)
    assert j.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(j[1, 2], jacobian(z[1, 2], eta_h=eta_h[2], eta_y=0.02, dx2=1.0, dy2=0.5))


def field_eigenvalues(h, y, w, args):
    """Eigenvalues of the Jacobian of the solver's field (by central differences) at the
    state (h, y, w), in the solver's coordinates (sigma, gamma1, gamma2)."""
    scaled = _scale(*(np.array([v]) for v in (h, y, w, args["eta_h"], args["eta_y"], args["dx2"],
                                              args["dy2"])), shape=())
    field = _Field(scaled, interleaved=False)
    x = scaled.x0.reshape(-1)
    numeric = np.empty((3, 3))
    for j in range(3):
        dx = np.zeros(3)
        dx[j] = 1e-6
        numeric[:, j] = (field(0.0, x + dx) - field(0.0, x - dx)) / 2e-6
    return np.linalg.eigvals(numeric), scaled


def random_problem(rng):
    dy2 = float(rng.uniform(0.05, 2.0))
    h, y = rng.uniform(0.05, 2.0), rng.uniform(0.01, 2.0)
    w = y - rng.uniform(-0.95, 0.95) * np.sqrt(dy2 * y)
    args = {"eta_h": 10 ** rng.uniform(-3, 0), "eta_y": 10 ** rng.uniform(-3, 0),
            "dx2": 10 ** rng.uniform(-1, 1), "dy2": dy2}
    return h, y, w, args


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_solvers_stiffness_is_the_largest_eigenvalue_of_its_field(seed):
    # The field is gradient flow with positive rates: real eigenvalues, and the
    # closed form the solver chooses its method by gives the largest magnitude.
    h, y, w, args = random_problem(np.random.default_rng(seed))
    eigenvalues, scaled = field_eigenvalues(h, y, w, args)
    assert np.max(np.abs(eigenvalues.imag)) <= 1e-9 * np.max(np.abs(eigenvalues))
    fastest = _fastest(scaled.x0, scaled.rate_h, scaled.rate_y, scaled.delta)
    assert float(fastest[0]) == pytest.approx(np.max(np.abs(eigenvalues)), rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_at_the_fixed_point_jacobian_has_the_fields_eigenvalues(seed):
    # Jacobians in two coordinate systems are similar where the field vanishes. At the
    # fixed point gamma2 = 0, and y depends on gamma2 only through gamma2^2, so the
    # eigenvalue across dy appears doubled in (h, y, w); the other two agree.
    h0, y0, _, args = random_problem(np.random.default_rng(seed))
    h_inf = float(final_distance(h0, y0, **args).h_inf)
    rest = np.array([h_inf, args["dy2"], 0.0])
    np.testing.assert_allclose(rhs(rest, **args), 0.0, atol=1e-12 * max(h_inf, args["dy2"]))
    ours = np.sort(np.linalg.eigvals(jacobian(rest, **args)).real)
    field, scaled = field_eigenvalues(*rest, args)
    across = -scaled.rate_y[0] / 2 * (scaled.x0[0, 0] ** 2)  # d gamma2/dt = -B/2 sigma^2 gamma2
    field = np.sort(field.real)
    i = int(np.argmin(np.abs(field - across)))
    expected = np.sort(np.concatenate([np.delete(field, i), [2 * across]]))
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-9 * np.max(np.abs(expected)))


def test_jacobian_checks_its_arguments():
    with pytest.raises(ValueError, match="eta_h must be finite numbers > 0"):
        jacobian([0.1, 0.1, 0.0], eta_h=0.0, eta_y=1.0, dx2=1.0, dy2=0.5)
    with pytest.raises(TypeError, match="eta_y"):
        jacobian([0.1, 0.1, 0.0], eta_h=1.0, eta_y=True, dx2=1.0, dy2=0.5)
    with pytest.raises(ValueError, match=r"z\[..., 0\] \(h"):
        jacobian([0.0, 0.1, 0.0], eta_h=1.0, eta_y=1.0, dx2=1.0, dy2=0.5)
