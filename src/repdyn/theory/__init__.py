"""The effective theory of two-point representation learning dynamics.

Pure numpy/scipy (importing this module never imports torch, and imports
``scipy.integrate`` and ``scipy.optimize``, about 0.4 s, only inside the
functions that use them). The formulas are
those of ``docs/theory.md``: variables ``h = ||dh||^2``, ``y = ||dyhat||^2`` and
``w = y - dy . dyhat`` evolve under two effective learning rates ``eta_h`` and
``eta_y``; the loss adds a third, ``eta_m``.
"""

from repdyn.theory._estimator import RateEstimator
from repdyn.theory._exact import exact_identical_targets
from repdyn.theory._fit import OBJECTIVES, POOR_R2, QUALITIES, FitResult, fit, fit_quality
from repdyn.theory._fixed_point import FinalDistance, conserved, final_distance
from repdyn.theory._loss import loss_curve
from repdyn.theory._npoint import encoder_kernel, npoint_distances
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

VARIABLES = ("h", "y", "w")

__all__ = [
    "DEFAULT_TAU_QUANTILE",
    "DISTANCE_FORMS",
    "OBJECTIVES",
    "POOR_R2",
    "QUALITIES",
    "VARIABLES",
    "ExponentialWeighing",
    "FinalDistance",
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
    "loss_curve",
    "npoint_distances",
    "pairwise_final_distances",
    "rhs",
    "rich_limit_distances",
    "solve",
    "squared_distances",
    "triangle_violations",
    "weighed_distances",
]
