"""Claims of the paper, checked numerically in every run, with their uncertainty."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from repdyn.vocabulary import json_ready

_RELATIONS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


def _holds(value: float, relation: str, threshold: float) -> bool:
    return not math.isnan(value) and bool(_RELATIONS[relation](value, threshold))


def _count(n: int, unit: str) -> str:
    """``"3 seeds"``, ``"1 seed"``: a plural unit's first word made singular for one."""
    if n != 1:
        return f"{n} {unit}"
    first, _, rest = unit.partition(" ")
    return f"1 {first[:-1] if first.endswith('s') else first}" + (f" {rest}" if rest else "")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the number that tests it.

    ``holds`` is computed, never passed: it is ``measured <relation> threshold``,
    and ``False`` whenever ``measured`` is NaN (a claim that could not be
    measured does not hold). ``inconclusive`` is computed too: the claim would
    hold at one end of its 95 % interval and fail at the other (the interval
    straddles the threshold); ``holds`` still reports the point estimate.

    Parameters
    ----------
    claim : str
        The paper's assertion, in words.
    metric : str
        What was measured, precisely enough to recompute it.
    measured : float
        The measured value.
    relation : {">=", "<=", ">", "<", "=="}
        How ``measured`` must compare with ``threshold`` for the claim to hold.
    threshold : float
        The bar, fixed once in the experiment's code (see docs/claims.md).
    interval : (float, float) or None
        95 % interval of ``measured``: a seeded bootstrap over ``unit``
        (:func:`bootstrap`). None where the metric rests on one trial.
    unit : str
        What the bootstrap resamples, plural (``"seeds"``, ``"grid trials"``).
    units : int or None
        How many of them the metric is computed over.
    seeds : int or None
        Trials (seeds) per network where the claim's metric reads one value
        per network: the report says "1 seed" when there is only one.
    """

    claim: str
    metric: str
    measured: float
    relation: str
    threshold: float
    interval: tuple[float, float] | None = None
    unit: str = ""
    units: int | None = None
    seeds: int | None = None
    holds: bool = field(init=False)
    inconclusive: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.relation not in _RELATIONS:
            raise ValueError(f"relation must be one of {sorted(_RELATIONS)}; got {self.relation!r}")
        measured = float(self.measured)
        object.__setattr__(self, "measured", measured)
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "holds", _holds(measured, self.relation, self.threshold))
        inconclusive = False
        if self.interval is not None:
            low, high = (float(v) for v in self.interval)
            object.__setattr__(self, "interval", (low, high))
            if math.isfinite(low) and math.isfinite(high):
                inconclusive = _holds(low, self.relation, self.threshold) != _holds(high, self.relation,
                                                                                      self.threshold)
        object.__setattr__(self, "inconclusive", inconclusive)

    @property
    def verdict(self) -> str:
        """``"holds"`` or ``"fails"`` (the point estimate), with ``", inconclusive"`` where that applies."""
        return ("holds" if self.holds else "fails") + (", inconclusive" if self.inconclusive else "")

    def uncertainty(self) -> str:
        """The interval in words, for a report: ``"[0.93, 0.98] over 60 grid trials"``, ``"1 seed"``, ``"-"``."""
        parts = []
        if self.interval is not None:
            low, high = self.interval
            span = (f"[{low:.3g}, {high:.3g}]" if math.isfinite(low) and math.isfinite(high)
                    else "undefined")
            parts.append(f"{span} over {_count(self.units, self.unit)}" if self.units is not None else span)
        if self.seeds is not None:
            parts.append(f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"
                         + (" per network" if self.interval is not None else ""))
        elif self.interval is None and self.units is not None:
            parts.append(f"{_count(self.units, self.unit)}: no interval")
        return "; ".join(parts) if parts else "-"

    def to_dict(self) -> dict[str, Any]:
        """The claim as JSON values (a NaN ``measured`` as None)."""
        return json_ready(asdict(self))


def bootstrap(claim: Claim, statistic: Callable[..., float], *samples: Any, unit: str, seed: int = 0) -> Claim:
    """``claim`` with the 95 % interval of its metric: :func:`repdyn.stats.bootstrap_interval` over ``unit``.

    ``statistic(*samples)`` must recompute ``claim.measured`` (it is checked);
    the first axis of every sample indexes the units, resampled together.
    """
    from repdyn.stats import bootstrap_interval

    again = float(statistic(*samples))
    if not (math.isnan(again) and math.isnan(claim.measured)) and not math.isclose(
            again, claim.measured, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(f"the statistic gives {again!r} on the data, not the claim's measured "
                         f"{claim.measured!r}: it does not recompute the claim's metric")
    return with_interval(claim, bootstrap_interval(statistic, *samples, seed=seed), unit=unit)


def with_interval(claim: Claim, interval: Any, *, unit: str) -> Claim:
    """``claim`` with a :class:`repdyn.stats.Interval` computed elsewhere (e.g. over the points of an RDM).

    Over fewer than two units there is nothing to resample: the claim keeps no
    interval (the report names the single seed instead).
    """
    if interval.units < 2:
        return replace(claim, unit=unit, units=interval.units)
    return replace(claim, interval=(interval.low, interval.high), unit=unit, units=interval.units)
