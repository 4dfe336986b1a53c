"""Fig 3: the initial weight scale, from a plateau then a drop to immediate exponential decay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from repdyn.experiments._claims import Claim
from repdyn.experiments._metrics import R2_MATCH, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import INIT_ROWS, NETWORK_SCALES, NetworkRun, TwoPointSettings
from repdyn.runs import draw_dynamics, failed, paper_style, save_figure, seed_groups

#: Plateau fraction ``t10 / t90`` (see :func:`plateau_fraction`) at or above
#: which a curve has a plateau: it stays within 10 % of its total movement for
#: at least as long as it then takes to cover 90 % (t10 >= t90 - t10).
PLATEAU_MIN = 0.5
#: Plateau fraction at or below which a curve moves "immediately", as an
#: exponential relaxation does (ln(10/9) / ln(10) = 0.046); this allows twice that.
EXPONENTIAL_MAX = 0.1

SETTINGS = {
    "smoke": TwoPointSettings(networks=("low init", "very high init"), trials=1, scale=NETWORK_SCALES["smoke"]),
    "quick": TwoPointSettings(networks=INIT_ROWS, trials=1, scale=NETWORK_SCALES["quick"]),
    "paper": TwoPointSettings(networks=INIT_ROWS, trials=1, scale=NETWORK_SCALES["paper"]),
}


def estimate_seconds(profile: str) -> float:
    return SETTINGS[profile].estimate_seconds()


def target_loss(result: dict[str, Any]) -> np.ndarray:
    """The target-difference part of the loss, ``||dy - dyhat||^2 / 8 = (dy2 - y + 2 w) / 8``.

    The total loss also holds the output-mean term, which decays on its own
    time scale from the first epoch and would hide a plateau; this part is the
    one the theory's h, y, w drive.
    """
    return (float(result["dy2"]) - np.asarray(result["y"], float) + 2 * np.asarray(result["w"], float)) / 8


def progress_epochs(curve: np.ndarray, epochs: np.ndarray) -> tuple[float, float]:
    """Epochs ``(t10, t90)`` at which ``curve`` has first moved 10 % and 90 % of its largest movement.

    Movement is ``|curve(t) - curve(0)|``, either way, so a curve that first dips
    and then recovers (h at very high init) counts as moving at once. NaN if
    the curve never moves (or holds no finite value after the first).
    """
    curve = np.asarray(curve, float)
    finite = np.isfinite(curve)
    moved = np.abs(np.where(finite, curve, curve[0]) - curve[0])
    total = float(moved.max()) if moved.size else 0.0
    if not total > 0 or not finite[0]:
        return float("nan"), float("nan")
    reached = np.maximum.accumulate(moved) / total
    return float(epochs[np.argmax(reached >= 0.1)]), float(epochs[np.argmax(reached >= 0.9)])


def plateau_fraction(curve: np.ndarray, epochs: np.ndarray) -> float:
    """``t10 / t90`` of :func:`progress_epochs`: near 1 for a plateau then a sudden move, 0.046 for
    an exponential relaxation. Scale free, so networks trained with different learning rates compare."""
    t10, t90 = progress_epochs(curve, epochs)
    return t10 / t90 if t90 > 0 else float("nan")


def init_claims(gains: Sequence[float], h_fractions: Sequence[float], loss_fractions: Sequence[float],
                worst_r2: Sequence[float]) -> list[Claim]:
    """Claims of Fig 3 from per-gain plateau fractions (of h and of the target-difference loss) and
    worst R^2, in any order (sorted by gain here). NaN (a diverged or unfitted network) fails every
    claim that uses it."""
    order = np.argsort(np.asarray(gains, float))
    gains_sorted = np.asarray(gains, float)[order]
    frac_h = np.asarray(h_fractions, float)[order]
    frac_loss = np.asarray(loss_fractions, float)[order]
    r2 = np.asarray(worst_r2, float)[order]
    not_falling = float(np.sum(~(np.diff(frac_h) < 0))) if not np.any(np.isnan(frac_h)) else float("nan")
    low, high = f"gain {gains_sorted[0]:g}", f"gain {gains_sorted[-1]:g}"
    return [
        Claim(claim="Small initial weights: the dynamics stall on a plateau, then move",
              metric=f"plateau fraction t10/t90 of h at the smallest gain ({low})",
              measured=frac_h[0], relation=">=", threshold=PLATEAU_MIN),
        Claim(claim="Large initial weights: immediate exponential decay, no plateau",
              metric=f"plateau fraction t10/t90 of h at the largest gain ({high})",
              measured=frac_h[-1], relation="<=", threshold=EXPONENTIAL_MAX),
        Claim(claim="The plateau shrinks as the initial weight scale grows",
              metric="number of consecutive gain pairs whose plateau fraction of h does not decrease",
              measured=not_falling, relation="<=", threshold=0.0),
        Claim(claim="Small initial weights give a plateau in the loss",
              metric=f"plateau fraction t10/t90 of the target-difference loss at the smallest gain ({low})",
              measured=frac_loss[0], relation=">=", threshold=PLATEAU_MIN),
        Claim(claim="At very high initial weights the theory stops matching",
              metric=f"worst R^2 over h, y, w at the largest gain ({high})",
              measured=r2[-1], relation="<", threshold=R2_MATCH),
        Claim(claim="The theory fits the largest initial weights worse than the smallest",
              metric=f"worst R^2 over h, y, w at {low} minus at {high}",
              measured=r2[0] - r2[-1], relation=">", threshold=0.0),
    ]


def _plateau_rows(groups: dict[str, list[dict[str, Any]]], gains: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for name, group in groups.items():
        values: dict[str, list[float]] = {"h": [], "loss": [], "h_t10": []}
        for r in group:
            if failed(r):
                for v in values.values():
                    v.append(np.nan)
                continue
            epochs = np.asarray(r["epochs"])
            t10, t90 = progress_epochs(np.asarray(r["h"], float), epochs)
            values["h"].append(t10 / t90 if t90 > 0 else np.nan)
            values["h_t10"].append(t10)
            values["loss"].append(plateau_fraction(target_loss(r), epochs))
        rows.append({"network": name, "gain": gains[name],
                     "plateau_fraction_h": median_or_nan(values["h"]),
                     "plateau_epochs_h": median_or_nan(values["h_t10"]),
                     "plateau_fraction_loss": median_or_nan(values["loss"])})
    return rows


@paper_style()
def _draw_plateaus(groups: dict[str, list[dict[str, Any]]], rows: list[dict[str, Any]], out: Any) -> list[Any]:
    from repdyn.runs import figure_grid

    fig, axes = figure_grid(1, 3, width=3.6, height=2.8)
    ax_h, ax_loss, ax_frac = axes[0]
    for i, (name, group) in enumerate(groups.items()):
        for r in [r for r in group if not failed(r)][:1]:
            ax_h.plot(r["epochs"], r["h"], color=f"C{i}", lw=1.5, label=name)
            curve = target_loss(r)
            ax_loss.plot(r["epochs"], curve / curve[0], color=f"C{i}", lw=1.5, label=name)
    ax_h.set_title(r"$h = \|\Delta h\|^2$")
    ax_loss.set_yscale("log")
    ax_loss.set_title(r"target-difference loss $\|\Delta y - \Delta\hat y\|^2/8$, relative")
    for ax in (ax_h, ax_loss):
        ax.set_xlabel("epoch")
        ax.legend()
    gains = [r["gain"] for r in rows]
    ax_frac.plot(gains, [r["plateau_fraction_h"] for r in rows], "o-", color="k", label="h")
    ax_frac.plot(gains, [r["plateau_fraction_loss"] for r in rows], "s--", color="0.5", label="loss")
    ax_frac.axhline(PLATEAU_MIN, color="C2", lw=0.8, ls=":", label=f"plateau (>= {PLATEAU_MIN:g})")
    ax_frac.axhline(EXPONENTIAL_MAX, color="C3", lw=0.8, ls=":", label=f"immediate (<= {EXPONENTIAL_MAX:g})")
    ax_frac.set_xlabel("gain")
    ax_frac.set_title("plateau fraction t10 / t90")
    ax_frac.legend()
    fig.tight_layout()
    return save_figure(fig, out, "fig3_plateau")


def run(options: RunOptions) -> ExperimentOutput:
    trials = NetworkRun.run(SETTINGS[options.profile], options)
    gains = {c.arch.name: c.arch.gain for c in trials.configs}
    plateaus = _plateau_rows(trials.groups, gains)
    for row, plateau in zip(trials.table, plateaus):
        row.update(plateau)
    figures = draw_dynamics(seed_groups(trials.configs, trials.results), options.out, "fig3_dynamics",
                            max_trials=1)
    figures += _draw_plateaus(trials.groups, plateaus, options.out)
    table = trials.table
    claims = init_claims([r["gain"] for r in table], [r["plateau_fraction_h"] for r in table],
                         [r["plateau_fraction_loss"] for r in table], [r["worst_r2"] for r in table])
    return trials.output(options.out, claims, figures)
