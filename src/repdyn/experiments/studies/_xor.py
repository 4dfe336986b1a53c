"""The XOR study (Fig 6; with Adam, Figs 15-16): which pairs of representations merge.

Four networks of Table 2 (low, intermediate and high initial weights with 20
hidden layers, and a network with one hidden layer) are trained on the four
XOR points; the final squared distances of their tracked-layer (middle)
representations are compared with the theory's pairwise ``h_inf``, predicted
from each network's own initial representations and the rates fitted on the
default two-point network (as in the paper). The rates come from the same
two-point trials as fig5 (same configs, so they are computed once).
``fig6`` runs it with SGD (:data:`SETTINGS`), ``adam-xor`` with Adam.
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
from repdyn.experiments._metrics import averaged_rates, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import GRID_SCALES, TwoPointScale
from repdyn.nets import ArchSpec
from repdyn.runs import (
    DatasetConfig,
    TwoPointConfig,
    run_dataset_trials,
    estimate_dataset_seconds,
    estimate_trial_seconds,
    finite_representations,
    paper_style,
    run_trials,
    save_representations,
    status_counts,
)

#: XOR pairs (indices into (0,0), (0,1), (1,0), (1,1)) with equal targets ...
SAME_TARGET = ((0, 3), (1, 2))
#: ... and with different targets.
DIFFERENT_TARGET = ((0, 1), (0, 2), (1, 3), (2, 3))

#: A pair is "merged" when its final squared distance is below this fraction of
#: the mean squared distance of the different-target pairs: its distance is
#: then under a third (sqrt 0.1) of a typical one, where the inputs put the
#: same-target pairs at sqrt(2) times the different-target distance.
MERGE_FRACTION = 0.1
#: Small init: same-target pairs merge when the ratio of the mean same-target to
#: the mean different-target squared distance falls below MERGE_FRACTION (the
#: rich-limit theory predicts exactly 0; the inputs have 2, a random deep
#: network at initialisation about 1.5-1.8).
MERGED_RATIO_MAX = MERGE_FRACTION
#: Large init: nothing merges when that ratio stays above 0.5, i.e. the
#: same-target pairs keep at least half the different-target squared distance
#: (the lazy regime keeps the initial structure, ratio ~1.5-1.8 at initialisation).
UNMERGED_RATIO_MIN = 0.5

#: Intermediate init: the network's merge ratio "matches" the theory's (pairwise
#: h_inf from each network's own initial state) when the two agree within this
#: factor, i.e. |log2(network / theory)| <= 1. The ratio runs from 0 (merged,
#: the rich limit) to about 1.8 (the initial structure, kept in the lazy limit);
#: a factor 2 tells "partly merged as predicted" from a neighbouring regime
#: while allowing the seed-to-seed scatter a 4-point, 6-pair structure has.
#: Fixed before the first run with this claim (docs/claims-datasets.md).
INTERMEDIATE_FACTOR_MAX = 2.0

ROLES = ("low", "intermediate", "high", "2 layers")
#: Name of the baseline beside the predictions: the raw input distances.
INPUT_BASELINE = "inputs"


@dataclass(frozen=True)
class XorSettings:
    """The XOR networks of a profile and where the theory's rates come from.

    Parameters
    ----------
    networks : tuple of ArchSpec
        One per role in :data:`ROLES` (same order).
    seeds : int
        Trials per network (seeds 0, 1, ...); claims use the median over seeds.
    rate_scale : TwoPointScale
        Scale of the default two-point network whose fitted rates the theory uses.
    rate_trials : int
        Two-point trials (seeds 0, 1, ...) whose rates are averaged.
    rate_changes : tuple of (str, object) pairs
        ``ArchSpec`` fields of the rate network changed after scaling (the
        Adam twin: optimizer, lr, epochs), as ``FinalDistanceSettings.changes``.
    """

    networks: tuple[ArchSpec, ...]
    seeds: int
    rate_scale: TwoPointScale
    rate_trials: int
    rate_changes: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if len(self.networks) != len(ROLES) or not all(isinstance(a, ArchSpec) for a in self.networks):
            raise ValueError(f"networks must hold {len(ROLES)} ArchSpecs, one per role {ROLES}")
        for name in ("seeds", "rate_trials"):
            value = getattr(self, name)
            checks.integer(name, value, minimum=1)

    def configs(self, device: str = "cpu") -> tuple[list[str], list[DatasetConfig]]:
        """Roles and full-batch trials, one per network and seed (network-major)."""
        pairs = [(role, DatasetConfig(dataset="xor", arch=arch, seed=seed, device=device))
                 for role, arch in zip(ROLES, self.networks) for seed in range(self.seeds)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def rate_configs(self) -> list[TwoPointConfig]:
        """The default two-point trials of fig5 (and fig2) at this profile's scale, with ``rate_changes``."""
        arch = self.rate_scale.arch("default").replace(**dict(self.rate_changes))
        return [TwoPointConfig(arch=arch, seed=s) for s in range(self.rate_trials)]


#: Fig 6's settings (SGD) per profile, which the Adam twin changes.
#: paper: Table 2 exactly, three seeds (the paper shows one network each).
#: quick: width 100 instead of 500 (Xavier-normal variances, hence the
#: regime, do not depend on the width), depth and learning rates kept; the
#: 2-layer network runs 5,000 instead of 40,000 epochs (its loss is below
#: 1e-5 by then and the representation no longer moves). XOR low is the
#: authors' settings-file network in every profile (gain 0.85, lr 0.015,
#: 3,000 epochs; Table 2's printed gain 0.7 does not train), see
#: ``repdyn.nets`` and docs/claims-datasets.md.
SETTINGS = {
    "smoke": XorSettings(
        networks=table2_networks("xor", ROLES, [{"units": 16, "hidden_layers": 4, "gain": 1.0, "epochs": 60},
                                                {"units": 16, "hidden_layers": 4, "epochs": 60},
                                                {"units": 16, "hidden_layers": 4, "epochs": 60},
                                                {"units": 16, "epochs": 200}]),
        seeds=1, rate_scale=GRID_SCALES["smoke"], rate_trials=1),
    "quick": XorSettings(
        networks=table2_networks("xor", ROLES, [{"units": 100}, {"units": 100}, {"units": 100},
                                                {"units": 100, "epochs": 5000}]),
        seeds=3, rate_scale=GRID_SCALES["quick"], rate_trials=3),
    "paper": XorSettings(networks=table2_networks("xor", ROLES), seeds=3, rate_scale=GRID_SCALES["paper"], rate_trials=50),
}


def estimate_settings_seconds(settings: XorSettings) -> float:
    """Rough single-core seconds of the XOR trials and the rate trials."""
    return (sum(estimate_dataset_seconds(c) for c in settings.configs()[1])
            + sum(estimate_trial_seconds(c) for c in settings.rate_configs()))


def xor_rdm(hidden: np.ndarray) -> np.ndarray:
    """Squared distances between the four XOR representations (rows of ``hidden``)."""
    from repdyn.rsa import rdm

    return rdm(np.asarray(hidden, dtype=np.float64))


def merge_ratio(matrix: np.ndarray) -> float:
    """Mean same-target over mean different-target squared distance (NaN if undefined)."""
    same = np.mean([matrix[i, j] for i, j in SAME_TARGET])
    different = np.mean([matrix[i, j] for i, j in DIFFERENT_TARGET])
    return float(same / different) if different > 0 and math.isfinite(different) else float("nan")


def merged_pairs(matrix: np.ndarray) -> float:
    """Pairs (of all six) closer than MERGE_FRACTION times the mean different-target squared distance."""
    different = np.mean([matrix[i, j] for i, j in DIFFERENT_TARGET])
    if not (different > 0 and math.isfinite(different)):
        return float("nan")
    i, j = np.triu_indices(4, 1)
    return float(np.count_nonzero(matrix[i, j] < MERGE_FRACTION * different))


def theory_matrix(result: dict[str, Any], eta_h: float, eta_y: float) -> np.ndarray:
    """Pairwise ``h_inf`` from the network's initial tracked-layer representations and outputs."""
    from repdyn.data import xor
    from repdyn.theory import pairwise_final_distances

    if not (math.isfinite(eta_h) and math.isfinite(eta_y)) or "hidden0" not in result:
        return np.full((4, 4), np.nan)
    data = xor()
    k = int(result["tracked_index"])
    return pairwise_final_distances(data.x.numpy(), data.y.numpy(), result["hidden0"][k], result["output0"],
                                    eta_h=eta_h, eta_y=eta_y)


def network_metrics(results: Sequence[dict[str, Any]], eta_h: float, eta_y: float) -> dict[str, Any]:
    """Per network: ratio and merged count per seed (network and theory), medians, RDM correlations.

    ``rdm_pearson``: median over seeds of the Pearson correlation (6 pairs)
    between the network's final squared distances and each prediction of
    :data:`repdyn.runs.structure.VARIANTS` plus ``pairwise_init`` (the
    pairwise h_inf from the network's own initial state, the figure's theory)
    and the baseline ``inputs`` (the raw input distances, no theory at all).
    ``rdm_mantel_p``: median over seeds of the exact Mantel p-value of that
    correlation (all 24 orderings of the 4 points; the smallest p possible is
    1/24 = 0.042, or 2/24 or 4/24 where the prediction has symmetries).
    """
    from repdyn.data import xor
    from repdyn.runs.structure import compare_structure, variant_predictions

    data = xor()
    ratio = eta_h / eta_y if math.isfinite(eta_h / eta_y) else 1.0
    predictions = variant_predictions(data.x.numpy(), data.y.numpy(), eta_ratio=ratio)
    predictions[INPUT_BASELINE] = xor_rdm(data.x.numpy())
    from repdyn.rsa import mantel_test

    ratios, merged, theory_ratios, theory_merged = [], [], [], []
    correlations: dict[str, list[float]] = {name: [] for name in (*predictions, "pairwise_init")}
    mantel: dict[str, list[float]] = {name: [] for name in correlations}
    for r in results:
        if not finite_representations(r):
            for values in (ratios, merged, theory_ratios, theory_merged, *correlations.values(), *mantel.values()):
                values.append(float("nan"))
            continue
        net = xor_rdm(r["hidden"][int(r["tracked_index"])])
        theory = theory_matrix(r, eta_h, eta_y)
        ratios.append(merge_ratio(net))
        merged.append(merged_pairs(net))
        theory_ratios.append(merge_ratio(theory))
        theory_merged.append(merged_pairs(theory))
        for name, predicted in (*predictions.items(), ("pairwise_init", theory)):
            finite = bool(np.all(np.isfinite(predicted)))
            correlations[name].append(compare_structure(net, predicted)["pearson"] if finite else float("nan"))
            mantel[name].append(mantel_test(net, predicted, method="pearson").p_value if finite else float("nan"))
    return {
        "ratio": ratios, "merged": merged, "theory_ratio": theory_ratios, "theory_merged": theory_merged,
        "median_ratio": median_or_nan(ratios), "median_merged": median_or_nan(merged),
        "median_theory_ratio": median_or_nan(theory_ratios),
        "median_theory_merged": median_or_nan(theory_merged),
        "rdm_pearson": {name: median_or_nan(v) for name, v in correlations.items()},
        "rdm_mantel_p": {name: median_or_nan(v) for name, v in mantel.items()},
    }


def log2_mismatch(ratios: Sequence[float], theory_ratios: Sequence[float]) -> float:
    """Median over seeds of ``|log2(network ratio / theory ratio)|`` (NaN if any seed is NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.abs(np.log2(np.asarray(ratios, float) / np.asarray(theory_ratios, float)))
    return median_or_nan(np.where(np.isnan(np.asarray(ratios, float) * np.asarray(theory_ratios, float)),
                                  np.nan, values))


def xor_claims(per_network: dict[str, dict[str, Any]]) -> list[Claim]:
    """The claims of Fig 6 from :func:`network_metrics` of each role; intervals from a bootstrap over seeds.

    The first three are the paper's text; the fourth is Fig 6's intermediate
    row: the network's merge ratio matches the theory's prediction from its
    own initial state within :data:`INTERMEDIATE_FACTOR_MAX`.
    """
    merged_2l = per_network["2 layers"]["merged"]
    off_by = np.array([abs(m - 1) if math.isfinite(m) else float("nan") for m in merged_2l])
    low, high = (np.asarray(per_network[role]["ratio"], float) for role in ("low", "high"))
    middle = per_network["intermediate"]
    middle_pairs = (np.asarray(middle["ratio"], float), np.asarray(middle["theory_ratio"], float))
    return [
        bootstrap(Claim(claim="At small initial weights the same-target pairs merge",
                        metric="low init: median over seeds of mean same-target / mean different-target final "
                               "squared distance (tracked layer)",
                        measured=median_or_nan(low), relation="<", threshold=MERGED_RATIO_MAX),
                  median_or_nan, low, unit="seeds"),
        bootstrap(Claim(claim="At large initial weights nothing merges",
                        metric="high init: median over seeds of mean same-target / mean different-target final "
                               "squared distance (tracked layer)",
                        measured=median_or_nan(high), relation=">", threshold=UNMERGED_RATIO_MIN),
                  median_or_nan, high, unit="seeds"),
        bootstrap(Claim(claim="The 2-layer network merges only one pair (the theory predicts both)",
                        metric=f"2-layer: median over seeds of |merged pairs - 1|, merged = squared distance < "
                               f"{MERGE_FRACTION:g} x mean different-target squared distance",
                        measured=median_or_nan(off_by), relation="<=", threshold=0.0),
                  median_or_nan, off_by, unit="seeds"),
        bootstrap(Claim(claim="At intermediate initial weights the learned structure matches the theory's "
                              "prediction from the initial state",
                        metric="intermediate init: median over seeds of |log2(network merge ratio / theory merge "
                               "ratio)|, theory = pairwise h_inf from the network's own initial state and the "
                               "default network's rates",
                        measured=log2_mismatch(*middle_pairs), relation="<=",
                        threshold=math.log2(INTERMEDIATE_FACTOR_MAX)),
                  log2_mismatch, *middle_pairs, unit="seeds"),
    ]


@paper_style()
def draw(roles: Sequence[str], results: Sequence[dict[str, Any]], per_network: dict[str, Any],
         eta_h: float, eta_y: float, out: Any, *, stem: str = "fig6_xor", label: str = "SGD") -> list[Any]:
    """Rows: the four networks (first seed). Columns: network h, theory h_inf, training loss (all seeds).

    ``label`` names the optimiser in the title; ``stem`` is the file name.
    """
    from repdyn.runs import save_figure
    from repdyn.runs import figure_grid
    from repdyn.runs.structure import draw_matrix

    fig, axes = figure_grid(len(ROLES), 3, width=3.2, height=2.8)
    ticks = ["00", "01", "10", "11"]
    for row, role in zip(axes, ROLES):
        group = [r for g, r in zip(roles, results) if g == role]
        first = group[0]
        metrics = per_network[role]
        if finite_representations(first):
            k = int(first["tracked_index"])
            draw_matrix(row[0], xor_rdm(first["hidden"][k]), annotate=True,
                        title=f"{role}, seed 0: network, ratio {metrics['ratio'][0]:.2g}")
            draw_matrix(row[1], theory_matrix(first, eta_h, eta_y), annotate=True,
                        title=f"seed 0: theory h_inf, ratio {metrics['theory_ratio'][0]:.2g}")
        else:
            for ax in row[:2]:
                ax.text(0.5, 0.5, f"no finite representation ({first.get('status')})", ha="center",
                        va="center", transform=ax.transAxes)
        for ax in row[:2]:
            ax.set_xticks(range(4), ticks)
            ax.set_yticks(range(4), ticks)
        for i, r in enumerate(group):
            if "train_loss" in r:
                row[2].plot(r["epochs"], r["train_loss"], color=f"C{i}", lw=1.2, label=f"seed {i}: {r['status']}")
        row[2].set_yscale("log")
        row[2].set_title("training loss")
        row[2].set_xlabel("epoch")
        row[2].legend()
    fig.suptitle(f"XOR trained with {label}: final squared distances at the tracked layer, network against "
                 "theory")
    fig.tight_layout()
    return save_figure(fig, out, stem)


def save_first_seeds(roles: Sequence[str], results: Sequence[dict[str, Any]], out: Any) -> list[Any]:
    """``representations-<role>.npz`` (first seed, tracked layer) for ``repdyn predict --compare``."""
    from repdyn.data import xor

    data = xor()
    paths = []
    for role in ROLES:
        first = next(r for g, r in zip(roles, results) if g == role)
        if not finite_representations(first):
            continue
        k = int(first["tracked_index"])
        paths.append(save_representations(
            out / f"representations-{role.replace(' ', '-')}.npz", x=data.x.numpy(), y=data.y.numpy(),
            labels=data.labels.numpy(), hidden=first["hidden"][k], hidden0=first["hidden0"][k],
            output0=first["output0"], name=f"xor {role}"))
    return paths


@dataclass
class XorRun:
    """The trials of a :class:`XorSettings` and their per-network metrics (see :func:`network_metrics`)."""

    settings: XorSettings
    roles: list[str]
    configs: list[DatasetConfig]
    results: list[dict[str, Any]]
    rate_results: list[dict[str, Any]]
    rates: tuple[float, float, int]
    per_network: dict[str, dict[str, Any]]

    @classmethod
    def run(cls, settings: XorSettings, options: RunOptions) -> XorRun:
        """Run (or load from the cache) the rate trials and the XOR trials, and measure them."""
        from repdyn.fast import threads

        roles, configs = settings.configs(options.device)
        rate_results = run_trials(settings.rate_configs(), options)
        eta_h, eta_y, n_rates = averaged_rates(rate_results, skip_failed=False)
        results = run_dataset_trials(configs, options)
        with threads(1):  # one BLAS thread: a BLAS pool on shared cores slows small solves badly
            per_network = {role: network_metrics([r for g, r in zip(roles, results) if g == role], eta_h, eta_y)
                           for role in ROLES}
        return cls(settings, roles, configs, results, rate_results, (eta_h, eta_y, n_rates), per_network)

    def claims(self, *, intervals: bool = True) -> list[Claim]:
        """:func:`xor_claims` (its intervals over 3 seeds cost nothing, so ``intervals`` changes nothing)."""
        return xor_claims(self.per_network)

    def output(self, out: Any, *, stem: str = "fig6_xor", label: str = "SGD",
               rate_source: str = "default two-point network (fig5's rate trials), averaged") -> ExperimentOutput:
        """Draw, save the representations and summarise; ``label`` names the optimiser in the figure."""
        from repdyn.fast import threads

        eta_h, eta_y, n_rates = self.rates
        with threads(1):
            figures = draw(self.roles, self.results, self.per_network, eta_h, eta_y, out, stem=stem, label=label)
        save_first_seeds(self.roles, self.results, out)
        trials = [{"role": g, "seed": c.seed, "status": r.get("status"), "final_loss": r.get("final_loss"),
                   "seconds": r.get("seconds"), "error": r.get("error")}
                  for g, c, r in zip(self.roles, self.configs, self.results)]
        settings = self.settings
        summary = {
            "settings": {"networks": {role: a.to_dict() for role, a in zip(ROLES, settings.networks)},
                         "seeds": settings.seeds, "rate_trials": settings.rate_trials,
                         "rate_network": settings.rate_configs()[0].arch.to_dict(),
                         "loss_convention": self.configs[0].loss_convention,
                         "rate_loss_convention": settings.rate_configs()[0].loss_convention},
            "rates": {"eta_h": eta_h, "eta_y": eta_y, "n_rates": n_rates, "source": rate_source},
            "networks": self.per_network,
            "rdm_correlation_note": "Pearson r over the 6 pairs between the network's final squared distances and "
                                    "each rich-limit prediction (exp: exponential weighing, npoint: N-point "
                                    "extension, pairwise: unsmoothed), the pairwise h_inf from the network's "
                                    "initial state (pairwise_init) and the baseline of the raw input distances "
                                    "(inputs); median over seeds. rdm_mantel_p: the exact one-sided Mantel "
                                    "p-value of that r over all 24 orderings of the points, median over seeds "
                                    "(1/24 = 0.042 at best: 4 points cannot show more)",
            "trials": trials,
        }
        counts = status_counts(self.results)
        counts.update({f"rate_{k}": v for k, v in status_counts(self.rate_results).items()})
        return ExperimentOutput(summary=summary, claims=self.claims(), figures=figures, counts=counts)

