"""The context-task study (Figs 7, 8 and 12; with Adam, Figs 15-16): feature collapse.

Networks of 4 hidden layers of 100 tanh units (Table 2's blobs rows: very
low, low and high initial weights) learn to report a blob's x position in
context 1 and its y position in context 2 (:func:`repdyn.data.blobs`). The
theory predicts that at small initial weights each context's representation
collapses along the feature that is irrelevant in it (points with equal
targets merge), at even smaller weights the two contexts merge into one line,
and at large initial weights each context keeps the 2-D square of its inputs.

How collapse is measured (every hidden layer is reported; the claims use the
last, see docs/claims-datasets.md): for a set of points grouped by a key,
the *unexplained fraction* is the within-group share of the representation's
variance, ``sum_g sum_{i in g} ||r_i - mean_g||^2 / sum_i ||r_i - mean||^2``.
Grouping a context's points by the relevant coordinate leaves exactly the
variance along the irrelevant feature (0 when collapsed, about 0.5 for an
undistorted square, 0.53 for the input images); grouping all points by target
value leaves what separates points with equal targets (0 for a single line).

``fig8`` runs it with SGD (:data:`SETTINGS`), ``adam-context`` with Adam.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._datasets import table2_networks
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.nets import ArchSpec
from repdyn.runs import (
    DatasetConfig,
    run_dataset_trials,
    estimate_dataset_seconds,
    finite_representations,
    paper_style,
    save_representations,
    status_counts,
)
from repdyn.runs.structure import DEFAULT_VARIANT, PAPER_VARIANT

ROLES = ("very low", "low", "high")

#: Collapse: the variance along the irrelevant feature is below 0.1 of a
#: context's variance, under a fifth of what an undistorted square has (0.5;
#: the input images have 0.53).
IRRELEVANT_MAX = 0.1
#: One line: less than 0.1 of all variance separates points with equal targets
#: (the input images have 0.76), i.e. the target value alone explains 90 %.
ONE_LINE_MAX = 0.1
#: A kept square: the irrelevant feature still carries at least 0.25 of each
#: context's variance, half of an undistorted square's 0.5.
SQUARE_MIN = 0.25

#: Name of the baseline beside the predictions: the raw input distances.
INPUT_BASELINE = "inputs"
#: The predictions whose match with each network gets a Mantel permutation
#: test beside the baseline's: the paper's weighing, repdyn's default, the
#: N-point extension and the unsmoothed rich limit.
MANTEL_PREDICTIONS = (PAPER_VARIANT, DEFAULT_VARIANT, "npoint", "pairwise")
#: Permutations of those tests: with 450 points each one correlates 101,025
#: pairs, so 199 (p resolves down to 0.005) keeps the five tests per network
#: within seconds.
CONTEXT_PERMUTATIONS = 199

#: The paper does not state a minibatch size; the authors' context-task
#: notebook uses 64, as their MNIST notebook does. (Full-batch SGD at Table 2's
#: rates leaves the low and very low networks on their first plateau, loss
#: 0.178, nothing learned, for all of their epochs.)
BATCH_SIZE = 64


@dataclass(frozen=True)
class BlobsSettings:
    """The context-task networks of a profile.

    Parameters
    ----------
    networks : tuple of ArchSpec
        One per role in :data:`ROLES` (same order).
    batch_size : int
        Minibatch size (data shuffled every epoch).
    grid : int
        Blob centres per axis (``2 * grid**2`` points).
    compare_stride : int
        Every ``compare_stride``-th centre per axis enters the RDM comparisons
        with the theory (keeps the N^3 predictions cheap).
    """

    networks: tuple[ArchSpec, ...]
    batch_size: int
    grid: int = 30
    compare_stride: int = 2

    def __post_init__(self) -> None:
        if len(self.networks) != len(ROLES) or not all(isinstance(a, ArchSpec) for a in self.networks):
            raise ValueError(f"networks must hold {len(ROLES)} ArchSpecs, one per role {ROLES}")
        for name in ("batch_size", "grid", "compare_stride"):
            value = getattr(self, name)
            checks.integer(name, value, minimum=1)

    def configs(self, device: str = "cpu") -> list[DatasetConfig]:
        """One trial per network (seed 0), fitting the theory to the tracked pair for its rate ratio."""
        return [DatasetConfig(dataset="blobs", arch=arch, seed=0, batch_size=self.batch_size, grid=self.grid,
                              fit=True, device=device) for arch in self.networks]


#: Fig 8's settings (SGD) per profile, which the Adam twin changes.
#: paper: Table 2 with minibatches of 64 (the authors' notebook). quick:
#: minibatches of 128 with 2x the learning rate (the linear scaling rule: the
#: same distance travelled per epoch in half the steps), Table 2's epochs and
#: the full 30 x 30 grid. smoke: a 5 x 5 grid and 16 units, only to run the code.
SETTINGS = {
    "smoke": BlobsSettings(networks=table2_networks("blobs", ROLES, [{"units": 16, "epochs": 20}] * len(ROLES)),
                           batch_size=16, grid=5, compare_stride=1),
    "quick": BlobsSettings(networks=table2_networks("blobs", ROLES, lr_factor=2.0), batch_size=2 * BATCH_SIZE),
    "paper": BlobsSettings(networks=table2_networks("blobs", ROLES), batch_size=BATCH_SIZE),
}


#: Rough seconds of the analysis (the N-point prediction of 450 points dominates).
ANALYSIS_SECONDS = 15.0


def estimate_settings_seconds(settings: BlobsSettings) -> float:
    """Rough single-core seconds of the three trials and the analysis."""
    return sum(estimate_dataset_seconds(c) for c in settings.configs()) + ANALYSIS_SECONDS


class GroupedVariance:
    """The within-group share of a representation's variance, for any multiplicities of its points.

    With the rows ``r_i`` centred, multiplicities ``w_i`` (a bootstrap
    resample: each point counted as often as it was drawn; 1 each by default),
    ``T = sum_i w_i r_i`` and the groups' sums ``T_g`` (``n_g = sum_{i in g} w_i``):
    ``total = sum_i w_i ||r_i||^2 - ||T||^2 / n``, ``between = sum_g ||T_g||^2 / n_g
    - ||T||^2 / n``, and the share is ``1 - between / total``. ``||T_g||^2 =
    w_g^T K_g w_g`` with each group's Gram matrix ``K_g`` computed once, so a
    resample costs two small products, not a pass over a copy of the data.
    """

    def __init__(self, rep: np.ndarray, keys: np.ndarray) -> None:
        rep = np.asarray(rep, dtype=np.float64)
        self._rep = rep - rep.mean(axis=0)  # the share does not depend on the origin; this keeps the digits
        self._norms = np.einsum("ij,ij->i", self._rep, self._rep)
        _, inverse = np.unique(np.asarray(keys), return_inverse=True)
        sizes = np.bincount(inverse)
        order = np.argsort(inverse, kind="stable")
        self._index = np.full((sizes.size, int(sizes.max())), -1)
        for g, members in enumerate(np.split(order, np.cumsum(sizes)[:-1])):
            self._index[g, :members.size] = members
        padded = np.where((self._index >= 0)[..., None], self._rep[self._index], 0.0)
        self._gram = padded @ padded.transpose(0, 2, 1)

    def fraction(self, weights: np.ndarray | None = None) -> float:
        """The within-group share (NaN when the points do not vary)."""
        w = np.ones(len(self._rep)) if weights is None else np.asarray(weights, dtype=np.float64)
        n = float(w.sum())
        grand = w @ self._rep
        squares = float(w @ self._norms)
        total = squares - float(grand @ grand) / n if n > 0 else 0.0
        if not total > 1e-12 * squares:
            return float("nan")
        per_group = np.where(self._index >= 0, w[self._index], 0.0)
        sizes = per_group.sum(axis=1)
        quadratic = np.einsum("gi,gij,gj->g", per_group, self._gram, per_group)
        present = sizes > 0
        between = float(np.sum(quadratic[present] / sizes[present])) - float(grand @ grand) / n
        return min(max(total - between, 0.0) / total, 1.0)


def unexplained_fraction(rep: np.ndarray, keys: np.ndarray) -> float:
    """Share of the variance of ``rep`` (rows: points) left within groups of equal ``keys``."""
    return GroupedVariance(rep, keys).fraction()


#: The collapse fractions of :func:`collapse_metrics`: the context whose points
#: enter (None: all) and the annotation they are grouped by.
FRACTIONS = {"irrelevant_1": (0, "cx"), "irrelevant_2": (1, "cy"), "one_line": (None, "target")}


def fraction_splits(rep: np.ndarray, notes: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, GroupedVariance]]:
    """Per entry of :data:`FRACTIONS`: the indices of its points and their :class:`GroupedVariance`."""
    out = {}
    for name, (context, key) in FRACTIONS.items():
        index = np.arange(len(rep)) if context is None else np.flatnonzero(notes["context"] == context)
        out[name] = (index, GroupedVariance(np.asarray(rep)[index], notes[key][index]))
    return out


def collapse_metrics(rep: np.ndarray, context: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                     target: np.ndarray) -> dict[str, float]:
    """Irrelevant-feature fraction per context, the one-line fraction, and the context's share.

    ``irrelevant_1`` (context 1, target x): variance left at fixed x;
    ``irrelevant_2`` (context 2, target y): variance left at fixed y;
    ``one_line``: variance left at fixed target value over all points
    (:data:`FRACTIONS`); ``context_share``: share of the variance between the
    two context means.
    """
    if not np.all(np.isfinite(rep)):
        return dict.fromkeys(("irrelevant_1", "irrelevant_2", "one_line", "context_share"), math.nan)
    splits = fraction_splits(rep, {"context": context, "cx": cx, "cy": cy, "target": target})
    return {**{name: split.fraction() for name, (_, split) in splits.items()},
            "context_share": 1.0 - unexplained_fraction(rep, context)}


def blob_annotations(grid: int) -> dict[str, np.ndarray]:
    """Per-point context, centre coordinates and target of the context task."""
    from repdyn.data import blobs

    data = blobs(grid=grid)
    return {"context": data.meta["context"].numpy(), "cx": data.meta["centre_x"].numpy().astype(np.float64),
            "cy": data.meta["centre_y"].numpy().astype(np.float64), "target": data.y.numpy()[:, 0].astype(np.float64),
            "x": data.x.numpy().astype(np.float64), "y": data.y.numpy().astype(np.float64)}


def layer_metrics(result: dict[str, Any], notes: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """:func:`collapse_metrics` at every hidden layer (final representations)."""
    names = [str(n) for n in np.asarray(result["layer_names"]).reshape(-1)]
    return {name: collapse_metrics(np.asarray(rep), notes["context"], notes["cx"], notes["cy"], notes["target"])
            for name, rep in zip(names, result["hidden"])}


def last_layer(per_layer: dict[str, dict[str, float]]) -> dict[str, float]:
    return per_layer[list(per_layer)[-1]]


def _claim_values(per_role: dict[str, dict[str, float]]) -> list[float]:
    """The three measured values of :func:`blobs_claims` from each role's :func:`collapse_metrics`."""
    low, very_low, high = per_role["low"], per_role["very low"], per_role["high"]
    return [_worst(low["irrelevant_1"], low["irrelevant_2"], max), very_low["one_line"],
            _worst(high["irrelevant_1"], high["irrelevant_2"], min)]


def blobs_claims(per_role: dict[str, dict[str, float]], *,
                 points: dict[str, tuple[np.ndarray, ...]] | None = None) -> list[Claim]:
    """The three claims from each role's last-layer :func:`collapse_metrics` (NaN never holds).

    ``points`` (per role: the last layer's representation and the points'
    context, x, y and target, as :func:`collapse_metrics` takes them) adds each
    claim's interval: a bootstrap over the points (blob images) of its one
    network (:class:`GroupedVariance` with multiplicities). It covers which
    points were measured, not another seed.
    """
    measured = _claim_values(per_role)
    claims = [
        Claim(claim="At low init each context collapses along its irrelevant feature",
              metric="low init, last hidden layer: larger over the two contexts of the share of the context's "
                     "variance left at a fixed relevant coordinate",
              measured=measured[0], relation="<", threshold=IRRELEVANT_MAX, seeds=1),
        Claim(claim="At very low init the representation collapses onto one line",
              metric="very low init, last hidden layer: share of all variance left at a fixed target value",
              measured=measured[1], relation="<", threshold=ONE_LINE_MAX, seeds=1),
        Claim(claim="At high init each context keeps its 2-D square",
              metric="high init, last hidden layer: smaller over the two contexts of the share of the context's "
                     "variance left at a fixed relevant coordinate",
              measured=measured[2], relation=">", threshold=SQUARE_MIN, seeds=1),
    ]
    if points is None:
        return claims
    out = []
    for k, (claim, role) in enumerate(zip(claims, ("low", "very low", "high"))):
        if role not in points or not np.all(np.isfinite(points[role][0])):
            out.append(claim)
            continue
        rep, context, cx, cy, target = points[role]
        splits = fraction_splits(rep, {"context": context, "cx": cx, "cy": cy, "target": target})

        def statistic(index: np.ndarray, k: int = k, role: str = role, splits: Any = splits) -> float:
            weights = np.bincount(index, minlength=len(context)).astype(np.float64)
            resampled = {name: split.fraction(weights[rows]) for name, (rows, split) in splits.items()}
            return _claim_values({**per_role, role: resampled})[k]

        out.append(bootstrap(claim, statistic, np.arange(len(context)), unit="points (blob images)"))
    return out


def _worst(a: float, b: float, pick: Any) -> float:
    return float("nan") if math.isnan(a) or math.isnan(b) else float(pick(a, b))


def compare_with_theory(results: Sequence[dict[str, Any]], notes: dict[str, np.ndarray],
                        settings: BlobsSettings) -> dict[str, Any]:
    """Last-layer RDM of each network (subsampled grid) against every prediction variant.

    The rate ratio (which matters only for the paper's fixed ``tau = 1``) is
    the one fitted on the low-init network's tracked pair, 1.0 if that fit failed.
    Beside the predictions, the baseline :data:`INPUT_BASELINE`: the raw input
    distances (no theory at all).
    """
    from repdyn.runs.structure import variant_comparison, variant_predictions
    from repdyn.rsa import mantel_test, rdm

    grid, stride = settings.grid, settings.compare_stride
    keep = np.arange(grid) % stride == 0
    on_grid = np.concatenate([np.outer(keep, keep).reshape(-1)] * 2)
    index = np.flatnonzero(on_grid)
    low = results[ROLES.index("low")]
    eta_h, eta_y = float(low.get("eta_h", math.nan)), float(low.get("eta_y", math.nan))
    ratio = eta_h / eta_y if math.isfinite(eta_h / eta_y) and eta_h > 0 else 1.0
    predictions = variant_predictions(notes["x"][index], notes["y"][index], eta_ratio=ratio)
    predictions[INPUT_BASELINE] = rdm(notes["x"][index])
    out: dict[str, Any] = {"points": int(index.size), "eta_ratio": ratio, "labels": "context",
                           "layer": "last hidden layer", "networks": {}, "mantel_permutations": CONTEXT_PERMUTATIONS,
                           "mantel_note": "one-sided Mantel p of the Spearman correlation over all pairs, the "
                                          "prediction's points permuted"}
    for role, result in zip(ROLES, results):
        if finite_representations(result):
            network = rdm(np.asarray(result["hidden"][-1], dtype=np.float64)[index])
            comparison = variant_comparison(network, predictions, notes["context"][index])
            for name in (*MANTEL_PREDICTIONS, INPUT_BASELINE):
                comparison[name]["mantel_p"] = mantel_test(network, predictions[name],
                                                           permutations=CONTEXT_PERMUTATIONS).p_value
            out["networks"][role] = comparison
    return out


@paper_style()
def draw_dataset(grid: int, out: Any) -> list[Any]:
    """Fig 7: example blob images and the target of each context over the grid of centres."""
    from repdyn.data import blobs
    from repdyn.runs import save_figure
    from repdyn.runs import figure_grid

    data = blobs(grid=grid)
    pixels = int(data.meta["pixels"])
    fig, axes = figure_grid(1, 6, width=2.2, height=2.3)
    n = grid * grid
    for ax, i in zip(axes[0][:4], (0, grid - 1, n // 2 + grid // 2, n - 1)):
        ax.imshow(data.x[i, : pixels * pixels].reshape(pixels, pixels).numpy(), cmap="gray", origin="lower",
                  extent=(-1, 1, -1, 1))
        ax.set_title(f"centre ({float(data.meta['centre_x'][i]):.2f}, {float(data.meta['centre_y'][i]):.2f})")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, context in zip(axes[0][4:], (0, 1)):
        target = data.y[context * n:(context + 1) * n, 0].reshape(grid, grid).numpy()
        image = ax.imshow(target, cmap="coolwarm", origin="lower", extent=(-1, 1, -1, 1))
        ax.set_title(f"context {context + 1}: target")
        ax.set_xlabel("blob x")
        ax.set_ylabel("blob y")
    fig.colorbar(image, ax=axes[0][5], fraction=0.046, label="target")
    fig.suptitle(f"Context task: {pixels}x{pixels}-pixel blobs on a {grid}x{grid} grid of centres, plus a "
                 "one-hot context")
    fig.tight_layout()
    return save_figure(fig, out, "fig7_dataset")


@paper_style()
def draw_representations(results: Sequence[dict[str, Any]], per_role: dict[str, Any],
                         notes: dict[str, np.ndarray], out: Any, *, stem: str = "fig8_representations",
                         label: str = "SGD") -> list[Any]:
    """Figs 8 and 12: 3-D PCA of the last hidden layer, coloured by context, x and y (``label``: optimiser)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repdyn.runs import save_figure
    from repdyn.rsa import embed

    fig = plt.figure(figsize=(11, 3.4 * len(ROLES)))
    colourings = (("context", notes["context"], "coolwarm"), ("blob x", notes["cx"], "viridis"),
                  ("blob y", notes["cy"], "viridis"))
    for row, (role, result) in enumerate(zip(ROLES, results)):
        m = per_role[role]
        for col, (name, values, cmap) in enumerate(colourings):
            ax = fig.add_subplot(len(ROLES), 3, 3 * row + col + 1, projection="3d")
            if finite_representations(result):
                coords = embed(np.asarray(result["hidden"][-1], dtype=np.float64), 3).coords
                points = ax.scatter(coords[:, 0], coords[:, 1], coords[:, 2], c=values, cmap=cmap, s=3,
                                    depthshade=False, rasterized=True)
                fig.colorbar(points, ax=ax, shrink=0.5, pad=0.2, label=name)
                # Equal axes: otherwise tiny residual components are blown up to look like a square.
                reach = float(np.max(np.abs(coords))) or 1.0
                ax.set(xlim=(-reach, reach), ylim=(-reach, reach), zlim=(-reach, reach))
                ax.set_xlabel("PC1")
                ax.set_ylabel("PC2")
                ax.set_zlabel("PC3")
            ax.set_title(f"{role} init: {name}" + (
                f"\nirrelevant {m['irrelevant_1']:.2f}/{m['irrelevant_2']:.2f}, one line {m['one_line']:.2f}"
                if col == 0 else ""))
    fig.suptitle(f"Trained with {label}: last hidden layer, first three principal components (very low init: "
                 "Fig 12)")
    fig.tight_layout()
    return save_figure(fig, out, stem)


@paper_style()
def draw_layers(results: Sequence[dict[str, Any]], metrics: dict[str, dict[str, dict[str, float]]],
                notes: dict[str, np.ndarray], out: Any, *, stem: str = "fig8_layers",
                label: str = "SGD") -> list[Any]:
    """Every hidden layer of every network: first two principal components, coloured by context."""
    from repdyn.runs import save_figure
    from repdyn.runs import figure_grid
    from repdyn.rsa import embed

    n_layers = max((len(np.asarray(r["hidden"])) for r in results if "hidden" in r), default=1)
    fig, axes = figure_grid(len(ROLES), n_layers, width=2.6, height=2.5)
    for row, role, result in zip(axes, ROLES, results):
        for k, ax in enumerate(row):
            if not finite_representations(result):
                continue
            coords = embed(np.asarray(result["hidden"][k], dtype=np.float64), 2).coords
            ax.scatter(coords[:, 0], coords[:, 1], c=notes["context"], cmap="coolwarm", s=2, rasterized=True)
            ax.set_aspect("equal", adjustable="datalim")
            m = list(metrics[role].values())[k]
            ax.set_title(f"{role}, layer {k + 1}\nirr {m['irrelevant_1']:.2f}/{m['irrelevant_2']:.2f}, "
                         f"line {m['one_line']:.2f}")
    fig.suptitle(f"Trained with {label}: every hidden layer (PC1, PC2), coloured by context")
    fig.tight_layout()
    return save_figure(fig, out, stem)


def save_last_layers(results: Sequence[dict[str, Any]], notes: dict[str, np.ndarray], out: Any) -> None:
    """``representations-blobs-<role>.npz`` (last hidden layer) for ``repdyn predict --compare``."""
    for role, result in zip(ROLES, results):
        if finite_representations(result):
            save_representations(out / f"representations-blobs-{role.replace(' ', '-')}.npz", x=notes["x"],
                                 y=notes["y"], labels=notes["context"], hidden=result["hidden"][-1],
                                 hidden0=result["hidden0"][-1], output0=result["output0"],
                                 name=f"blobs {role} init")


#: Collapse metrics of a trial without representations (it raised): NaN, against every claim.
_MISSING = {"none": dict.fromkeys(("irrelevant_1", "irrelevant_2", "one_line", "context_share"), math.nan)}


@dataclass
class BlobsRun:
    """The trials of a :class:`BlobsSettings` and their collapse metrics at every layer."""

    settings: BlobsSettings
    results: list[dict[str, Any]]
    notes: dict[str, np.ndarray]
    metrics: dict[str, dict[str, dict[str, float]]]

    @classmethod
    def run(cls, settings: BlobsSettings, options: RunOptions) -> BlobsRun:
        """Run (or load from the cache) the three trials and measure every layer."""
        from repdyn.fast import threads

        results = run_dataset_trials(settings.configs(options.device), options)
        notes = blob_annotations(settings.grid)
        # One BLAS thread: on shared cores a BLAS pool can make a small SVD 100x slower.
        with threads(1):
            metrics = {role: layer_metrics(r, notes) if "hidden" in r else _MISSING
                       for role, r in zip(ROLES, results)}
        return cls(settings, results, notes, metrics)

    @property
    def per_role(self) -> dict[str, dict[str, float]]:
        """Last-layer metrics of each role (the claims' layer)."""
        return {role: last_layer(m) for role, m in self.metrics.items()}

    def claims(self, *, intervals: bool = True) -> list[Claim]:
        """:func:`blobs_claims`, with intervals from a bootstrap over the points of each network unless not ``intervals``."""
        from repdyn.fast import threads

        if not intervals:
            return blobs_claims(self.per_role)
        notes = self.notes
        points = {role: (np.asarray(r["hidden"][-1], dtype=np.float64), notes["context"], notes["cx"], notes["cy"],
                         notes["target"]) for role, r in zip(ROLES, self.results) if finite_representations(r)}
        with threads(1):
            return blobs_claims(self.per_role, points=points)

    def output(self, out: Any, *, stem: str = "fig8", label: str = "SGD",
               dataset_figure: bool = True) -> ExperimentOutput:
        """Figures ``<stem>_representations`` and ``<stem>_layers`` (and Fig 7's data set), summary, claims."""
        from repdyn.fast import threads

        settings, results, notes = self.settings, self.results, self.notes
        with threads(1):
            figures = draw_dataset(settings.grid, out) if dataset_figure else []
            figures += draw_representations(results, self.per_role, notes, out, stem=f"{stem}_representations",
                                            label=label)
            figures += draw_layers(results, self.metrics, notes, out, stem=f"{stem}_layers", label=label)
            comparison = compare_with_theory(results, notes, settings)
        save_last_layers(results, notes, out)
        trials = [{"role": role, "status": r.get("status"), "final_loss": r.get("final_loss"),
                   "seconds": r.get("seconds"), "eta_h": r.get("eta_h"), "eta_y": r.get("eta_y"),
                   "error": r.get("error")} for role, r in zip(ROLES, results)]
        summary = {
            "settings": {"networks": {role: a.to_dict() for role, a in zip(ROLES, settings.networks)},
                         "batch_size": settings.batch_size, "grid": settings.grid,
                         "compare_stride": settings.compare_stride,
                         "loss_convention": settings.configs()[0].loss_convention},
            "claim_layer": "last hidden layer",
            "collapse": self.metrics,
            "rdm_comparison": comparison,
            "trials": trials,
        }
        return ExperimentOutput(summary=summary, claims=self.claims(), figures=figures,
                                counts=status_counts(results))

