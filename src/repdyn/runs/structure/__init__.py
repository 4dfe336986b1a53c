"""The theory's predicted representational structure of a whole data set, and its comparison with a network's.

Used by the data-set experiments (Figs 6, 8, 9) and ``repdyn predict``. Every
matrix holds *squared* distances (the theory's ``h``), as
:func:`repdyn.rsa.rdm` does by default.

- :func:`predict_structure`: the predicted matrix of one method
  (:data:`METHODS`: exponential weighing, the N-point extension, the pairwise
  rich limit); :func:`weigh` and :func:`exp_settings` give the exponential
  weighing itself and its resolved settings.
- :data:`VARIANTS`: the candidate predictions every comparison reports
  (:func:`variant_predictions`); :data:`PAPER_VARIANT` is the paper's,
  :data:`DEFAULT_VARIANT` the one measurement chose (docs/structure.md).
- :func:`compare_structure`, :func:`mantel_p`, :func:`method_report`: a
  network's matrix against predictions and the raw-input :data:`BASELINE`;
  :func:`initial_state_prediction` from the network's initial state.
- :func:`draw_matrix`, :func:`point_ticks`, :func:`sort_order`,
  :func:`draw_prediction`: figures of such matrices.

Importing it is cheap (numpy only; scipy, the theory's solvers and matplotlib
load when used) and imports no torch.
"""

from repdyn.runs.structure._methods import (
    BASELINE,
    DEFAULT_VARIANT,
    EXACT_TRIANGLES_MAX,
    INITIAL_STATE,
    MANTEL_PERMUTATIONS,
    METHOD_LABELS,
    METHODS,
    PAPER_VARIANT,
    TAU_RULES,
    TRIANGLE_SAMPLE,
    VARIANTS,
    compare_structure,
    draw_matrix,
    draw_prediction,
    exp_settings,
    initial_state_prediction,
    mantel_p,
    method_report,
    point_ticks,
    predict_structure,
    sort_order,
    variant_comparison,
    variant_name,
    variant_predictions,
    violation_fraction,
    weigh,
)

__all__ = [
    "BASELINE",
    "DEFAULT_VARIANT",
    "EXACT_TRIANGLES_MAX",
    "INITIAL_STATE",
    "MANTEL_PERMUTATIONS",
    "METHODS",
    "METHOD_LABELS",
    "PAPER_VARIANT",
    "TAU_RULES",
    "TRIANGLE_SAMPLE",
    "VARIANTS",
    "compare_structure",
    "draw_matrix",
    "draw_prediction",
    "exp_settings",
    "initial_state_prediction",
    "mantel_p",
    "method_report",
    "point_ticks",
    "predict_structure",
    "sort_order",
    "variant_comparison",
    "variant_name",
    "variant_predictions",
    "violation_fraction",
    "weigh",
]
