"""Claims with their uncertainty: holds on the point estimate, inconclusive when the interval straddles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repdyn.experiments import Claim
from repdyn.experiments._claims import bootstrap


def _claim(measured, relation=">=", threshold=0.9, **kw):
    return Claim(claim="c", metric="m", measured=measured, relation=relation, threshold=threshold, **kw)


def test_inconclusive_exactly_when_the_interval_straddles_the_threshold():
    assert _claim(0.95, interval=(0.85, 0.99)).inconclusive
    assert _claim(0.95, interval=(0.85, 0.99)).holds
    assert not _claim(0.95, interval=(0.91, 0.99)).inconclusive
    assert not _claim(0.5, interval=(0.3, 0.7)).inconclusive and not _claim(0.5, interval=(0.3, 0.7)).holds
    assert _claim(0.8, interval=(0.7, 0.95)).inconclusive and not _claim(0.8, interval=(0.7, 0.95)).holds
    # An end at the threshold itself: ">=" holds there, "<" does not.
    assert not _claim(1.0, threshold=1.0, interval=(1.0, 1.0)).inconclusive
    assert _claim(0.05, relation="<", threshold=0.1, interval=(0.01, 0.1)).inconclusive
    assert not _claim(0.95).inconclusive  # no interval: one trial
    assert not _claim(0.95, interval=(math.nan, math.nan)).inconclusive


def test_bootstrap_attaches_an_interval_over_the_unit_and_the_report_words():
    rng = np.random.default_rng(0)
    errors = rng.normal(0.18, 0.05, size=12)  # straddles a 0.2 bar
    claim = bootstrap(_claim(float(np.median(errors)), "<=", 0.2), np.median, errors, unit="grid trials")
    assert claim.inconclusive and claim.units == 12 and claim.unit == "grid trials"
    low, high = claim.interval
    assert low < 0.2 < high
    assert claim.uncertainty().startswith("[") and claim.uncertainty().endswith("over 12 grid trials")
    assert claim.to_dict()["inconclusive"] is True
    tight = bootstrap(_claim(float(np.median(errors / 10)), "<=", 0.2), np.median, errors / 10, unit="grid trials")
    assert not tight.inconclusive and tight.holds
    assert _claim(0.5, seeds=1).uncertainty() == "1 seed"
    with pytest.raises(ValueError, match="does not recompute"):
        bootstrap(_claim(0.5), np.mean, errors, unit="trials")
