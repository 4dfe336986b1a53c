"""Predicted representational structure of a whole data set, and its comparison with a network's.

Shared by the dataset experiments (Figs 6, 8, 9) and ``repdyn predict``. Every
matrix holds *squared* distances (the theory's ``h``): predictions and the
network's RDM (:func:`repdyn.rsa.rdm`, squared Euclidean, summed over units)
use the same convention, so Pearson correlations compare like with like.

Prediction methods (all from inputs ``X`` and targets ``Y`` alone, the rich
limit of small initial weights):

- ``"pairwise"``: the two-point rich limit for every pair,
  ``A_ij = sqrt(eta_h/eta_y * dx2_ij * dy2_ij)`` (no smoothing).
- ``"exp"``: the paper's exponential weighing ``P = E A E`` of ``A``
  (``E = exp(-A / tau)``; ``normalise`` uses row-normalised weights), turned
  into squared distances as ``distances`` says
  (:func:`repdyn.theory.weighed_distances`: ``P`` itself has a positive diagonal).
- ``"npoint"``: the N-point extension (beyond the paper), gradient flow of a
  shared RBF encoder and linear decoder on all points
  (:func:`repdyn.theory.npoint_distances`).

Only the ratio ``eta_h / eta_y`` enters, and only as an overall factor
(``sqrt`` of it) that the default ``tau`` follows, so correlations with a
network do not depend on it, except for a fixed ``tau`` such as the paper's
``tau = 1``.

:data:`VARIANTS` are the candidate predictions every comparison reports
(fixed before the measurement in docs/structure.md); :data:`DEFAULT_VARIANT`
is the one that measurement chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repdyn.runs._plots import paper_style
from repdyn.stats import PERMUTATIONS

#: The prediction methods of :func:`predict_structure` (see the module notes).
METHODS = ("exp", "npoint", "pairwise")
#: Each method in words, for reports and figures.
METHOD_LABELS = {
    "exp": "exponential weighing (paper)",
    "npoint": "N-point flow (extension)",
    "pairwise": "pairwise rich limit (unsmoothed)",
}
#: The default scales of the exponential weights among the candidates: the
#: paper's code's ``tau = 1`` (in the units of ``A``, so it depends on the data's
#: units and the rate ratio) and two quantiles of the positive ``A_ij`` (scale
#: free): the median (typical weight ``e^-1``) and the 10th percentile (a
#: point weighs mostly its nearest tenth of the pairs).
TAU_RULES: dict[str, dict[str, float]] = {"tau1": {"tau": 1.0}, "q10": {"tau_quantile": 0.1},
                                          "median": {"tau_quantile": 0.5}}


def _exp_variants() -> dict[str, dict[str, Any]]:
    from repdyn.theory import DISTANCE_FORMS

    return {f"exp_{rule}_{'norm' if normalise else 'plain'}_{form}":
            {"method": "exp", **tau, "normalise": normalise, "distances": form}
            for rule, tau in TAU_RULES.items() for normalise in (False, True) for form in DISTANCE_FORMS}


#: Candidate predictions compared with every trained network: the unsmoothed
#: pairwise rich limit, the N-point extension, and exponential weighing with
#: each :data:`TAU_RULES` scale, plain (the paper's ``E A E``) or row-normalised,
#: its diagonal corrected by centring or set to 0.
VARIANTS: dict[str, dict[str, Any]] = {"pairwise": {"method": "pairwise"}, "npoint": {"method": "npoint"},
                                       **_exp_variants()}
#: The paper's prediction (its code's ``tau = 1``, the formula's off-diagonal values).
PAPER_VARIANT = "exp_tau1_plain_zeroed"
#: The default of ``repdyn predict``, chosen by the measurement in docs/structure.md
#: (best mean Spearman on XOR and the context task, confirmed on MNIST):
#: row-normalised exponential weighing, ``tau`` the 10th percentile of ``A``
#: (:data:`repdyn.theory.DEFAULT_TAU_QUANTILE`), centred into distances.
DEFAULT_VARIANT = "exp_q10_norm_centred"
#: The baseline every comparison reports: squared distances of the raw inputs.
BASELINE = "inputs"
#: A prediction beside the candidates where the initial state is known: the
#: pairwise ``h_inf`` from the network's initial representations and outputs
#: (:func:`initial_state_prediction`). Not a candidate for the default: it
#: needs the network's initial state and was added after the choice.
INITIAL_STATE = "pairwise_init"
#: Permutations of the Mantel test (:data:`repdyn.stats.PERMUTATIONS`, which
#: :func:`repdyn.rsa.mantel_test` uses too).
MANTEL_PERMUTATIONS = PERMUTATIONS
#: Up to this many points triangle violations are counted exactly (about 0.5 s
#: at 600, cubic); beyond, :data:`TRIANGLE_SAMPLE` random triangles estimate the fraction.
EXACT_TRIANGLES_MAX = 600
TRIANGLE_SAMPLE = 200_000


def predict_structure(
    x: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "exp",
    eta_ratio: float = 1.0,
    tau: float | None = None,
    tau_quantile: float | None = None,
    normalise: bool | None = None,
    distances: str | None = None,
) -> np.ndarray:
    """Predicted final squared representational distances of all points, shape (N, N).

    Every method returns a symmetric matrix with a zero diagonal.

    Parameters
    ----------
    x, y : ndarray
        Inputs (N, d_in) and targets (N, d_out).
    method : {"exp", "npoint", "pairwise"}
        See the module notes.
    eta_ratio : float
        ``eta_h / eta_y`` (> 0).
    tau, tau_quantile : float, optional
        Scale of the exponential weights (``method="exp"`` only): ``tau``
        itself, or this quantile of the positive pairwise predictions; default
        :data:`repdyn.theory.DEFAULT_TAU_QUANTILE`.
    normalise : bool, optional
        Row-normalised weights (``method="exp"`` only; not in the paper);
        default as :data:`DEFAULT_VARIANT` (True).
    distances : {"centred", "zeroed"}, optional
        How ``P = E A E`` becomes squared distances (``method="exp"`` only);
        default as :data:`DEFAULT_VARIANT` (centred,
        :func:`repdyn.theory.weighed_distances`).
    """
    from repdyn.theory import rich_limit_distances

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    exp_only = {"tau": tau, "tau_quantile": tau_quantile, "normalise": normalise, "distances": distances}
    given = [k for k, v in exp_only.items() if v is not None]
    if given and method != "exp":
        raise ValueError(f"{', '.join(given)} apply to method='exp' only; got method={method!r}")
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if method == "npoint":
        from repdyn.theory import npoint_distances

        return npoint_distances(x, y, eta_h=eta_ratio, eta_y=1.0)
    if method == "pairwise":
        return rich_limit_distances(x, y, eta_h=eta_ratio, eta_y=1.0)
    return weigh(x, y, eta_ratio=eta_ratio, **exp_only).d


def weigh(x: np.ndarray, y: np.ndarray, *, eta_ratio: float = 1.0, tau: float | None = None,
          tau_quantile: float | None = None, normalise: bool | None = None,
          distances: str | None = None) -> Any:
    """The exponential weighing of the rich limit of ``x``, ``y`` (an :class:`repdyn.theory.ExponentialWeighing`).

    Settings left None take :data:`DEFAULT_VARIANT`'s (see :func:`predict_structure`).
    """
    from repdyn.theory import exponential_weighing, rich_limit_distances

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    settings = exp_settings(tau=tau, tau_quantile=tau_quantile, normalise=normalise, distances=distances)
    rich = rich_limit_distances(x, y, eta_h=eta_ratio, eta_y=1.0)
    return exponential_weighing(rich, count_violations=False, **settings)


def exp_settings(*, tau: float | None = None, tau_quantile: float | None = None, normalise: bool | None = None,
                 distances: str | None = None) -> dict[str, Any]:
    """Settings of an exponential weighing with those left None taken from :data:`DEFAULT_VARIANT`.

    Keys ``normalise``, ``distances`` and ``tau`` (when given) or ``tau_quantile``.
    """
    from repdyn.theory import DEFAULT_TAU_QUANTILE

    default = VARIANTS[DEFAULT_VARIANT] if VARIANTS[DEFAULT_VARIANT]["method"] == "exp" else {}
    out: dict[str, Any] = {
        "normalise": default.get("normalise", False) if normalise is None else normalise,
        "distances": default.get("distances", "centred") if distances is None else distances,
    }
    if tau is not None:
        out["tau"] = tau
    else:
        out["tau_quantile"] = default.get("tau_quantile", DEFAULT_TAU_QUANTILE) if tau_quantile is None \
            else tau_quantile
    return out


def compare_structure(network: np.ndarray, predicted: np.ndarray, labels: np.ndarray | None = None) -> dict[str, float]:
    """Pearson and Spearman correlation of two squared-distance matrices over the upper triangle.

    Keys ``pearson``, ``spearman`` (all pairs) and, with ``labels``,
    ``pearson_between``, ``spearman_between`` (pairs with different labels only:
    the structure beyond "same class is close"). NaN where a correlation is
    undefined (a constant matrix, or fewer than two pairs).
    """
    from repdyn.rsa import compare_rdms

    out: dict[str, float] = {}
    blocks: list[tuple[str, Any]] = [("", None)]
    if labels is not None and len(np.unique(labels)) > 1:
        blocks.append(("_between", np.asarray(labels)))
    for suffix, exclude in blocks:
        for method in ("pearson", "spearman"):
            try:
                out[method + suffix] = compare_rdms(network, predicted, method=method, exclude_blocks=exclude)
            except ValueError:  # fewer than two pairs left to correlate
                out[method + suffix] = float("nan")
    return out


def mantel_p(network: np.ndarray, predicted: np.ndarray, *, labels: np.ndarray | None = None,
             permutations: int = MANTEL_PERMUTATIONS, seed: int = 0) -> float:
    """One-sided Mantel permutation p-value of the Spearman correlation of two matrices.

    :func:`repdyn.rsa.mantel_test` with the prediction's points permuted; with
    ``labels`` only pairs of different labels enter, and the labels stay with
    the network's points. NaN where the correlation is undefined.
    """
    from repdyn.rsa import mantel_test

    return mantel_test(network, predicted, exclude_blocks=labels, permutations=permutations, seed=seed).p_value


def initial_state_prediction(x: np.ndarray, y: np.ndarray, hidden0: np.ndarray, output0: np.ndarray, *,
                             eta_ratio: float = 1.0) -> np.ndarray:
    """Pairwise ``h_inf`` of every pair from the initial representations ``hidden0`` and outputs ``output0``.

    :func:`repdyn.theory.pairwise_final_distances`; its fixed point depends on
    the rates only through ``eta_ratio``.
    """
    from repdyn.theory import pairwise_final_distances

    def rows(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float64).reshape(len(a), -1)

    return pairwise_final_distances(rows(x), rows(y), rows(hidden0), rows(output0), eta_h=eta_ratio, eta_y=1.0)


def variant_predictions(x: np.ndarray, y: np.ndarray, *, eta_ratio: float = 1.0) -> dict[str, np.ndarray]:
    """Every prediction of :data:`VARIANTS` for one data set."""
    return {name: predict_structure(x, y, eta_ratio=eta_ratio, **kw) for name, kw in VARIANTS.items()}


def variant_comparison(network: np.ndarray, predictions: dict[str, np.ndarray],
                       labels: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """:func:`compare_structure` of ``network`` (an RDM) against each prediction."""
    return {name: compare_structure(network, p, labels) for name, p in predictions.items()}


def violation_fraction(squared: np.ndarray) -> float:
    """Fraction of triangles whose distances (``sqrt`` of ``squared``) break the triangle inequality.

    Exact up to :data:`EXACT_TRIANGLES_MAX` points, else estimated from
    :data:`TRIANGLE_SAMPLE` random triangles.
    """
    from repdyn.theory import triangle_violations

    n = squared.shape[0]
    sample = None if n <= EXACT_TRIANGLES_MAX else TRIANGLE_SAMPLE
    return triangle_violations(np.sqrt(np.maximum(squared, 0.0)), sample=sample).fraction


def method_report(network: np.ndarray, predictions: dict[str, np.ndarray], x: np.ndarray,
                  labels: np.ndarray | None = None, *,
                  permutations: int | None = MANTEL_PERMUTATIONS) -> dict[str, dict[str, float]]:
    """Every prediction and the raw-input baseline against a network's RDM.

    Per entry of ``predictions`` plus :data:`BASELINE` (squared distances of
    ``x``): the correlations of :func:`compare_structure`, ``mantel_p`` (all
    pairs, :func:`mantel_p`; left out when ``permutations`` is None) and
    ``violations`` (:func:`violation_fraction`).
    """
    from repdyn.rsa import rdm

    report = {}
    for name, predicted in {**predictions, BASELINE: rdm(np.asarray(x, dtype=np.float64))}.items():
        row: dict[str, float] = compare_structure(network, predicted, labels)
        if permutations is not None:
            row["mantel_p"] = mantel_p(network, predicted, permutations=permutations)
        row["violations"] = violation_fraction(predicted)
        report[name] = row
    return report


def sort_order(n: int, labels: np.ndarray | None, *keys: np.ndarray) -> np.ndarray:
    """Order of ``n`` points for a matrix figure: by label, then by each key in turn (stable)."""
    columns = [np.asarray(k) for k in reversed(keys)]
    if labels is not None:
        columns.append(np.asarray(labels))
    return np.lexsort(columns) if columns else np.arange(n)


def _cell_text(value: float) -> str:
    """At most 5 characters, so the number fits its cell: 190, 2.3, 0.41, 2e-06."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) >= 0.01 else f"{value:.0e}"


#: Up to this many points a matrix figure names every point by its input.
NAMED_POINTS_MAX = 8


def point_ticks(ax: Any, x: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Name the points of a matrix figure (points already in figure order).

    Few points with few inputs (XOR): every point by its input coordinates.
    Otherwise, with labels, one tick per label block at its centre (MNIST
    digits, contexts); without labels, axes that say they count points.
    """
    x = np.asarray(x).reshape(len(x), -1)
    n = len(x)
    if n <= NAMED_POINTS_MAX and x.shape[1] <= 3:
        names = [",".join(f"{v:g}" for v in row) for row in x]
        ax.set_xticks(range(n), names, rotation=90 if x.shape[1] > 2 else 0)
        ax.set_yticks(range(n), names)
        ax.set_xlabel("input")
        ax.set_ylabel("input")
    elif labels is not None:
        labels = np.asarray(labels)
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        ends = np.r_[starts[1:], n]
        centres = (starts + ends - 1) / 2
        names = [str(labels[k]) for k in starts]
        ax.set_xticks(centres, names, rotation=90 if len(names) > 12 else 0)
        ax.set_yticks(centres, names)
        ax.set_xlabel("label")
        ax.set_ylabel("label")
    else:
        ax.set_xlabel("point (figure order)")
        ax.set_ylabel("point (figure order)")


def variant_name(method: str, settings: dict[str, Any]) -> str | None:
    """The :data:`VARIANTS` name of a prediction's resolved settings, or None if it is none of them.

    ``settings`` (method ``exp``): ``normalise``, ``distances`` and either
    ``tau`` (a given scale) or ``tau_quantile``.
    """
    if method != "exp":
        return method
    for name, spec in VARIANTS.items():
        if spec["method"] != "exp" or spec["normalise"] != settings["normalise"]:
            continue
        if spec["distances"] != settings["distances"]:
            continue
        key = "tau_quantile" if "tau_quantile" in settings else "tau"
        if key in spec and spec[key] == settings[key]:
            return name
    return None


def draw_matrix(ax: Any, matrix: np.ndarray, *, title: str, labels: np.ndarray | None = None,
                annotate: bool = False, colorbar_label: str = "squared distance") -> None:
    """A squared-distance matrix as an image; lines between label blocks (points already sorted).

    The colour bar is labelled and its ticks carry their own exponent (``%.2g``):
    a shared offset label (``1e-6``) would sit above the bar, on the panel's title.
    """
    image = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, format="%.2g")
    bar.set_label(colorbar_label)
    ax.set_title(title)
    if labels is not None:
        edges = np.flatnonzero(np.diff(np.asarray(labels)) != 0) + 0.5
        for edge in edges:
            ax.axhline(edge, color="white", lw=0.6)
            ax.axvline(edge, color="white", lw=0.6)
    if annotate:
        top = float(np.max(matrix)) if matrix.size else 0.0
        for (r, c), value in np.ndenumerate(matrix):
            # 7 pt, below the style's 8: a cell of a 4 x 4 panel holds 5 characters
            # (_cell_text) only at this size.
            ax.text(c, r, _cell_text(value), ha="center", va="center", fontsize=7,
                    color="black" if value > 0.6 * top else "white")


@paper_style()
def draw_prediction(predicted: np.ndarray, network: np.ndarray | None, x: np.ndarray, labels: np.ndarray | None,
                    order: np.ndarray, out: Path, description: str) -> list[Path]:
    """The figure of ``repdyn predict``: the predicted matrix (and the network's), points in ``order``.

    Parameters
    ----------
    predicted : ndarray, shape (N, N)
        The prediction (squared distances).
    network : ndarray, shape (N, N), or None
        The network's squared distances, drawn first when given.
    x, labels : ndarray
        The points' inputs and labels (or None), in the order of the matrices.
    order : ndarray of int
        The figure's point order (:func:`sort_order`).
    out : Path
        Directory of ``predicted.png`` and ``predicted.pdf``.
    description : str
        The prediction's method and settings, for its panel's title.
    """
    from repdyn.runs._outputs import save_figure
    from repdyn.runs._plots import figure_grid

    panels = [("predicted: " + description.replace(", tau", "\ntau", 1), predicted)]
    if network is not None:
        panels.insert(0, ("network", network))
    fig, axes = figure_grid(1, len(panels), width=4.2, height=3.8)
    sorted_labels = None if labels is None else np.asarray(labels)[order]
    small = len(order) <= NAMED_POINTS_MAX
    for ax, (title, matrix) in zip(axes[0], panels):
        draw_matrix(ax, matrix[np.ix_(order, order)], title=title, labels=sorted_labels, annotate=small)
        point_ticks(ax, x[order], sorted_labels)
    fig.suptitle("squared representational distances" + (", sorted by label" if labels is not None else ""))
    fig.tight_layout()
    return save_figure(fig, out, "predicted")
