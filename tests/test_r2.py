"""repdyn.theory.r2 against independent computations, and its undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repdyn.theory import r2


def r2_by_hand(observed, predicted) -> float:
    """``1 - SS_res / SS_tot`` in plain Python with exactly rounded sums (math.fsum)."""
    observed, predicted = [float(v) for v in observed], [float(v) for v in predicted]
    mean = math.fsum(observed) / len(observed)
    ss_tot = math.fsum((o - mean) ** 2 for o in observed)
    ss_res = math.fsum((o - p) ** 2 for o, p in zip(observed, predicted))
    return 1.0 - ss_res / ss_tot


def test_r2_matches_an_exactly_summed_computation():
    rng = np.random.default_rng(0)
    for scale in (1e-6, 1.0, 1e5):
        observed = scale * rng.standard_normal(200)
        predicted = observed + 0.3 * scale * rng.standard_normal(200)
        value = r2(observed, predicted)
        assert isinstance(value, float)
        assert value == pytest.approx(r2_by_hand(observed, predicted), rel=1e-12)
    assert r2(observed, observed) == 1.0
    assert r2(observed, np.full_like(observed, observed.mean())) == pytest.approx(0.0, abs=1e-12)
    assert r2(observed, -observed) < -1  # worse than the mean: negative, unbounded


def test_r2_matches_scikit_learn_per_series():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    observed = rng.standard_normal((4, 50, 3)) * [1.0, 1e-3, 10.0]
    predicted = observed + 0.2 * rng.standard_normal(observed.shape) * [1.0, 1e-3, 10.0]
    values = r2(observed, predicted, axis=-2)
    assert values.shape == (4, 3)
    for b in range(4):
        expected = metrics.r2_score(observed[b], predicted[b], multioutput="raw_values")
        np.testing.assert_allclose(values[b], expected, rtol=1e-12)
    # axis=None pools every value into one series.
    assert r2(observed[0, :, 0], predicted[0, :, 0]) == pytest.approx(values[0, 0], rel=1e-15)


def test_a_constant_series_has_no_r2():
    constant = np.full(10, 3.5)
    # 0/0 for a perfect prediction and -inf for another one: both NaN.
    assert math.isnan(r2(constant, constant))
    assert math.isnan(r2(constant, constant + 1.0))
    assert math.isnan(r2(np.empty(0), np.empty(0)))
    # Per series: only the constant column is NaN.
    z = np.stack([np.arange(10.0), constant, np.arange(10.0) ** 2], axis=-1)
    values = r2(z, z * 1.01, axis=0)
    assert math.isnan(values[1]) and np.all(np.isfinite(values[[0, 2]]))


def test_atol_sets_what_counts_as_constant():
    # Root-mean-square deviation from the mean is exactly 1 for +-1 alternating.
    observed = np.tile([-1.0, 1.0], 8)
    predicted = 0.9 * observed
    assert r2(observed, predicted, atol=0.999) == pytest.approx(r2_by_hand(observed, predicted))
    assert math.isnan(r2(observed, predicted, atol=1.0))
    assert math.isnan(r2(observed, predicted, atol=1.001))


def test_a_prediction_that_is_not_finite_has_no_r2():
    observed = np.arange(6.0)
    for bad in (np.nan, np.inf, -np.inf):
        predicted = observed.copy()
        predicted[2] = bad
        assert math.isnan(r2(observed, predicted))
    both = np.stack([observed, observed], axis=-1)
    predicted = both.copy()
    predicted[2, 1] = np.nan
    values = r2(both, predicted, axis=0)
    assert values[0] == 1.0 and math.isnan(values[1])


@pytest.mark.parametrize(
    ("observed", "predicted", "kwargs", "match"),
    [
        (np.arange(3.0), np.arange(4.0), {}, "predicted must have the shape of observed"),
        (np.array([1.0, np.nan]), np.ones(2), {}, "observed must be finite numbers; got an array"),
        (np.arange(3.0), np.arange(3.0), {"atol": -1.0}, "atol must be a finite number >= 0; got -1.0"),
        (np.arange(3.0), np.arange(3.0), {"axis": 1}, "axis must lie in"),
    ],
)
def test_bad_input_is_a_clear_error(observed, predicted, kwargs, match):
    with pytest.raises(ValueError, match=match):
        r2(observed, predicted, **kwargs)
