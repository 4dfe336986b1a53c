"""RDMs, their comparison, linear CKA and embeddings (repdyn.rsa).

Oracles: scipy's pdist, pearsonr and spearmanr; CKA through the HSIC formula
with an explicit centring matrix; MDS on a known point configuration.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group, pearsonr, spearmanr

from repdyn.rsa import compare_rdms, embed, linear_cka, rdm, upper_triangle


@pytest.fixture
def acts():
    return np.random.default_rng(0).normal(size=(20, 7))


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "correlation"])
def test_rdm_matches_pdist(acts, metric):
    D = rdm(acts, metric=metric)
    np.testing.assert_allclose(D, squareform(pdist(acts, metric)), rtol=1e-10, atol=1e-12)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0)


def test_rdm_normalisations(acts):
    scaled = acts * np.array([1, 10, 100, 1, 1, 1, 0.1])
    standard = (scaled - scaled.mean(0)) / scaled.std(0)
    np.testing.assert_allclose(
        rdm(scaled, normalise="zscore"), squareform(pdist(standard, "sqeuclidean")), rtol=1e-10
    )
    np.testing.assert_allclose(rdm(acts, normalise="units"), rdm(acts) / 7, rtol=1e-13)
    np.testing.assert_allclose(
        rdm(acts, metric="euclidean", normalise="units"), np.sqrt(rdm(acts) / 7), rtol=1e-13
    )
    # Conv-like activations: trailing axes are units.
    np.testing.assert_allclose(rdm(acts.reshape(20, 7, 1)), rdm(acts), rtol=0)
    # A constant unit is harmless under z-scoring.
    with_constant = np.column_stack([acts, np.full(20, 3.0)])
    np.testing.assert_allclose(
        rdm(with_constant, normalise="zscore"), rdm(acts, normalise="zscore"), rtol=1e-12
    )


def test_rdm_rejects_bad_input(acts):
    with pytest.raises(ValueError, match="metric"):
        rdm(acts, metric="cosine")
    with pytest.raises(ValueError, match="normalise"):
        rdm(acts, normalise="l2")
    flat = acts.copy()
    flat[4] = 1.0
    with pytest.raises(ValueError, match=r"points \[4\] are constant"):
        rdm(flat, metric="correlation")
    with pytest.raises(ValueError, match="NaN or inf"):
        rdm(np.full((3, 2), np.nan))


def test_compare_rdms_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(15, 4))
    b = a + 0.8 * rng.normal(size=(15, 4))
    A, B = rdm(a), rdm(b)
    u, v = pdist(a, "sqeuclidean"), pdist(b, "sqeuclidean")  # condensed = upper triangle
    np.testing.assert_allclose(upper_triangle(A), u, rtol=1e-10)
    assert compare_rdms(A, B) == pytest.approx(pearsonr(u, v)[0], rel=1e-10)
    assert compare_rdms(A, B, method="spearman") == pytest.approx(spearmanr(u, v)[0], rel=1e-10)
    # Ties (collapsed representations) get average ranks, as in scipy.
    a[3] = a[4] = a[5]
    A = rdm(a)
    u = pdist(a, "sqeuclidean")
    assert compare_rdms(A, B, method="spearman") == pytest.approx(spearmanr(u, v)[0], rel=1e-10)


def test_compare_rdms_excludes_within_class_blocks():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], 5)
    A, B = rdm(rng.normal(size=(15, 3))), rdm(rng.normal(size=(15, 3)))
    i, j = np.triu_indices(15, 1)
    between = labels[i] != labels[j]
    expected = pearsonr(A[i, j][between], B[i, j][between])[0]
    assert compare_rdms(A, B, exclude_blocks=labels) == pytest.approx(expected, rel=1e-10)
    assert upper_triangle(A, labels).size == between.sum() == 75
    # The lower triangle is not read.
    C = np.triu(B) + np.tril(rng.normal(size=(15, 15)), -1)
    assert compare_rdms(A, C) == compare_rdms(A, B)


def test_compare_rdms_edge_cases():
    A = rdm(np.random.default_rng(3).normal(size=(6, 2)))
    assert np.isnan(compare_rdms(A, np.ones((6, 6))))
    with pytest.raises(ValueError, match="same points"):
        compare_rdms(A, A[:5, :5])
    with pytest.raises(ValueError, match="method"):
        compare_rdms(A, A, method="kendall")
    with pytest.raises(ValueError, match="labels must have shape"):
        compare_rdms(A, A, exclude_blocks=[0, 1])
    with pytest.raises(ValueError, match="pair"):
        compare_rdms(A, A, exclude_blocks=[7] * 6)


def _cka_hsic(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    H = np.eye(n) - np.ones((n, n)) / n
    kx, ky = H @ x @ x.T @ H, H @ y @ y.T @ H
    return float(np.trace(kx @ ky) / np.sqrt(np.trace(kx @ kx) * np.trace(ky @ ky)))


@pytest.mark.parametrize("units", [(3, 5), (40, 60)])  # feature-space and kernel branch
def test_linear_cka_matches_hsic_and_is_invariant(units):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(25, units[0]))
    y = x @ rng.normal(size=(units[0], units[1])) + rng.normal(size=(25, units[1]))
    value = linear_cka(x, y)
    assert value == pytest.approx(_cka_hsic(x, y), rel=1e-10)
    assert 0 < value < 1
    q = ortho_group.rvs(units[1], random_state=5)
    assert linear_cka(x, 3.7 * y @ q + 2.0) == pytest.approx(value, rel=1e-10)
    assert linear_cka(x, x) == pytest.approx(1.0, rel=1e-12)
    # Not invariant to a general linear map.
    assert abs(linear_cka(x, y * np.linspace(0.1, 10, units[1])) - value) > 1e-3


def test_linear_cka_rejects_bad_input():
    x = np.random.default_rng(6).normal(size=(10, 3))
    with pytest.raises(ValueError, match="same points"):
        linear_cka(x, x[:9])
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(x, np.ones((10, 2)))


def test_mds_recovers_a_known_configuration():
    rng = np.random.default_rng(7)
    points = rng.normal(size=(30, 3)) * np.array([5.0, 2.0, 0.5])
    D2 = squareform(pdist(points, "sqeuclidean"))
    e = embed(D2, 3, method="mds")
    np.testing.assert_allclose(squareform(pdist(e.coords, "sqeuclidean")), D2, rtol=1e-8, atol=1e-9)
    assert e.negative < 1e-12
    np.testing.assert_allclose(e.explained.sum(), 1.0, rtol=1e-10)
    assert np.all(np.diff(e.eigenvalues) <= 0)
    np.testing.assert_allclose(e.eigenvalues, (e.coords**2).sum(0), rtol=1e-10)
    # Plain distances give the same embedding.
    plain = embed(np.sqrt(D2), 3, method="mds", squared=False)
    np.testing.assert_allclose(plain.coords, e.coords, rtol=1e-7, atol=1e-8)
    # Classical MDS of the squared Euclidean RDM is PCA.
    pca = embed(points, 3, method="pca")
    np.testing.assert_allclose(pca.coords, e.coords, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(pca.eigenvalues, e.eigenvalues, rtol=1e-8)


def test_mds_flags_non_euclidean_matrices_and_pca_limits():
    D = np.ones((4, 4)) - np.eye(4)
    D[0, 1] = D[1, 0] = 10.0  # breaks the triangle inequality badly
    e = embed(D, 2, method="mds")
    assert e.negative > 0.05
    with pytest.raises(ValueError, match="n_components"):
        embed(np.ones((5, 2)), 3)
    with pytest.raises(ValueError, match="symmetric"):
        embed(np.triu(D), 2, method="mds")
    with pytest.raises(ValueError, match="method"):
        embed(D, 2, method="tsne")


def _noisy_copy(rng, points, noise):
    return rdm(points + noise * rng.normal(size=points.shape))


def test_mantel_rejects_on_a_true_match_and_not_on_shuffled_points():
    from repdyn.rsa import mantel_test

    rng = np.random.default_rng(7)
    points = rng.normal(size=(30, 3))
    network = rdm(points)
    match = _noisy_copy(rng, points, 0.5)
    result = mantel_test(network, match, permutations=199)
    assert result.p_value == pytest.approx(1 / 200) and not result.exact
    assert result.statistic == pytest.approx(compare_rdms(network, match, method="spearman"))
    # The same prediction with its points in another order is no match: over 200 shufflings
    # the test rejects at 5 % about 5 % of the time (binomial spread 1.5 %).
    rejected = 0
    for seed in range(200):
        perm = np.random.default_rng(seed).permutation(30)
        rejected += mantel_test(network, match[np.ix_(perm, perm)], permutations=99, seed=seed).p_value <= 0.05
    assert rejected / 200 <= 0.1


def test_mantel_is_exact_for_few_points_and_keeps_labels_with_the_first_matrix():
    from repdyn.rsa import mantel_test

    rng = np.random.default_rng(8)
    four = rdm(rng.normal(size=(4, 2)))
    result = mantel_test(four, four)
    assert result.exact and result.permutations == 24 and result.p_value == pytest.approx(1 / 24)
    # Labels: the between-class pairs of `a` are the ones compared under every permutation.
    points = rng.normal(size=(12, 2))
    labels = np.repeat([0, 1, 2], 4)
    a, b = rdm(points), _noisy_copy(rng, points, 0.3)
    with_labels = mantel_test(a, b, exclude_blocks=labels, permutations=99)
    assert with_labels.statistic == pytest.approx(compare_rdms(a, b, method="spearman", exclude_blocks=labels))
    gen, hits = np.random.default_rng(0), 0
    keep = labels[:, None] != labels[None, :]
    i, j = np.nonzero(np.triu(keep, 1))
    for _ in range(99):
        perm = gen.permutation(12)
        hits += spearmanr(a[i, j], b[perm[i], perm[j]]).statistic >= with_labels.statistic - 1e-12
    assert with_labels.p_value == pytest.approx((1 + hits) / 100)
    with pytest.raises(ValueError, match="exclude_blocks"):
        mantel_test(a, b, exclude_blocks=labels[:5])
    with pytest.raises(ValueError, match="method"):
        mantel_test(a, b, method="kendall")


def test_rdm_correlation_interval_resamples_points():
    from repdyn.rsa import rdm_correlation_interval

    rng = np.random.default_rng(9)
    points = rng.normal(size=(40, 3))
    network = rdm(points)
    related = rdm_correlation_interval(network, _noisy_copy(rng, points, 0.5), resamples=500)
    observed = compare_rdms(network, _noisy_copy(np.random.default_rng(9), points, 0.5), method="spearman")
    assert related.units == 40 and related.low > 0.3
    unrelated = rdm_correlation_interval(network, rdm(rng.normal(size=(40, 3))), resamples=500)
    assert unrelated.contains(0.0)  # independent configurations: no correlation
    assert related.low < related.high and np.isfinite(observed)
