"""The N-point extension beyond the paper (repdyn.theory._npoint).

Oracles: the two-point theory (final_distance) for N = 2; the integrated flow
from small balanced weights for the closed-form rich limit; exact geometric
facts (Euclidean points never violate the triangle inequality).
"""

from __future__ import annotations

import numpy as np
import pytest

from repdyn.theory import (
    encoder_kernel,
    final_distance,
    npoint_distances,
    rich_limit_distances,
    squared_distances,
    triangle_violations,
)

RATE_H, RATE_Y = 0.3, 0.7


def _feature_distance(K: np.ndarray) -> float:
    return float(K[0, 0] + K[1, 1] - 2 * K[0, 1])


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_two_points_rich_limit_is_a_low(kernel):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    q = _feature_distance(encoder_kernel(X, kernel=kernel))
    dy2 = float(np.sum((Y[0] - Y[1]) ** 2))
    D = npoint_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y, kernel=kernel)
    expected = float(final_distance(1.0, 0.0, eta_h=RATE_H, eta_y=RATE_Y, dx2=q, dy2=dy2).a_low)
    assert D[0, 1] == pytest.approx(expected, rel=1e-12)
    if kernel == "linear":
        pairwise = rich_limit_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y)
        np.testing.assert_allclose(D, pairwise, rtol=1e-12)
    else:  # the RBF feature distance is below dx2 and close to it for near points
        assert q < float(np.sum((X[0] - X[1]) ** 2))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("weight_scale", [0.3, 3.0])  # intermediate and lazy
def test_two_points_flow_reaches_final_distance(kernel, weight_scale):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    H0 = weight_scale * rng.normal(size=(2, 6))
    Yhat0 = weight_scale * rng.normal(size=(2, 2))
    q = _feature_distance(encoder_kernel(X, kernel=kernel))
    h0, y0 = float(np.sum((H0[0] - H0[1]) ** 2)), float(np.sum((Yhat0[0] - Yhat0[1]) ** 2))
    dy2 = float(np.sum((Y[0] - Y[1]) ** 2))
    D = npoint_distances(X, Y, H0, Yhat0, eta_h=RATE_H, eta_y=RATE_Y, kernel=kernel)
    expected = float(final_distance(h0, y0, eta_h=RATE_H, eta_y=RATE_Y, dx2=q, dy2=dy2).h_inf)
    assert D[0, 1] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kernel, length_scale", [("linear", None), ("rbf", 0.7), ("rbf", None)])
def test_flow_from_small_balanced_weights_reaches_the_closed_form(kernel, length_scale):
    rng = np.random.default_rng(2)
    n = 8
    X, Y = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    rich = npoint_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y, kernel=kernel, length_scale=length_scale)
    errors = []
    for s in (1e-2, 1e-4):
        init = np.random.default_rng(3)
        # Small weights in both maps: representations ~ s, outputs ~ s^2.
        H0, Yhat0 = s * init.normal(size=(n, 10)), s**2 * init.normal(size=(n, 2))
        flow = npoint_distances(
            X, Y, H0, Yhat0, eta_h=RATE_H, eta_y=RATE_Y, kernel=kernel, length_scale=length_scale
        )
        errors.append(np.abs(flow - rich).max() / rich.max())
    assert errors[1] < 1e-5 and errors[1] < errors[0] / 100


def test_rich_limit_is_a_configuration_that_merges_same_targets():
    rng = np.random.default_rng(4)
    n = 30
    X = rng.normal(size=(n, 4))
    labels = rng.integers(0, 4, n)
    Y = np.eye(4)[labels]
    D = npoint_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0)
    same = labels[:, None] == labels[None, :]
    assert np.abs(D[same]).max() < 1e-10 * D.max()
    assert D[~same].min() > 0
    assert triangle_violations(np.sqrt(D)).violations == 0
    # The pairwise rich limit of the paper breaks it on the same data.
    pairwise = rich_limit_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y)
    assert triangle_violations(np.sqrt(pairwise)).violations > 0
    # Only the rate ratio enters, through its square root.
    np.testing.assert_allclose(npoint_distances(X, Y, eta_h=4 * RATE_H, eta_y=RATE_Y), 2 * D, rtol=1e-10)


def test_one_output_gives_a_line_ordered_by_target():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    D = npoint_distances(X, y, eta_h=RATE_H, eta_y=RATE_Y)
    dy2 = squared_distances(y)
    ratio = D[dy2 > 0] / dy2[dy2 > 0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-8)
    # XOR: same-target corners merge, all others at one distance.
    Xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1.0]])
    D = npoint_distances(Xor, np.array([0, 1, 1, 0.0]), eta_h=1.0, eta_y=1.0)
    assert abs(D[0, 3]) < 1e-12 and abs(D[1, 2]) < 1e-12
    np.testing.assert_allclose(D[[0, 0, 3, 3], [1, 2, 1, 2]], D[0, 1], rtol=1e-10)


def test_given_kernel_matrix_is_used_as_is():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    K = encoder_kernel(X, kernel="rbf", length_scale=0.9)
    np.testing.assert_allclose(
        npoint_distances(X, Y, eta_h=1.0, eta_y=1.0, kernel=K),
        npoint_distances(X, Y, eta_h=1.0, eta_y=1.0, kernel="rbf", length_scale=0.9),
        rtol=1e-12,
    )
    np.testing.assert_allclose(encoder_kernel(X, kernel="linear"), X @ X.T)
    with pytest.raises(ValueError, match="positive semi-definite"):
        npoint_distances(X, Y, eta_h=1.0, eta_y=1.0, kernel=-np.eye(6))
    with pytest.raises(ValueError, match="shape"):
        npoint_distances(X, Y, eta_h=1.0, eta_y=1.0, kernel=np.eye(5))


def test_npoint_inputs_are_checked():
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    with pytest.raises(ValueError, match="together"):
        npoint_distances(X, Y, eta_h=1.0, eta_y=1.0, H0=np.ones((5, 3)))
    with pytest.raises(ValueError, match="same for every point"):
        npoint_distances(X, Y, np.ones((5, 3)), np.zeros((5, 1)), eta_h=1.0, eta_y=1.0)
    with pytest.raises(ValueError, match="kernel must be one of"):
        npoint_distances(X, Y, eta_h=1.0, eta_y=1.0, kernel="poly")
    with pytest.raises(ValueError, match="eta_y"):
        npoint_distances(X, Y, eta_h=1.0, eta_y=0.0)
    with pytest.raises(ValueError, match="length_scale applies"):
        encoder_kernel(X, kernel="linear", length_scale=1.0)
