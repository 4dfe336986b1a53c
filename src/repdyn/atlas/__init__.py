"""The theory atlas: where does the effective theory hold in a network, for which pairs and layers?

``repdyn.atlas(model, data, ...)`` runs :func:`atlas` (the package is called
with the function's own signature): it trains a network on a whole data set
while tracking many pairs of its points at many layers, fits the theory to
every (pair, layer), predicts each pair's final distance with rates fitted on
the other pairs, compares the tracked points' final structure with the
theory's predictions, and writes a report. ``repdyn atlas`` is the same at
the command line.

- :func:`atlas`: one run, cached in a result store; returns an :class:`AtlasResult`.
- :func:`plan_atlas`: resolve and check the settings (an :class:`AtlasConfig`)
  without running anything; :func:`estimate_atlas` its memory and time;
  :func:`run_atlas` runs a planned config. Bad input raises
  :class:`repdyn.checks.BadArgument` (``AtlasInputError`` is its old name),
  whose ``parameter`` names the argument.
- What a model, data and input distance can be is resolved by
  :mod:`repdyn.runs` (:func:`~repdyn.runs.model_source`,
  :func:`~repdyn.runs.data_source`, :func:`~repdyn.runs.input_distance_source`);
  :data:`DEFAULT_MODELS`: the model each built-in data set gets.
- :data:`FIT_STATES`, :data:`PREDICTORS`, :data:`STRATA`, :data:`STRUCTURE_METHODS`:
  the coordinates of the atlas Dataset (``atlas.nc``); :data:`TABLES`: its
  tables (one row per pair and layer, one per layer), which
  ``repdyn.load_run(out)`` gives as ``.trials`` and ``.table("layers")``.

Importing this module is cheap: torch loads when a run starts.
"""

from __future__ import annotations

import inspect
import sys
import types

from repdyn.atlas._analysis import FIT_STATES, PREDICTORS, STRATA, STRUCTURE_METHODS
from repdyn.atlas._config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_MODELS,
    DEFAULT_PAIRS,
    AtlasConfig,
    AtlasEstimate,
    estimate_atlas,
    plan_atlas,
)
from repdyn.atlas._dataset import TABLES
from repdyn.atlas._run import DEFAULT_OUT, AtlasResult, atlas, run_atlas
from repdyn.checks import BadArgument as AtlasInputError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DEFAULT_MODELS",
    "DEFAULT_OUT",
    "DEFAULT_PAIRS",
    "FIT_STATES",
    "PREDICTORS",
    "STRATA",
    "STRUCTURE_METHODS",
    "TABLES",
    "AtlasConfig",
    "AtlasEstimate",
    "AtlasInputError",
    "AtlasResult",
    "atlas",
    "estimate_atlas",
    "plan_atlas",
    "run_atlas",
]


class _AtlasPackage(types.ModuleType):
    """``repdyn.atlas(...)`` is :func:`atlas`: the package and its function share the name.

    Python gives a package no call of its own, so the package's type calls
    the function itself, and ``__signature__`` (below) is the function's, so
    that ``inspect.signature(repdyn.atlas)`` and ``help`` show its parameters.
    """

    __call__ = staticmethod(atlas)


#: The signature of ``repdyn.atlas(...)``: :func:`atlas`'s own.
__signature__ = inspect.signature(atlas)

sys.modules[__name__].__class__ = _AtlasPackage
