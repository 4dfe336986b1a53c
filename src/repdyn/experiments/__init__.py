"""The paper's experiments: trials as pure functions of configs, figures and claims.

- :data:`EXPERIMENTS`: the registry (name, figure, description) that ``repdyn
  list`` and ``repdyn reproduce`` read; listing it imports no torch.
- :func:`run`: run one experiment from Python, as ``repdyn reproduce NAME``
  does; :func:`reproduce` runs several and writes the report.
- :func:`load_run`: read a run directory back (summary, trial table, trajectories).
- :class:`TwoPointConfig` / :func:`two_point_trial`: train, track and fit one
  network on two points (cacheable, runs on any executor);
  :func:`run_two_point` runs many and writes their data and figure.
- :class:`Claim`: a claim of the paper with the number that tests it.
- :func:`paper_style`: the package's matplotlib style (:data:`STYLE`), which
  every figure of the package is drawn with; :func:`write_json` writes a
  summary as the experiments do (NaN as null).

The package's parts (docs/extending.md):

- :mod:`repdyn.runs`: the trial functions and their configs
  (two-point, batched, data-set training);
- :mod:`repdyn.runs.structure`: the predicted representational
  structure of a data set and its comparison with a network's;
- ``studies/``: experiment bodies that several figures run with their own
  settings (an SGD figure and its Adam twin);
- ``figures/``: one module per registered experiment, each importing only
  shared modules, never another figure's;
- beside them the registry, claims, shared metrics, outputs, plots and the report.

Importing this package is cheap: the names that need torch load on first use.
"""

from importlib import import_module
from typing import Any

from repdyn.experiments._claims import Claim
from repdyn.runs._outputs import write_json
from repdyn.runs._plots import STYLE, paper_style
from repdyn.experiments._registry import (
    EXPERIMENTS,
    PROFILES,
    Experiment,
    ExperimentOutput,
    RunOptions,
)
from repdyn.experiments._report import SMOKE_NOTE
from repdyn.experiments._reproduce import estimate_seconds, reproduce, run
from repdyn.runs._run_data import Run, load_run

#: Public names whose modules import torch, loaded on first access.
_LAZY = {
    "DEFAULT_LOSS_THRESHOLD": "repdyn.runs._two_point",
    "TwoPointConfig": "repdyn.runs._two_point",
    "two_point_trial": "repdyn.runs._two_point",
    "run_two_point": "repdyn.runs._two_point_run",
    "estimate_trial_bytes": "repdyn.runs._two_point_run",
}

__all__ = [
    "DEFAULT_LOSS_THRESHOLD",
    "EXPERIMENTS",
    "PROFILES",
    "SMOKE_NOTE",
    "STYLE",
    "Claim",
    "Experiment",
    "ExperimentOutput",
    "Run",
    "RunOptions",
    "TwoPointConfig",
    "estimate_seconds",
    "estimate_trial_bytes",
    "load_run",
    "paper_style",
    "reproduce",
    "run",
    "run_two_point",
    "two_point_trial",
    "write_json",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'repdyn.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
