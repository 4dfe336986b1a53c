"""Pairwise predictions, exponential weighing and triangle counts (repdyn.theory._pairwise).

Oracles: scipy's pdist, final_distance called pair by pair on differences
computed directly, explicit loops over triangles and over the sums of E A E.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from repdyn.theory import (
    default_tau,
    exponential_weighing,
    final_distance,
    pairwise_final_distances,
    rich_limit_distances,
    squared_distances,
    triangle_violations,
)

RATE_H, RATE_Y = 0.8, 0.3


def _dataset(rng: np.random.Generator, n: int = 14, *, labels: int = 3):
    """Inputs with a duplicate row, one-hot targets with repeats, a generic initial state."""
    X = rng.normal(size=(n, 5))
    X[3] = X[7]
    Y = np.eye(labels)[rng.integers(0, labels, n)]
    H0 = rng.normal(size=(n, 9))
    H0[3] = H0[7]
    Yhat0 = 0.2 * rng.normal(size=(n, labels))
    return X, Y, H0, Yhat0


def _sq(a: np.ndarray, i: int, j: int) -> float:
    d = np.asarray(a[i] - a[j], dtype=float).ravel()
    return float(d @ d)


# ---------------------------------------------------------------------------
# squared distances


def test_squared_distances_match_pdist_and_are_exact_where_it_matters():
    rng = np.random.default_rng(0)
    # Large offset: the Gram expansion alone would lose digits on close pairs.
    P = 1e3 + rng.normal(size=(40, 30))
    P[5] = P[9]
    P[11] = P[12] + 1e-7
    D = squared_distances(P, chunk_size=50)
    ref = squareform(pdist(P, "sqeuclidean"))
    np.testing.assert_allclose(D, ref, rtol=1e-10, atol=0)
    assert np.array_equal(D, D.T)
    assert np.all(np.diag(D) == 0)
    assert D[5, 9] == 0.0
    assert D[11, 12] == pytest.approx(_sq(P, 11, 12), rel=1e-9)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 10**9])
def test_chunked_equals_unchunked(chunk_size):
    rng = np.random.default_rng(1)
    X, Y, H0, Yhat0 = _dataset(rng, n=23)
    full = {"chunk_size": 10**9}
    for f, args, rates in [
        (squared_distances, (X,), {}),
        (rich_limit_distances, (X, Y), {"eta_h": 2.0, "eta_y": 1.0}),
        (pairwise_final_distances, (X, Y, H0, Yhat0), {"eta_h": RATE_H, "eta_y": RATE_Y}),
    ]:
        a, b = f(*args, **rates, chunk_size=chunk_size), f(*args, **rates, **full)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14 * np.abs(b).max())
        assert np.array_equal(a, a.T)


# ---------------------------------------------------------------------------
# rich limit


def test_rich_limit_entries_follow_the_formula_and_merge_same_targets():
    rng = np.random.default_rng(2)
    X, Y, _, _ = _dataset(rng)
    ratio = 2.5
    A = rich_limit_distances(X, Y, eta_h=ratio, eta_y=1.0, chunk_size=20)
    for i, j in itertools.combinations(range(len(X)), 2):
        expected = np.sqrt(_sq(X, i, j) * _sq(Y, i, j) * ratio)
        assert A[i, j] == pytest.approx(expected, rel=1e-10)
        if np.array_equal(Y[i], Y[j]) or np.array_equal(X[i], X[j]):
            assert A[i, j] == 0.0
    assert np.array_equal(A, A.T) and np.all(np.diag(A) == 0)
    # Only the rate ratio enters, through its square root.
    np.testing.assert_allclose(rich_limit_distances(X, Y, eta_h=4 * ratio, eta_y=1.0), 2 * A, rtol=1e-12)


def test_rich_limit_is_the_small_weight_limit_of_the_full_prediction():
    rng = np.random.default_rng(3)
    X, Y, H0, Yhat0 = _dataset(rng)
    A = rich_limit_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y)
    errors = []
    for scale in (1e-2, 1e-4):
        # Small weights: representations ~ s, outputs ~ s^2.
        H = pairwise_final_distances(X, Y, scale * H0, scale**2 * Yhat0, eta_h=RATE_H, eta_y=RATE_Y)
        errors.append(np.abs(H - A).max() / A.max())
    assert errors[1] < 1e-3 and errors[1] < errors[0] / 10


# ---------------------------------------------------------------------------
# full prediction from the initial state


def test_every_entry_is_final_distance_of_its_pair():
    rng = np.random.default_rng(4)
    X, Y, H0, Yhat0 = _dataset(rng)
    H = pairwise_final_distances(X, Y, H0, Yhat0, eta_h=RATE_H, eta_y=RATE_Y, chunk_size=30)
    n = len(X)
    for i, j in itertools.product(range(n), range(n)):
        dx2, dy2, h0, y0 = _sq(X, i, j), _sq(Y, i, j), _sq(H0, i, j), _sq(Yhat0, i, j)
        if dx2 == 0:
            assert H[i, j] == h0  # h never moves; 0 on the diagonal
            continue
        expected = float(final_distance(h0, y0, eta_h=RATE_H, eta_y=RATE_Y, dx2=dx2, dy2=dy2).h_inf)
        assert H[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert np.array_equal(H, H.T)
    assert np.all(np.diag(H) == 0)


def test_degenerate_pairs_take_the_documented_limits():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    Y = np.array([[0.0], [1.0], [3.0], [2.0]])
    H0 = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [3.0, 1.0]])
    Yhat0 = np.array([[0.5], [0.5], [0.9], [0.1]])
    H = pairwise_final_distances(X, Y, H0, Yhat0, eta_h=RATE_H, eta_y=RATE_Y)
    ratio = RATE_H / RATE_Y
    # (0, 1): h0 = 0 and y0 = 0 -> rich limit.
    assert H[0, 1] == pytest.approx(np.sqrt(1.0 * 1.0 * ratio), rel=1e-12)
    # (0, 2): h0 = 0 but y0 > 0 -> A_high -> -inf -> 0.
    assert H[0, 2] == 0.0
    # (0, 3): same input, different representations -> h stays at h0 = 4.
    assert H[0, 3] == 4.0
    # A nearby regular pair approaches the h0 = 0 limits continuously.
    eps = 1e-7
    near = final_distance(eps, 0.0, eta_h=RATE_H, eta_y=RATE_Y, dx2=1.0, dy2=1.0).h_inf
    assert near == pytest.approx(H[0, 1], rel=1e-6)
    near = final_distance(eps, 0.16, eta_h=RATE_H, eta_y=RATE_Y, dx2=4.0, dy2=9.0).h_inf
    assert near < 1e-5


def test_pairwise_inputs_are_checked():
    rng = np.random.default_rng(5)
    X, Y, H0, Yhat0 = _dataset(rng)
    with pytest.raises(ValueError, match="Y must have one row per data point"):
        rich_limit_distances(X, Y[:-1], eta_h=1.0, eta_y=1.0)
    with pytest.raises(ValueError, match="eta_h must be finite numbers > 0"):
        rich_limit_distances(X, Y, eta_h=-1.0, eta_y=1.0)
    with pytest.raises(ValueError, match="eta_y must be a single positive number"):
        rich_limit_distances(X, Y, eta_h=1.0, eta_y=[1.0, 2.0])
    with pytest.raises(TypeError, match="positional"):
        rich_limit_distances(X, Y, 1.0)  # the rates are keyword-only
    with pytest.raises(ValueError, match="Yhat0 must have the same number of output columns"):
        pairwise_final_distances(X, Y, H0, Yhat0[:, :1], eta_h=1.0, eta_y=1.0)
    with pytest.raises(ValueError, match="chunk_size"):
        squared_distances(X, chunk_size=0)
    with pytest.raises(ValueError, match=r"points must be finite numbers.*element \(1, 0\) is nan"):
        squared_distances(np.array([[0.0], [np.nan]]))


# ---------------------------------------------------------------------------
# triangle inequality


def _brute_force_violations(D: np.ndarray, tol: float) -> int:
    bad = 0
    for i, j, k in itertools.combinations(range(len(D)), 3):
        a, b, c = D[i, j], D[i, k], D[j, k]
        bad += (a > b + c + tol) or (b > a + c + tol) or (c > a + b + tol)
    return bad


@pytest.mark.parametrize("seed", range(4))
def test_triangle_count_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 13
    D = squareform(rng.exponential(size=n * (n - 1) // 2))
    # Exactly degenerate triangles are not violations, whichever side is long.
    D[2, 5] = D[5, 2] = D[2, 7] + D[7, 5]
    D[8, 10] = D[10, 8] = D[1, 8] + D[1, 10]
    count = triangle_violations(D, chunk_size=1 + seed * 17)
    assert count.violations == _brute_force_violations(D, 1e-12 * D.max())
    assert count.checked == count.total == n * (n - 1) * (n - 2) // 6
    assert count.exact and 0 < count.fraction < 1


def test_euclidean_distances_never_violate_but_their_squares_can():
    rng = np.random.default_rng(6)
    P = rng.normal(size=(25, 3))
    assert triangle_violations(np.sqrt(squared_distances(P))).violations == 0
    line = squared_distances(np.arange(4.0))  # squared distances of collinear points
    assert triangle_violations(line).violations == _brute_force_violations(line, 0) > 0


def test_sampled_triangle_count_estimates_the_fraction():
    rng = np.random.default_rng(7)
    n = 30
    D = squareform(rng.exponential(size=n * (n - 1) // 2))
    exact = triangle_violations(D)
    sampled = triangle_violations(D, sample=20_000, seed=1, chunk_size=4096)
    assert not sampled.exact and sampled.checked == 20_000
    # Binomial standard error ~ 0.0035; 5 of them.
    assert abs(sampled.fraction - exact.fraction) < 0.018
    assert (
        triangle_violations(
            np.sqrt(squared_distances(rng.normal(size=(n, 2)))), sample=5000
        ).violations
        == 0
    )


# ---------------------------------------------------------------------------
# exponential weighing


def _symmetric(rng: np.random.Generator, n: int) -> np.ndarray:
    return squareform(rng.exponential(size=n * (n - 1) // 2))


def test_weighing_is_e_a_e():
    rng = np.random.default_rng(8)
    A = _symmetric(rng, 9)
    tau = 0.7
    w = exponential_weighing(A, tau=tau)
    E = np.exp(-A / tau)
    n = len(A)
    expected = np.array(
        [
            [sum(E[i, k] * A[k, l] * E[l, j] for k in range(n) for l in range(n)) for j in range(n)]
            for i in range(n)
        ]
    )
    np.testing.assert_allclose(w.p, expected, rtol=1e-12)
    assert np.array_equal(w.p, w.p.T) and w.tau == tau
    assert w.violations_before == triangle_violations(np.sqrt(A))
    # Violations after weighing are those of the distances presented (centred, zero diagonal).
    centred = expected - 0.5 * (np.diag(expected)[:, None] + np.diag(expected)[None, :])
    np.testing.assert_allclose(w.d, np.maximum(centred, 0.0) * (1 - np.eye(n)), rtol=1e-10, atol=1e-12)
    assert w.violations_after == triangle_violations(np.sqrt(w.d))


def test_tau_to_infinity_gives_the_sum_everywhere():
    rng = np.random.default_rng(9)
    A = _symmetric(rng, 8)
    for tau in (np.inf, 1e300):
        w = exponential_weighing(A, tau=tau)
        np.testing.assert_allclose(w.p, np.full_like(A, A.sum()), rtol=1e-13)
        assert w.violations_after.violations == 0
        normalised = exponential_weighing(A, tau=tau, normalise=True)
        np.testing.assert_allclose(normalised.p, np.full_like(A, A.mean()), rtol=1e-13)


def test_tau_to_zero_gives_a_or_sums_over_zero_groups():
    rng = np.random.default_rng(10)
    A = _symmetric(rng, 8)
    w = exponential_weighing(A, tau=1e-9 * A[A > 0].min())
    np.testing.assert_array_equal(w.p, A)
    assert w.underflow == 1.0
    # Rich-limit-like zeros between same-target points: P -> Z A Z.
    X = rng.normal(size=(8, 2))
    Y = np.array([0, 0, 1, 1, 1, 2, 2, 3.0])
    A = rich_limit_distances(X, Y, eta_h=1.0, eta_y=1.0)
    Z = (A == 0).astype(float)
    w = exponential_weighing(A, tau=1e-9 * A[A > 0].min())
    expected = np.array([[A[np.ix_(Z[i] > 0, Z[j] > 0)].sum() for j in range(8)] for i in range(8)])
    np.testing.assert_allclose(w.p, expected, rtol=1e-13)
    np.testing.assert_allclose(w.p, Z @ A @ Z, rtol=1e-13)


def test_default_tau_is_a_quantile_of_the_positive_entries_and_scale_free():
    rng = np.random.default_rng(11)
    X = 255 * rng.random(size=(30, 784))  # raw pixel values, MNIST-sized
    Y = np.eye(2)[rng.integers(0, 2, 30)]
    A = rich_limit_distances(X, Y, eta_h=1.0, eta_y=1.0)
    upper = A[np.triu_indices(30, 1)]
    assert default_tau(A) == np.quantile(upper[upper > 0], 0.1) < np.median(upper[upper > 0])
    assert default_tau(A, quantile=0.5) == np.median(upper[upper > 0])
    with pytest.raises(ValueError, match="quantile"):
        default_tau(A, quantile=0.0)
    w = exponential_weighing(A, count_violations=False)
    assert w.tau == default_tau(A) and w.underflow == 0.0
    assert w.violations_before is None and w.violations_after is None
    scaled = exponential_weighing(1e-3 * A, count_violations=False)
    np.testing.assert_allclose(scaled.p, 1e-3 * w.p, rtol=1e-10)
    np.testing.assert_allclose(scaled.d, 1e-3 * w.d, rtol=1e-8, atol=1e-12 * w.d.max())
    # The paper's tau = 1 on raw values: every between-class weight underflows.
    positive = np.count_nonzero(A > 0) / (30 * 29)
    assert exponential_weighing(A, tau=1.0, count_violations=False).underflow == positive > 0.3
    assert default_tau(np.zeros((4, 4))) == 1.0


def test_weighing_inputs_are_checked():
    A = _symmetric(np.random.default_rng(12), 5)
    with pytest.raises(ValueError, match=r"tau must be a number > 0 \(inf allowed\)"):
        exponential_weighing(A, tau=0.0)
    with pytest.raises(TypeError, match="tau must be"):
        exponential_weighing(A, tau="big")
    B = A.copy()
    B[0, 1] += 1
    with pytest.raises(ValueError, match="A must be symmetric"):
        exponential_weighing(B)
    with pytest.raises(ValueError, match="square"):
        triangle_violations(np.ones((3, 4)))
    with pytest.raises(ValueError, match="sample"):
        triangle_violations(A, sample=0)
