"""The effective theory of two-point representation learning dynamics.

Pure numpy/scipy (importing this module never imports torch, and imports
``scipy.integrate`` and ``scipy.optimize``, about 0.4 s, only inside the
functions that use them). The formulas are
those of ``docs/theory.md``: variables ``h = ||dh||^2``, ``y = ||dyhat||^2`` and
``w = y - dy . dyhat`` evolve under two effective learning rates ``eta_h`` and
``eta_y``; the loss adds a third, ``eta_m``.

Also the vocabulary of everything repdyn writes: :data:`VOCABULARY` (the
``long_name`` and units of every variable of its netCDF files and Datasets,
set by :func:`describe` and :func:`attributes`, with the run's units among
:data:`RATE_UNITS` and :data:`EPOCH_UNITS`) and :func:`json_ready` (values
for its JSON files: NaN and inf as null).

Calling convention
------------------
Every function and method here takes its arguments in one order:

1. the state or data it acts on, positional: ``z0``, ``z``, ``(h0, y0)``,
   ``observed``; ``X, Y`` and, where given, the initial state ``H0, Yhat0``;
   a matrix ``D``, ``A`` or ``P``;
2. the times ``t``, positional, where the function has them;
3. everything else keyword-only, in this order: the rates (``eta_h``,
   ``eta_y``, ``eta_m``; always both of ``eta_h`` and ``eta_y``, never their
   ratio), the problem's constants (``dx2``, ``dy2``, ``m0``), then options
   (``rtol``, ``method``, ``chunk_size``, ...).

For example ``solve(z0, t, eta_h=..., eta_y=..., dx2=..., dy2=...)``,
``fit(observed, t, dx2=..., dy2=...)``,
``final_distance(h0, y0, eta_h=..., eta_y=..., dx2=..., dy2=...)`` and
``pairwise_final_distances(X, Y, H0, Yhat0, eta_h=..., eta_y=...)``. A rate or
constant given by position is a ``TypeError``.
"""

from repdyn.theory._estimator import RateEstimator
from repdyn.theory._exact import exact_identical_targets
from repdyn.theory._fit import OBJECTIVES, POOR_R2, QUALITIES, FitResult, fit, fit_quality, project_initial_state
from repdyn.theory._fixed_point import FinalDistance, conserved, final_distance
from repdyn.theory._loss import loss_curve
from repdyn.theory._npoint import encoder_kernel, npoint_distances
from repdyn.theory._r2 import r2
from repdyn.theory._pairwise import (
    DEFAULT_TAU_QUANTILE,
    DISTANCE_FORMS,
    ExponentialWeighing,
    TriangleCount,
    default_tau,
    exponential_weighing,
    pairwise_final_distances,
    rich_limit_distances,
    squared_distances,
    triangle_violations,
    weighed_distances,
)
from repdyn.theory._system import SolverError, rhs, solve
from repdyn.theory._vocabulary import EPOCH_UNITS, RATE_UNITS, VOCABULARY, attributes, describe, json_ready

VARIABLES = ("h", "y", "w")

__all__ = [
    "DEFAULT_TAU_QUANTILE",
    "DISTANCE_FORMS",
    "EPOCH_UNITS",
    "OBJECTIVES",
    "POOR_R2",
    "QUALITIES",
    "RATE_UNITS",
    "VARIABLES",
    "VOCABULARY",
    "ExponentialWeighing",
    "FinalDistance",
    "FitResult",
    "RateEstimator",
    "SolverError",
    "TriangleCount",
    "attributes",
    "conserved",
    "default_tau",
    "describe",
    "encoder_kernel",
    "exact_identical_targets",
    "exponential_weighing",
    "final_distance",
    "fit",
    "fit_quality",
    "json_ready",
    "loss_curve",
    "npoint_distances",
    "pairwise_final_distances",
    "project_initial_state",
    "r2",
    "rhs",
    "rich_limit_distances",
    "solve",
    "squared_distances",
    "triangle_violations",
    "weighed_distances",
]
