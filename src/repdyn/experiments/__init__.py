"""The paper's experiments: their settings, figures and claims; the follow-up's, apart.

- :data:`EXPERIMENTS`: the registry (name, figure, description, group) that
  ``repdyn list`` and ``repdyn reproduce`` read; listing it imports no torch.
  :data:`GROUPS`: the paper's experiments, and the follow-up's (van Rossem &
  Saxe 2025, recurrent networks; ``followup/``), which run only when named
  (:func:`in_group`, :func:`expand_names`).
- :func:`run`: run one experiment from Python, as ``repdyn reproduce NAME``
  does; :func:`reproduce` runs several and writes the report;
  :func:`estimate_seconds` guesses their run time; :func:`plan` says what
  they will cost on a device (batches, memory, time) before anything trains.
- :class:`RunOptions`: an experiment's profile (:data:`PROFILES`) and its
  execution (a :class:`repdyn.runs.Execution`); :class:`ExperimentOutput`
  what it returns.
- :class:`Claim`: a claim of the paper with the number that tests it.

Everything an experiment shares with the command line and the atlas (the
two-point and data-set trials, their files, :func:`repdyn.load_run`, the
figure style, the structure predictions) lives one layer below, in
:mod:`repdyn.runs`. The package's own parts (docs/extending.md):

- ``studies/``: experiment bodies that several figures run with their own
  settings (an SGD figure and its Adam twin);
- ``figures/``: one module per registered experiment, each importing only
  shared modules, never another figure's;
- beside them the registry, claims, shared metrics, the paper's two-point
  and data-set settings, and the report;
- ``followup/``: the follow-up's experiments, whose studies are
  :mod:`repdyn.sequences`'.
"""

from repdyn.experiments._claims import Claim
from repdyn.experiments._registry import (
    EXPERIMENTS,
    GROUPS,
    PROFILES,
    Experiment,
    ExperimentOutput,
    RunOptions,
    expand_names,
    in_group,
)
from repdyn.experiments._report import SMOKE_NOTE
from repdyn.experiments._reproduce import ReproducePlan, estimate_seconds, experiment_trials, plan, reproduce, run

__all__ = [
    "EXPERIMENTS",
    "GROUPS",
    "PROFILES",
    "SMOKE_NOTE",
    "Claim",
    "Experiment",
    "ExperimentOutput",
    "ReproducePlan",
    "RunOptions",
    "estimate_seconds",
    "expand_names",
    "experiment_trials",
    "in_group",
    "plan",
    "reproduce",
    "run",
]
