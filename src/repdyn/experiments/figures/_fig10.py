"""Fig 10: the theory fitted at every hidden layer of the default network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import spearman
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import NETWORK_SCALES, TwoPointScale
from repdyn.runs import (
    TwoPointConfig,
    estimate_trial_seconds,
    failed,
    paper_style,
    run_trials,
    save_figure,
    status_counts,
    trial_summary,
    write_trial_data,
)

#: Spearman correlation of the fit error with the layer index (all layers) at
#: or below which the error "falls towards later layers": the one-sided 5 %
#: critical value of Spearman's rho for 20 points (the paper's 20 layers).
ERROR_TREND_MAX = -0.38
#: Spearman correlation of the initial distance h0 with the layer index at or
#: below which h0 "decreases with depth" (the paper's Eq. 14): the same
#: one-sided 5 % critical value for 20 points as the fit-error trend.
H0_TREND_MAX = ERROR_TREND_MAX
#: Spearman correlation of a rate with the layer index over the later half of
#: the layers beyond which the rate "rises" (or, negated, "falls"): the one-sided
#: 5 % critical value of Spearman's rho for 10 points (layers 11 to 20 of 20).
RATE_TREND_MIN = 0.56


@dataclass(frozen=True)
class DepthSettings:
    """Trials of the all-layer fit.

    Parameters
    ----------
    network : str
        Table 1 name (the paper uses the default network).
    trials : int
        Seeds 0, 1, ...; per layer the median over trials is used.
    scale : TwoPointScale
        The profile's scale.
    """

    network: str
    trials: int
    scale: TwoPointScale

    def __post_init__(self) -> None:
        checks.integer("trials", self.trials, minimum=1)

    def configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        return [TwoPointConfig(arch=self.scale.arch(self.network), seed=s, all_layers=True, device=device)
                for s in range(self.trials)]


#: The paper fits one run per layer; quick keeps one, paper takes 5 for a median
#: (at least 3 seeds, as every one-trial-per-network experiment in the paper profile).
SETTINGS = {
    "smoke": DepthSettings(network="default", trials=1, scale=NETWORK_SCALES["smoke"]),
    "quick": DepthSettings(network="default", trials=1, scale=NETWORK_SCALES["quick"]),
    "paper": DepthSettings(network="default", trials=5, scale=NETWORK_SCALES["paper"]),
}


def estimate_seconds(profile: str) -> float:
    return sum(estimate_trial_seconds(c) for c in SETTINGS[profile].configs())


def layer_medians(results: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per layer, the median over trials of eta_h, eta_y, the fit error ``1 - worst R^2`` and h0.

    A trial without per-layer fits (failed, diverged before it could be fitted)
    makes every layer NaN, so it fails the claims instead of vanishing.
    """
    stacks: dict[str, list[np.ndarray]] = {"eta_h": [], "eta_y": [], "fit_error": [], "h0": []}
    n_layers = max((len(r["eta_h_layers"]) for r in results if "eta_h_layers" in r), default=0)
    for r in results:
        if failed(r) or "eta_h_layers" not in r:
            for v in stacks.values():
                v.append(np.full(n_layers, np.nan))
            continue
        stacks["eta_h"].append(np.asarray(r["eta_h_layers"], float))
        stacks["eta_y"].append(np.asarray(r["eta_y_layers"], float))
        stacks["fit_error"].append(1.0 - np.asarray(r["r2_layers"], float).min(axis=1))
        stacks["h0"].append(np.asarray(r["h_layers"], float)[:, 0])
    return {k: (np.median(np.stack(v), axis=0) if v and n_layers else np.full(n_layers, np.nan))
            for k, v in stacks.items()}


def depth_decay(h0: Sequence[float]) -> dict[str, float]:
    """Fit of Eq. 14, ``h0(l) = c * alpha^(2 l)``, to the initial distances of hidden layers ``l = 1, 2, ...``.

    Least squares on ``log h0`` against ``l``: ``alpha = exp(slope / 2)``, with
    the R^2 of that line. NaN when fewer than two layers have a positive h0.
    """
    h0 = np.asarray(h0, float)
    layers = np.arange(1, h0.size + 1)
    ok = np.isfinite(h0) & (h0 > 0)
    if ok.sum() < 2:
        return {"alpha": float("nan"), "c": float("nan"), "r2_log": float("nan")}
    slope, intercept = np.polyfit(layers[ok], np.log(h0[ok]), 1)
    residual = np.log(h0[ok]) - (slope * layers[ok] + intercept)
    spread = np.sum((np.log(h0[ok]) - np.log(h0[ok]).mean()) ** 2)
    r2 = 1.0 - float(np.sum(residual**2) / spread) if spread > 0 else float("nan")
    return {"alpha": float(np.exp(slope / 2)), "c": float(np.exp(intercept)), "r2_log": r2}


def _trend(layers: np.ndarray, values: np.ndarray, *, later_than: float = 0.0) -> float:
    """Spearman correlation of ``values`` with the layer index over the layers past ``later_than``."""
    keep = np.asarray(layers, float) > later_than
    return spearman(np.asarray(layers, float)[keep], np.asarray(values, float)[keep])


def depth_claims(eta_h: Sequence[float], eta_y: Sequence[float], fit_error: Sequence[float],
                 h0: Sequence[float] | None = None, *, seeds: int | None = None) -> list[Claim]:
    """Claims of Fig 10 from per-layer values, first hidden layer first (with ``h0``: Eq. 14's too).

    Intervals: a bootstrap over the layers (each layer's index and values drawn
    together); ``seeds`` is the number of trials whose median each layer's value is.
    """
    layers = np.arange(1, len(eta_h) + 1, dtype=float)
    middle = len(layers) / 2
    eta_h, eta_y, fit_error = (np.asarray(v, float) for v in (eta_h, eta_y, fit_error))
    later = partial(_trend, later_than=middle)
    h0_claim = [] if h0 is None else [
        bootstrap(Claim(claim="The initial representational distance h0 decreases with depth (Eq. 14)",
                        metric="Spearman correlation of h0 with the layer index, all hidden layers",
                        measured=_trend(layers, h0), relation="<=", threshold=H0_TREND_MAX, seeds=seeds),
                  _trend, layers, np.asarray(h0, float), unit="layers"),
    ]
    return h0_claim + [
        bootstrap(Claim(claim="The fit error falls towards the later layers",
                        metric="Spearman correlation of the fit error (1 - worst R^2 over h, y, w) with the layer "
                               "index, all hidden layers",
                        measured=_trend(layers, fit_error), relation="<=", threshold=ERROR_TREND_MAX, seeds=seeds),
                  _trend, layers, fit_error, unit="layers"),
        bootstrap(Claim(claim="eta_h rises with depth in the later layers",
                        metric="Spearman correlation of eta_h with the layer index, later half of the hidden layers",
                        measured=later(layers, eta_h), relation=">=", threshold=RATE_TREND_MIN, seeds=seeds),
                  later, layers, eta_h, unit="layers"),
        bootstrap(Claim(claim="eta_y falls with depth in the later layers",
                        metric="Spearman correlation of eta_y with the layer index, later half of the hidden layers",
                        measured=later(layers, eta_y), relation="<=", threshold=-RATE_TREND_MIN, seeds=seeds),
                  later, layers, eta_y, unit="layers"),
    ]


@paper_style()
def _draw(medians: dict[str, np.ndarray], results: Sequence[dict[str, Any]], out: Any) -> list[Any]:
    from matplotlib import colormaps

    from repdyn.runs import figure_grid

    fig, axes = figure_grid(1, 5, width=3.0, height=2.6)
    ax_err, ax_h, ax_y, ax_h0, ax_curves = axes[0]
    layers = np.arange(1, len(medians["eta_h"]) + 1)
    ax_h0.plot(layers, medians["h0"], "o", color="C1", ms=3, label="network")
    decay = depth_decay(medians["h0"])
    if np.isfinite(decay["alpha"]):
        ax_h0.plot(layers, decay["c"] * decay["alpha"] ** (2 * layers), color="k", lw=0.8, ls="--",
                   label=rf"$c\,\alpha^{{2l}}$, $\alpha$ = {decay['alpha']:.3f}")
    ax_h0.set_yscale("log")
    ax_h0.set_title("initial distance h0 (Eq. 14)")
    ax_h0.set_xlabel("hidden layer")
    ax_h0.legend()
    for ax, key, colour, title in ((ax_err, "fit_error", "C3", "fit error 1 - worst R^2"),
                                   (ax_h, "eta_h", "C0", r"$\eta_h$"), (ax_y, "eta_y", "C2", r"$\eta_y$")):
        ax.plot(layers, medians[key], "o-", color=colour, ms=3)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("hidden layer")
        ax.axvspan(len(layers) / 2 + 0.5, len(layers) + 0.5, color="0.9", zorder=0)
    shown = [r for r in results if "h_layers" in r][:1]
    for r in shown:
        h = np.asarray(r["h_layers"], float)
        colours = colormaps["viridis"](np.linspace(0, 1, len(h)))
        for k, (row, colour) in enumerate(zip(h, colours)):
            final = row[np.isfinite(row)][-1] if np.isfinite(row).any() else 1.0
            ax_curves.plot(r["epochs"], row / final, color=colour, lw=1, label=f"{k + 1}" if k in (0, len(h) - 1)
                           else None)
        ax_curves.legend(title="layer")
    ax_curves.set_title("h per layer / its final value")
    ax_curves.set_xlabel("epoch")
    fig.tight_layout()
    return save_figure(fig, out, "fig10_depth")


def run(options: RunOptions) -> ExperimentOutput:
    settings = SETTINGS[options.profile]
    configs = settings.configs(options.device)
    results = run_trials(configs, options)
    medians = layer_medians(results)
    figures = _draw(medians, results, options.out)
    write_trial_data(options.out, results, configs, "trials")
    layers = [{"layer": k + 1, **{key: float(v[k]) for key, v in medians.items()}}
              for k in range(len(medians["eta_h"]))]
    return ExperimentOutput(
        summary={"settings": asdict(settings), "layers": layers, "h0_decay": depth_decay(medians["h0"]),
                 "trials": [trial_summary(c, r) for c, r in zip(configs, results)]},
        claims=depth_claims(medians["eta_h"], medians["eta_y"], medians["fit_error"], medians["h0"],
                            seeds=settings.trials),
        figures=figures, counts=status_counts(results),
    )
