"""Fig 9: the representational structure of 100 MNIST digits against the theory's prediction.

The network is fig4's (same config, so the trial comes from the cache when
fig4 ran first). Its final squared distances between the tracked-layer
representations of 100 training digits, sorted by label (see
:func:`repdyn.experiments._dataset_training.mnist_probe_indices`), are
compared with the theory's prediction with exponential weighing: the rich
limit ``A`` from the inputs, one-hot targets and the rate ratio fitted on the
tracked pair, weighed with the paper's ``tau = 1``. Every other prediction of
:data:`repdyn.experiments._structure.VARIANTS` (the N-point extension, the
project's default ``tau``, ...) and the raw pixel distances are compared too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from repdyn.experiments._claims import Claim
from repdyn.experiments._dataset_training import finite_representations, load_dataset
from repdyn.experiments._fig4 import SETTINGS, run_mnist
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._structure import DEFAULT_VARIANT, PAPER_VARIANT
from repdyn.experiments._two_point_run import status_counts
from repdyn.experiments._plots import paper_style

#: "Part of the structure matches": a Spearman correlation of at least 0.3
#: between predicted and measured squared distances, Cohen's conventional
#: "medium" effect size for a correlation (0.1 small, 0.5 large). Used for all
#: pairs and, as the sharper test, for pairs of different digits only (where
#: "same digit is close" cannot help). The Mantel p-values in the summary say
#: whether a correlation is distinguishable from chance at all.
SPEARMAN_MIN = 0.3
#: The prediction the claims test: the paper's exponential weighing, tau = 1.
CLAIM_PREDICTION = PAPER_VARIANT


def estimate_seconds(profile: str) -> float:
    from repdyn.experiments._fig4 import estimate_seconds as fig4_seconds

    return fig4_seconds(profile) + 10.0  # the trial is fig4's (cached when fig4 ran); the rest is analysis


def probe_points(config: Any, result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, one-hot targets and labels of the trial's probe digits (label-sorted)."""
    points = load_dataset("mnist", mnist_dir=config.mnist_dir, mnist_n=config.mnist_n)
    index = np.asarray(result["probe_index"], dtype=np.int64)
    return (points.x.numpy()[index].astype(np.float64), points.y.numpy()[index].astype(np.float64),
            points.labels.numpy()[index])


def structure_claims(comparison: dict[str, float]) -> list[Claim]:
    """Claims of Fig 9 from :func:`repdyn.experiments._structure.compare_structure` of the claim's prediction."""
    return [
        Claim(claim="Part of the MNIST representational structure matches the theory (exponential weighing)",
              metric="Spearman correlation of predicted and measured squared distances, all pairs of the 100 "
                     "digits (tracked layer L // 2, tau = 1)",
              measured=comparison.get("spearman", math.nan), relation=">=", threshold=SPEARMAN_MIN),
        Claim(claim="The match extends beyond the same-digit blocks",
              metric="the same Spearman correlation over pairs of different digits only",
              measured=comparison.get("spearman_between", math.nan), relation=">=", threshold=SPEARMAN_MIN),
    ]


def analyse(x: np.ndarray, y: np.ndarray, labels: np.ndarray, result: dict[str, Any]) -> dict[str, Any]:
    """Network RDMs per layer against every prediction, Mantel p-values, triangle violations."""
    from repdyn.experiments._structure import (
        compare_structure,
        mantel_p,
        variant_comparison,
        variant_predictions,
    )
    from repdyn.rsa import rdm
    from repdyn.theory import exponential_weighing, rich_limit_distances

    eta_h, eta_y = float(result.get("eta_h", math.nan)), float(result.get("eta_y", math.nan))
    fitted = math.isfinite(eta_h / eta_y) and eta_h > 0
    ratio = eta_h / eta_y if fitted else 1.0
    predictions = variant_predictions(x, y, eta_ratio=ratio)
    k = int(result["tracked_index"])
    network = rdm(np.asarray(result["hidden"][k], dtype=np.float64))
    comparison = variant_comparison(network, predictions, labels)
    comparison["pixels"] = compare_structure(network, rdm(x), labels)
    claim_prediction = predictions[CLAIM_PREDICTION]
    weighing = exponential_weighing(rich_limit_distances(x, y, ratio), tau=1.0, distances="zeroed")
    layers = [str(n) for n in np.asarray(result["layer_names"]).reshape(-1)]
    per_layer = {name: compare_structure(rdm(np.asarray(h, dtype=np.float64)), claim_prediction, labels)
                 for name, h in zip(layers, result["hidden"])}
    return {
        "layer": layers[k],
        "side_by_side": {"theory (exponential weighing, tau = 1)": comparison[CLAIM_PREDICTION],
                         "baseline: raw input distances": comparison["pixels"],
                         "N-point extension": comparison["npoint"]},
        "eta_ratio": ratio,
        "eta_ratio_source": "fitted on the tracked pair" if fitted else "1.0 (the fit failed)",
        "comparison": comparison,
        "claim_prediction": CLAIM_PREDICTION,
        "mantel_p": {"all_pairs": mantel_p(network, claim_prediction),
                     "between_digits": mantel_p(network, claim_prediction, labels=labels)},
        "triangle_violations": {"before": weighing.violations_before.fraction,
                                "after": weighing.violations_after.fraction},
        "per_layer": per_layer,
        "network": network,
        "predictions": predictions,
        "pixels": rdm(x),
    }


@paper_style()
def draw(analysis: dict[str, Any], labels: np.ndarray, out: Any, *, stem: str = "fig9_mnist_structure",
         label: str = "SGD") -> list[Any]:
    """Network RDM next to the paper's prediction, repdyn's default prediction, the N-point extension and
    the raw pixel distances (the baseline)."""
    from repdyn.experiments._outputs import save_figure
    from repdyn.experiments._plots import figure_grid
    from repdyn.experiments._structure import draw_matrix

    panels = [(f"network ({analysis['layer']})", analysis["network"], None),
              ("exp. weighing, tau = 1 (paper)", analysis["predictions"][PAPER_VARIANT], PAPER_VARIANT),
              (f"repdyn's default ({DEFAULT_VARIANT})", analysis["predictions"][DEFAULT_VARIANT], DEFAULT_VARIANT),
              ("N-point extension", analysis["predictions"]["npoint"], "npoint"),
              ("baseline: raw pixel distances", analysis["pixels"], "pixels")]
    fig, axes = figure_grid(1, len(panels), width=3.6, height=3.3)
    for ax, (title, matrix, key) in zip(axes[0], panels):
        if key is not None:
            r = analysis["comparison"][key]
            title += f"\nSpearman {r['spearman']:.2f} (between digits {r['spearman_between']:.2f})"
        draw_matrix(ax, matrix, title=title, labels=labels)
        ticks = [int(np.flatnonzero(labels == d)[0]) for d in np.unique(labels)]
        ax.set_xticks(ticks, [str(d) for d in np.unique(labels)])
        ax.set_yticks(ticks, [str(d) for d in np.unique(labels)])
    fig.suptitle(f"MNIST trained with {label}: squared distances of 100 digits sorted by label", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, stem)


def run(options: RunOptions) -> ExperimentOutput:
    return mnist_structure(SETTINGS[options.profile], options)


def mnist_structure(settings: Any, options: RunOptions, *, stem: str = "fig9_mnist_structure", label: str = "SGD",
                    write: bool = True) -> ExperimentOutput:
    """The structure analysis of the MNIST trial of ``settings`` (a ``MnistSettings``).

    ``label`` names the optimiser in the figure. With ``write=False`` nothing is
    drawn or saved (the claims and summary only: the Adam twin's SGD side).
    """
    from repdyn.experiments._fig4 import source_text

    config, result = run_mnist(options, settings)
    summary: dict[str, Any] = {"mnist_source": source_text(config, result), "source": result.get("source"),
                               "settings": {"arch": settings.arch.to_dict(),
                                            "batch_size": config.batch_size, "n_images": config.mnist_n}}
    if not finite_representations(result):
        summary["error"] = f"no finite representations (trial {result.get('status')})"
        nan = {"spearman": math.nan, "spearman_between": math.nan}
        return ExperimentOutput(summary=summary, claims=structure_claims(nan), counts=status_counts([result]))
    from repdyn.fast import threads

    x, y, labels = probe_points(config, result)
    with threads(1):  # one BLAS thread: a BLAS pool on shared cores slows small solves badly
        analysis = analyse(x, y, labels, result)
        figures = draw(analysis, labels, options.out, stem=stem, label=label) if write else []
    if write:
        options.out.mkdir(parents=True, exist_ok=True)
        k = int(result["tracked_index"])
        np.savez(options.out / "representations-mnist.npz", x=x, y=y, labels=labels, hidden=result["hidden"][k],
                 hidden0=result["hidden0"][k], output0=result["output0"], name=np.array("mnist 100 digits"))
    summary.update({key: value for key, value in analysis.items()
                    if key not in ("network", "predictions", "pixels")})
    summary["probe"] = ("first 100 training digits, sorted by label" if result.get("source") == "idx"
                        else "first 10 digits of each label of the label-sorted subset")
    return ExperimentOutput(summary=summary, claims=structure_claims(analysis["comparison"][CLAIM_PREDICTION]),
                            figures=figures, counts=status_counts([result]))
