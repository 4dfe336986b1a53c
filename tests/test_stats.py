"""The seeded bootstrap interval (repdyn.stats) on data whose spread is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repdyn.stats import BOOTSTRAP_RESAMPLES, Interval, bootstrap_interval


def test_interval_of_a_mean_covers_the_true_mean_about_95_percent_of_the_time():
    # 400 samples of 40 normal values: the percentile interval of the mean should
    # cover the true mean in about 95 % of them (the percentile bootstrap of a
    # mean of 40 runs a little short, about 94 %; the binomial spread over 400
    # repetitions is 1.2 %, so the bounds are 2.5 spreads away).
    rng = np.random.default_rng(1)
    covered, widths = 0, []
    for rep in range(400):
        sample = rng.normal(2.0, 3.0, size=40)
        interval = bootstrap_interval(np.mean, sample, resamples=1000, seed=rep)
        covered += interval.contains(2.0)
        widths.append(interval.high - interval.low)
    assert 0.91 <= covered / 400 <= 0.98
    # Its width is that of the known spread of a mean: 2 * 1.96 * sigma / sqrt(n).
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 3.0 / math.sqrt(40), rel=0.1)


def test_paired_samples_are_resampled_together():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = x + 0.01 * rng.normal(size=200)  # nearly identical pairs

    def correlation(a, b):
        return float(np.corrcoef(a, b)[0, 1])

    together = bootstrap_interval(correlation, x, y)
    assert together.low > 0.999  # drawn as pairs, the correlation stays ~1
    # Drawn independently the pairs would be broken and the correlation ~0.
    apart = bootstrap_interval(lambda a: correlation(a, y[:a.size]), x)
    assert apart.low < 0.5


def test_seeded_and_reproducible_and_undefined_cases():
    sample = np.arange(10.0)
    first, again = bootstrap_interval(np.median, sample, seed=3), bootstrap_interval(np.median, sample, seed=3)
    assert first == again and first.units == 10 and first.resamples == BOOTSTRAP_RESAMPLES
    one = bootstrap_interval(np.median, np.array([1.0]))
    assert isinstance(one, Interval) and math.isnan(one.low) and not one.defined and not one.contains(1.0)
    # A statistic undefined on most resamples gives no interval, not one from the few that remain.
    undefined = bootstrap_interval(lambda a: np.nan if a.min() < 9 else 1.0, sample)
    assert not undefined.defined and undefined.resamples < BOOTSTRAP_RESAMPLES / 2


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(np.mean, np.ones(5), level=1.5)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_interval(np.mean, np.ones(5), resamples=10)
    with pytest.raises(TypeError, match="resamples"):
        bootstrap_interval(np.mean, np.ones(5), resamples=True)
    with pytest.raises(ValueError, match="same number of units"):
        bootstrap_interval(lambda a, b: 0.0, np.ones(5), np.ones(4))
    with pytest.raises(TypeError, match="statistic"):
        bootstrap_interval(np.ones(5), np.ones(5))
