"""Metrics and bars that several experiments share: each defined here once.

Numpy only at import (scipy is imported by :func:`spearman` when called).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from repdyn.runs import failed
from repdyn.theory import POOR_R2

#: R^2 at or above which a fitted curve "matches" the network's: the bar below
#: which the fit itself (:func:`repdyn.theory.fit`) calls a fit poor and retries
#: from other time scales, so that one number says both. A curve that misses
#: more than 10 % of its variance is visibly off in a plot. Used by fig2, fig3,
#: fig4, fig11 and adam.
R2_MATCH = POOR_R2

def median_or_nan(values: Sequence[float]) -> float:
    """Median that treats NaN as a value (NaN if any is NaN): a failed trial never improves a metric."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0 or np.any(np.isnan(arr)):
        return float("nan")
    return float(np.median(arr))


def matched_fraction(values: Sequence[float], bar: float = R2_MATCH) -> float:
    """Fraction of ``values`` (one per network) at or above ``bar``; NaN counts as a miss, no values give NaN."""
    arr = np.asarray(list(values), dtype=float)
    return float(np.sum(arr >= bar) / arr.size) if arr.size else float("nan")


def averaged_rates(results: Sequence[Mapping[str, Any]], *, skip_failed: bool) -> tuple[float, float, int]:
    """Mean fitted ``eta_h`` and ``eta_y`` over the trials with finite rates, and how many there were.

    A trial whose fit failed, or that diverged before it could be fitted, has
    no finite rates; it is left out of the means and of the count. No usable
    trial gives NaN rates (and every prediction from them is NaN).

    Parameters
    ----------
    results : sequence of dict
        Trial records with ``eta_h`` and ``eta_y`` (missing counts as NaN).
    skip_failed : bool
        Also leave out every trial whose status says it raised or lost its
        worker (:func:`failed`), whatever rates its record holds. The
        final-distance and random-features experiments do (their rates feed
        predictions for other trials); the XOR experiment reads every record.
        A failed trial's record from the sweep runner holds no rates, so both
        give the same means on such records.
    """
    rates = [(float(r["eta_h"]), float(r["eta_y"])) for r in results
             if not (skip_failed and failed(r)) and math.isfinite(float(r.get("eta_h", np.nan)))
             and math.isfinite(float(r.get("eta_y", np.nan)))]
    if not rates:
        return float("nan"), float("nan"), 0
    arr = np.array(rates)
    return float(arr[:, 0].mean()), float(arr[:, 1].mean()), len(rates)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation; NaN if a value is NaN, fewer than 3 points, or a side is constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.any(np.isnan(x)) or np.any(np.isnan(y)) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
