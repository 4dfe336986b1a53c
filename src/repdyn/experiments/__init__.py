"""The paper's experiments: trials as pure functions of configs, figures and claims.

- :class:`TwoPointConfig` / :func:`two_point_trial`: train, track and fit one
  network on two points (cacheable, runs on any executor).
- :data:`EXPERIMENTS`: the registry that ``repdyn list`` and ``repdyn reproduce`` read.
- :class:`Claim`: a claim of the paper with the number that tests it.
"""

from repdyn.experiments._claims import Claim
from repdyn.experiments._registry import (
    EXPERIMENTS,
    PROFILES,
    Experiment,
    ExperimentOutput,
    RunOptions,
)
from repdyn.experiments._two_point import DEFAULT_LOSS_THRESHOLD, TwoPointConfig, two_point_trial

__all__ = [
    "DEFAULT_LOSS_THRESHOLD",
    "EXPERIMENTS",
    "PROFILES",
    "Claim",
    "Experiment",
    "ExperimentOutput",
    "RunOptions",
    "TwoPointConfig",
    "two_point_trial",
]
