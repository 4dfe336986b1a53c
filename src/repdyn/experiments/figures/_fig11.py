"""Fig 11 (appendix C.1): the theory's loss curve with a fitted eta_m against the network's loss."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import R2_MATCH, matched_fraction, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import (
    ARCHITECTURE_ROWS,
    INIT_ROWS,
    NETWORK_SCALES,
    NetworkRun,
    TwoPointSettings,
)
from repdyn.runs import failed, paper_style, save_figure
from repdyn.theory import r2

#: Every Table 1 network, so that this experiment's trials are exactly those
#: of fig2 and fig3 (same configs and seeds, same cache entries: computed once).
SETTINGS = {
    "smoke": TwoPointSettings(networks=("default", "tanh"), trials=1, scale=NETWORK_SCALES["smoke"]),
    "quick": TwoPointSettings(networks=ARCHITECTURE_ROWS + INIT_ROWS, trials=1, scale=NETWORK_SCALES["quick"]),
    "paper": TwoPointSettings(networks=ARCHITECTURE_ROWS + INIT_ROWS, trials=3, scale=NETWORK_SCALES["paper"]),
}


def estimate_seconds(profile: str) -> float:
    return SETTINGS[profile].estimate_seconds()


def log_loss_r2(result: dict[str, Any]) -> float:
    """R^2 of log10 of the loss against the theory's, over the epochs before convergence.

    The fit's R^2 is on the linear loss, which the first epochs dominate; on a
    log scale the plateau and the tail count too. Epochs after the loss first
    reaches the trial's convergence threshold are left out: both curves then
    fall towards 0 and rounding noise (float32 floors near 1e-12) would
    dominate the logarithm. So are epochs whose measured loss has no
    logarithm (exactly 0, or not finite). Informative only; no claim uses it.
    """
    loss = np.asarray(result.get("loss", []), float)
    theory = np.asarray(result.get("theory_loss", []), float)
    if loss.size == 0 or theory.shape != loss.shape:
        return float("nan")
    stop = int(result.get("converged_epoch", -1))
    end = stop + 1 if stop > 0 else len(loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_loss, log_theory = np.log10(loss[:end]), np.log10(theory[:end])
    keep = np.isfinite(log_loss)
    return float(r2(log_loss[keep], log_theory[keep]))


def loss_claims(r2_loss: Mapping[str, float], *, bar: float = R2_MATCH, seeds: int | None = None) -> list[Claim]:
    """Claim of Fig 11 from each network's R^2 of the loss (NaN: no fit, counts as a miss).

    Interval: a bootstrap over the networks; ``seeds``: trials per network.
    """
    values = np.array(list(r2_loss.values()), dtype=float)
    fraction = partial(matched_fraction, bar=bar)
    return [
        bootstrap(Claim(
            claim="With the fitted eta_m, the theory's loss curve matches the network's for every network",
            metric=f"fraction of networks whose R^2 of the loss (median over trials) is >= {bar:g}",
            measured=fraction(values), relation=">=", threshold=1.0, seeds=seeds,
        ), fraction, values, unit="networks"),
    ]


@paper_style()
def _draw_losses(groups: dict[str, list[dict[str, Any]]], out: Any) -> list[Any]:
    from repdyn.runs import figure_grid

    n_cols = min(5, len(groups))
    n_rows = -(-len(groups) // n_cols)
    fig, axes = figure_grid(n_rows, n_cols, width=2.8, height=2.2)
    for ax, (name, group) in zip(axes.flat, groups.items()):
        for r in [r for r in group if not failed(r)][:1]:
            ax.plot(r["epochs"], r["loss"], color="C0", lw=1.6, label="network")
            ax.plot(r["epochs"], r["theory_loss"], color="C1", lw=1.2, ls="--", label="theory")
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("epoch")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.suptitle("training loss: network (solid) against theory with fitted eta_m (dashed)")
    fig.tight_layout()
    return save_figure(fig, out, "fig11_loss")


def run(options: RunOptions) -> ExperimentOutput:
    trials = NetworkRun.run(SETTINGS[options.profile], options)
    for row in trials.table:
        group = trials.groups[row["network"]]
        row["r2_log_loss"] = median_or_nan([np.nan if failed(r) else log_loss_r2(r) for r in group])
    figures = _draw_losses(trials.groups, options.out)
    claims = loss_claims({row["network"]: row["r2_loss"] for row in trials.table},
                         seeds=SETTINGS[options.profile].trials)
    return trials.output(options.out, claims, figures)
