"""Each trial counted once in a run-time estimate, however many experiments share it.

Experiments share trials (fig11's are fig2's and fig3's, fig5's rate trials
include fig2's, the Adam twins rerun their SGD twins' trials): the result
store computes each once, so an estimate over several experiments must count
each once too. The per-trial estimators report every trial to :func:`once`;
inside :func:`counting_each_trial_once` a trial already counted costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator
from contextvars import ContextVar

_COUNTED: ContextVar[dict[Hashable, float] | None] = ContextVar("counted_trials", default=None)


def once(config: Hashable, seconds: float) -> float:
    """``seconds``, or 0.0 when the estimate under way has already counted ``config``."""
    counted = _COUNTED.get()
    if counted is None:
        return seconds
    if config in counted:
        return 0.0
    counted[config] = seconds
    return seconds


@contextlib.contextmanager
def counting_each_trial_once() -> Iterator[dict[Hashable, float]]:
    """Within the block, the per-trial estimators count each distinct trial config once.

    Yields the configs counted so far with the seconds each was counted at (the
    distinct trials of the experiments estimated in the block, for a planner).
    """
    counted: dict[Hashable, float] = {}
    token = _COUNTED.set(counted)
    try:
        yield counted
    finally:
        _COUNTED.reset(token)
