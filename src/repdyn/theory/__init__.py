"""The effective theory of two-point representation learning dynamics.

Pure numpy/scipy (importing this module never imports torch, and imports
``scipy.integrate`` and ``scipy.optimize``, about 0.4 s, only inside the
functions that use them). The formulas are
those of ``docs/theory.md``: variables ``h = ||dh||^2``, ``y = ||dyhat||^2`` and
``w = y - dy . dyhat`` evolve under two effective learning rates ``eta_h`` and
``eta_y``; the loss adds a third, ``eta_m``.

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
``solve_varying(z0, t, eta_h=..., eta_y=..., dx2=..., dy2=..., rate_times=...)``
(rates given as samples; their times ``rate_times`` come first among the options),
``fit(observed, t, dx2=..., dy2=...)``,
``final_distance(h0, y0, eta_h=..., eta_y=..., dx2=..., dy2=...)`` and
``pairwise_final_distances(X, Y, H0, Yhat0, eta_h=..., eta_y=...)``. A rate or
constant given by position is a ``TypeError``.
"""

from repdyn.theory._estimator import RateEstimator
from repdyn.theory._exact import exact_identical_targets
from repdyn.theory._fit import (
    OBJECTIVES,
    POOR_R2,
    QUALITIES,
    FitResult,
    fit,
    fit_quality,
    project_initial_state,
    trajectory_r2,
)
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
from repdyn.theory._stability import (
    FIXED_POINT_NAMES,
    STABILITIES,
    FixedPoint,
    fixed_points,
    jacobian,
    lazy_limit,
)
from repdyn.theory._system import SolverError, reachable, rhs, solve
from repdyn.theory._varying import solve_varying

VARIABLES = ("h", "y", "w")

__all__ = [
    "DEFAULT_TAU_QUANTILE",
    "DISTANCE_FORMS",
    "FIXED_POINT_NAMES",
    "OBJECTIVES",
    "POOR_R2",
    "QUALITIES",
    "STABILITIES",
    "VARIABLES",
    "ExponentialWeighing",
    "FinalDistance",
    "FixedPoint",
    "FitResult",
    "RateEstimator",
    "SolverError",
    "TriangleCount",
    "conserved",
    "default_tau",
    "encoder_kernel",
    "exact_identical_targets",
    "exponential_weighing",
    "final_distance",
    "fit",
    "fit_quality",
    "fixed_points",
    "jacobian",
    "lazy_limit",
    "loss_curve",
    "npoint_distances",
    "pairwise_final_distances",
    "project_initial_state",
    "r2",
    "reachable",
    "rhs",
    "rich_limit_distances",
    "solve",
    "solve_varying",
    "squared_distances",
    "trajectory_r2",
    "triangle_violations",
    "weighed_distances",
]
