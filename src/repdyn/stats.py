"""Uncertainty of a statistic: a seeded percentile bootstrap over the units it is computed from.

Numpy only, below every other layer (like :mod:`repdyn.checks`): the
experiments, the atlas and :mod:`repdyn.rsa` use it.

A metric computed over several units (trials, seeds, networks, points) is
recomputed on ``resamples`` samples of the units drawn with replacement;
the interval holds the central ``level`` of those values (the percentile
bootstrap). Samples that move together (a trial's prediction and its
measurement, seed ``s`` of every network) are passed as arrays sharing their
first axis and are resampled with the same indices. The generator is seeded, so
the same data give the same interval in every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn import checks

__all__ = ["BOOTSTRAP_RESAMPLES", "CONFIDENCE", "PERMUTATIONS", "Interval", "bootstrap_interval"]

#: Resamples of :func:`bootstrap_interval`: with 2,000 the 2.5 % and 97.5 %
#: percentiles rest on 50 values each, and run to run they move by about a
#: tenth of the interval's width.
BOOTSTRAP_RESAMPLES = 2000
#: The level of every interval the project reports.
CONFIDENCE = 0.95
#: Random permutations of a permutation test (:func:`repdyn.rsa.mantel_test`):
#: its p-value resolves down to 1/1000.
PERMUTATIONS = 999
#: Below this fraction of resamples with a finite statistic the interval is
#: NaN: too many resamples (a constant sample, a single repeated unit) leave
#: the statistic undefined for the rest to describe its spread.
_MIN_DEFINED = 0.5


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval of a statistic.

    Attributes
    ----------
    low, high : float
        The ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the
        resampled statistic; NaN when it cannot be estimated (fewer than two
        units, or too few resamples with a finite statistic).
    level : float
        The central fraction of the resampled values the interval holds.
    units : int
        How many units were resampled.
    resamples : int
        How many resamples gave a finite statistic (the others are left out).
    """

    low: float
    high: float
    level: float
    units: int
    resamples: int

    @property
    def defined(self) -> bool:
        """Whether both ends are finite numbers."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    def contains(self, value: float) -> bool:
        """Whether ``low <= value <= high`` (False for an undefined interval)."""
        return self.defined and self.low <= value <= self.high


def bootstrap_interval(
    statistic: Callable[..., float],
    *samples: Any,
    level: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic(*samples)`` over the units of ``samples``.

    Parameters
    ----------
    statistic : callable
        Takes arrays like ``samples`` (the same number, each with its first
        axis resampled) and returns a float; NaN where it is undefined.
    *samples : array_like
        One or more arrays whose first axis indexes the units (the same
        length for all); unit ``i`` of every array is drawn together.
    level : float, default :data:`CONFIDENCE`
        Central fraction, in (0, 1).
    resamples : int, default :data:`BOOTSTRAP_RESAMPLES`
        Number of bootstrap samples (>= 100).
    seed : int, default 0
        Seed of the generator (the same data and seed give the same interval).

    Returns
    -------
    Interval
        NaN ends when there are fewer than two units or fewer than half of the
        resamples give a finite statistic.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.stats import bootstrap_interval
    >>> errors = np.array([0.1, 0.3, 0.2, 0.5, 0.15, 0.25])
    >>> bootstrap_interval(np.median, errors).low <= np.median(errors)
    True
    """
    if not callable(statistic):
        raise checks.ArgumentTypeError("statistic", f"statistic must be a function of the samples; got "
                                                    f"{checks.describe(statistic)}")
    level = checks.real("level", level, above=0.0, below=1.0)
    resamples = checks.integer("resamples", resamples, minimum=100)
    seed = checks.seed("seed", seed)
    if not samples:
        raise checks.ArgumentValueError("samples", "samples must hold at least one array of units")
    arrays = [np.asarray(s) for s in samples]
    if any(a.ndim == 0 for a in arrays):
        raise checks.ArgumentValueError("samples", "every sample must have a first axis that indexes the units")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        lengths = ", ".join(str(a.shape[0]) for a in arrays)
        raise checks.ArgumentValueError("samples", f"samples must have the same number of units (first axis); "
                                                   f"got {lengths}")
    nan = Interval(math.nan, math.nan, level, n, 0)
    if n < 2:
        return nan
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for b in range(resamples):
        index = rng.integers(0, n, size=n)
        values[b] = float(statistic(*(a[index] for a in arrays)))
    finite = values[np.isfinite(values)]
    if finite.size < _MIN_DEFINED * resamples:
        return Interval(math.nan, math.nan, level, n, int(finite.size))
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), level, n, int(finite.size))
