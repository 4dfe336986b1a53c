"""Structure predictions of whole data sets: distances from every method, the chosen default, Mantel p."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from repdyn.runs.structure import DEFAULT_VARIANT, VARIANTS, mantel_p, predict_structure, variant_name
from repdyn.rsa import compare_rdms, rdm
from repdyn.theory import exponential_weighing, weighed_distances


def _clusters(seed: int = 0, sizes: tuple[int, ...] = (4, 8, 16)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clusters of unequal size around random centres, one-hot targets by cluster."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    x = 2.0 * rng.normal(size=(len(sizes), 6))[labels] + 0.5 * rng.normal(size=(len(labels), 6))
    return x, np.eye(len(sizes))[labels], labels


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_method_gives_squared_distances(name):
    x, y, _ = _clusters(1)
    d = predict_structure(x, y, eta_ratio=0.3, **VARIANTS[name])
    assert d.shape == (len(x), len(x))
    assert np.all(np.diag(d) == 0.0), "a squared-distance matrix has a zero diagonal"
    assert np.array_equal(d, d.T) and np.all(d >= 0)
    assert np.ptp(d[np.triu_indices(len(x), 1)]) > 0, "the prediction must not be constant"


def test_centred_weighing_is_the_distance_of_the_smoothed_points():
    # Row-normalised weights W on Euclidean squared distances: D_ij = ||m_i - m_j||^2, m = W a.
    rng = np.random.default_rng(2)
    a = rng.normal(size=(30, 3))
    A = rdm(a)
    w = exponential_weighing(A, tau=0.7, normalise=True, count_violations=False)
    weights = np.exp(-A / 0.7)
    m = (weights / weights.sum(1, keepdims=True)) @ a
    np.testing.assert_allclose(w.d, rdm(m), atol=1e-10 * A.max())
    assert w.negative == 0.0
    # The paper's matrix itself keeps its positive diagonal; zeroing leaves the rest as it is.
    assert np.all(np.diag(w.p) > 0)
    zeroed, clipped = weighed_distances(w.p, form="zeroed")
    off = ~np.eye(30, dtype=bool)
    assert np.array_equal(zeroed[off], w.p[off]) and clipped == 0.0


def test_centring_clips_negative_entries_and_reports_them():
    p = np.array([[4.0, 1.0, 3.0], [1.0, 2.0, 3.0], [3.0, 3.0, 0.0]])
    d, negative = weighed_distances(p)
    # P_01 - (P_00 + P_11) / 2 = 1 - 3 < 0: clipped, 2 of the 6 off-diagonal entries.
    expected = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.0, 2.0, 0.0]])
    np.testing.assert_array_equal(d, expected)
    assert negative == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="distances"):
        weighed_distances(p, form="halved")


def test_the_default_separates_merged_targets_where_the_old_default_does_not():
    # Rich limit: same-target points merge. With clusters of unequal size the old default (median tau,
    # plain E A E, diagonal ignored) puts points of large clusters far from everything, as measured on MNIST.
    assert VARIANTS[DEFAULT_VARIANT] == {"method": "exp", "tau_quantile": 0.1, "normalise": True,
                                         "distances": "centred"}
    for seed in range(3):
        x, y, labels = _clusters(seed)
        same = labels[:, None] == labels[None, :]
        off = ~np.eye(len(labels), dtype=bool)
        network = rdm(3.0 * y)
        default = predict_structure(x, y)
        old = predict_structure(x, y, **VARIANTS["exp_median_plain_zeroed"])
        assert default[same & off].max() < default[~same].min()
        assert old[same & off].max() > old[~same].min()
        r_default = compare_rdms(network, default, method="spearman")
        r_old = compare_rdms(network, old, method="spearman")
        assert r_default > r_old + 0.1


def test_fast_mantel_p_equals_reranking_every_permutation():
    rng = np.random.default_rng(3)
    a, b = rdm(rng.normal(size=(15, 2))), rdm(rng.normal(size=(15, 2)))
    b = 0.5 * a + b
    i, j = np.triu_indices(15, 1)
    ra = rankdata(a[i, j])
    observed = np.corrcoef(ra, rankdata(b[i, j]))[0, 1]
    gen = np.random.default_rng(0)
    hits = 0
    for _ in range(99):
        perm = gen.permutation(15)
        hits += np.corrcoef(ra, rankdata(b[perm[i], perm[j]]))[0, 1] >= observed - 1e-12
    assert mantel_p(a, b, permutations=99, seed=0) == pytest.approx((1 + hits) / 100)
    assert mantel_p(a, b, permutations=99) < 0.05
    shuffled = b[np.ix_(rng.permutation(15), rng.permutation(15))]
    assert mantel_p(a, 0.5 * (shuffled + shuffled.T), permutations=99) > 0.05


def test_variant_names_of_resolved_settings():
    assert variant_name("pairwise", {}) == "pairwise"
    assert variant_name("exp", {"tau": 3.0, "tau_quantile": 0.1, "normalise": True,
                                "distances": "centred"}) == DEFAULT_VARIANT
    assert variant_name("exp", {"tau": 1.0, "normalise": False, "distances": "zeroed"}) == "exp_tau1_plain_zeroed"
    assert variant_name("exp", {"tau": 0.5, "normalise": False, "distances": "zeroed"}) is None
