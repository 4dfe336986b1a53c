"""What this machine can hold: runs too large for its memory are refused before they start."""

from __future__ import annotations

import os

from repdyn import checks

#: Share of the memory available now that one run may plan to use; the rest is
#: left to the system and to the estimate's slack.
MEMORY_SHARE = 0.8


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: float) -> str:
    """``585 MB``, ``6.4 kB``: three significant digits."""
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


def require_memory(parameter: str, needed: float, what: str, fix: str) -> None:
    """Refuse a run whose estimated memory ``needed`` (bytes) exceeds what this machine has free.

    ``parameter`` is the argument that sets the size (``"pairs"``), ``what``
    says which values set it (``"tracking 100000 pairs at 5 layers"``), ``fix``
    what to lower.

    Raises
    ------
    repdyn.checks.ArgumentValueError
        The run would not fit; nothing has started.
    """
    free = available_memory()
    if free is not None and needed > MEMORY_SHARE * free:
        raise checks.ArgumentValueError(
            parameter, f"{what} needs about {format_bytes(needed)} of memory and this machine has "
            f"{format_bytes(free)} available; {fix}")


#: The longest run a command starts on its own estimate (a week of wall time):
#: longer runs are refused before they start, with what sets their length.
#: An estimate is rough (a factor of a few either way), and a run past a week
#: is a job for a cluster's batch queue, split into several.
MAX_RUN_SECONDS = 7 * 24 * 3600.0


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``41 days``: two significant digits."""
    for unit, factor in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= factor:
            return f"{seconds / factor:.2g} {unit}"
    return f"{seconds:.2g} s"


def require_time(parameter: str, seconds: float, what: str, fix: str) -> None:
    """Refuse a run whose estimated wall time ``seconds`` exceeds :data:`MAX_RUN_SECONDS`.

    ``parameter`` is the argument that sets the length (``"trials"``),
    ``what`` says which values set it, ``fix`` what to lower.

    Raises
    ------
    repdyn.checks.ArgumentValueError
        The run would take longer than a week; nothing has started.
    """
    if not seconds <= MAX_RUN_SECONDS:
        raise checks.ArgumentValueError(
            parameter, f"{what} would take about {format_seconds(seconds)} on this machine, more than the "
            f"{format_seconds(MAX_RUN_SECONDS)} a command starts on its own; {fix}")
