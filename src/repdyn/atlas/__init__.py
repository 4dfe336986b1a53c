"""The theory atlas: where does the effective theory hold in a network, for which pairs and layers?

``repdyn.atlas(model, dataset, ...)`` (this module is callable: it runs
:func:`atlas`) trains a network on a whole data set while tracking many pairs
of its points at many layers, fits the theory to every (pair, layer), predicts
each pair's final distance with rates fitted on the other pairs, compares the
tracked points' final structure with the theory's predictions, and writes a
report. ``repdyn atlas`` is the same at the command line.

- :func:`atlas`: one run, cached in a result store; returns an :class:`AtlasResult`.
- :func:`plan_atlas`: resolve and check the settings (an :class:`AtlasConfig`)
  without running anything; :class:`AtlasInputError` names a bad argument;
  :func:`run_atlas` runs a planned config.
- Built-in models: :data:`CNN` (``"cnn"``) and every registered architecture
  of ``repdyn.nets.ARCHITECTURES`` (the paper's networks); :data:`DEFAULT_MODELS`
  per data set; :data:`DATASETS`: the built-in data sets.
- :data:`FIT_STATES`, :data:`PREDICTORS`, :data:`STRATA`, :data:`STRUCTURE_METHODS`:
  the coordinates of the atlas Dataset (``atlas.nc``); :data:`TABLES`: its
  tables (one row per pair and layer, one per layer), which
  ``repdyn.load_run(out)`` gives as ``.trials`` and ``.table("layers")``.

Importing this module is cheap: torch loads when a run starts.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from repdyn.atlas._analysis import FIT_STATES, PREDICTORS, STRATA, STRUCTURE_METHODS
from repdyn.atlas._config import DEFAULT_PAIRS, AtlasConfig, plan_atlas
from repdyn.atlas._dataset import TABLES
from repdyn.atlas._inputs import CNN, DATASETS, DEFAULT_MODELS, AtlasInputError
from repdyn.atlas._run import DEFAULT_OUT, AtlasResult, atlas, run_atlas

__all__ = [
    "CNN",
    "DATASETS",
    "DEFAULT_MODELS",
    "DEFAULT_OUT",
    "DEFAULT_PAIRS",
    "FIT_STATES",
    "PREDICTORS",
    "STRATA",
    "STRUCTURE_METHODS",
    "TABLES",
    "AtlasConfig",
    "AtlasInputError",
    "AtlasResult",
    "atlas",
    "plan_atlas",
    "run_atlas",
]


class _CallableModule(types.ModuleType):
    """``repdyn.atlas(...)`` runs :func:`atlas`: the package and the function share the name."""

    def __call__(self, *args: Any, **kwargs: Any) -> AtlasResult:
        return atlas(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
