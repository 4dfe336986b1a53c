"""Trial records as the sweep returns them: which failed, and how many ended how."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from repdyn.sweep import STATUS_ERROR, STATUS_FAILED

#: Statuses of a trial that raised or lost its worker: it holds no measurements.
FAILED_STATUSES = (STATUS_ERROR, STATUS_FAILED)


def failed(result: Mapping[str, Any]) -> bool:
    """True for a trial that raised or lost its worker (no measurements at all)."""
    return result.get("status") in FAILED_STATUSES


def status_counts(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``{"trials": n, <status>: count, ...}`` over trial records, statuses in first-seen order."""
    counts: dict[str, int] = {"trials": len(results)}
    for r in results:
        status = str(r.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return counts
