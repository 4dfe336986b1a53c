"""Claims of the paper, checked numerically in every run."""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field
from typing import Any

from repdyn.vocabulary import json_ready

_RELATIONS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and the number that tests it.

    ``holds`` is computed, never passed: it is ``measured <relation> threshold``,
    and ``False`` whenever ``measured`` is NaN (a claim that could not be
    measured does not hold).

    Parameters
    ----------
    claim : str
        The paper's assertion, in words.
    metric : str
        What was measured, precisely enough to recompute it.
    measured : float
        The measured value.
    relation : {">=", "<=", ">", "<"}
        How ``measured`` must compare with ``threshold`` for the claim to hold.
    threshold : float
        The bar, fixed once in the experiment's code (see docs/claims.md).
    """

    claim: str
    metric: str
    measured: float
    relation: str
    threshold: float
    holds: bool = field(init=False)

    def __post_init__(self) -> None:
        if self.relation not in _RELATIONS:
            raise ValueError(f"relation must be one of {sorted(_RELATIONS)}; got {self.relation!r}")
        measured = float(self.measured)
        object.__setattr__(self, "measured", measured)
        object.__setattr__(self, "threshold", float(self.threshold))
        ok = not math.isnan(measured) and _RELATIONS[self.relation](measured, self.threshold)
        object.__setattr__(self, "holds", bool(ok))

    def to_dict(self) -> dict[str, Any]:
        """The claim as JSON values (a NaN ``measured`` as None)."""
        return json_ready(asdict(self))
