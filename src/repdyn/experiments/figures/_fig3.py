"""Fig 3: the initial weight scale, from a plateau then a drop to immediate exponential decay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import R2_MATCH, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import INIT_ROWS, NETWORK_SCALES, NetworkRun, TwoPointSettings, min_r2
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
    "paper": TwoPointSettings(networks=INIT_ROWS, trials=3, scale=NETWORK_SCALES["paper"]),
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


def _init_metrics(gains: np.ndarray, h_fractions: np.ndarray, loss_fractions: np.ndarray,
                  worst_r2: np.ndarray) -> list[float]:
    """The six numbers of :func:`init_claims` from per-gain values, gains sorted increasingly."""
    frac_h, frac_loss, r2 = (np.asarray(v, float) for v in (h_fractions, loss_fractions, worst_r2))
    not_falling = float(np.sum(~(np.diff(frac_h) < 0))) if not np.any(np.isnan(frac_h)) else float("nan")
    return [frac_h[0], frac_h[-1], not_falling, frac_loss[0], r2[-1], r2[0] - r2[-1]]


def init_claims(gains: Sequence[float], h_fractions: Sequence[float], loss_fractions: Sequence[float],
                worst_r2: Sequence[float], *, seeds: int | None = None) -> list[Claim]:
    """Claims of Fig 3 from plateau fractions (of h and of the target-difference loss) and worst R^2.

    Each value argument is per gain (one per gain, in any order: sorted by gain
    here) or per seed and gain (shape ``(seeds, gains)``): then every per-gain
    value is the median over seeds, and the intervals come from a bootstrap over
    the seeds (seed ``s`` of every gain drawn together). NaN (a diverged or
    unfitted network) fails every claim that uses it.
    """
    order = np.argsort(np.asarray(gains, float))
    gains_sorted = np.asarray(gains, float)[order]
    per_seed = [np.atleast_2d(np.asarray(v, float))[:, order] for v in (h_fractions, loss_fractions, worst_r2)]

    def metrics(frac_h: np.ndarray, frac_loss: np.ndarray, r2: np.ndarray) -> list[float]:
        medians = [[median_or_nan(column) for column in values.T] for values in (frac_h, frac_loss, r2)]
        return _init_metrics(gains_sorted, *medians)

    measured = metrics(*per_seed)
    low, high = f"gain {gains_sorted[0]:g}", f"gain {gains_sorted[-1]:g}"
    claims = [
        Claim(claim="Small initial weights: the dynamics stall on a plateau, then move",
              metric=f"plateau fraction t10/t90 of h at the smallest gain ({low})",
              measured=measured[0], relation=">=", threshold=PLATEAU_MIN, seeds=seeds),
        Claim(claim="Large initial weights: immediate exponential decay, no plateau",
              metric=f"plateau fraction t10/t90 of h at the largest gain ({high})",
              measured=measured[1], relation="<=", threshold=EXPONENTIAL_MAX, seeds=seeds),
        Claim(claim="The plateau shrinks as the initial weight scale grows",
              metric="number of consecutive gain pairs whose plateau fraction of h does not decrease",
              measured=measured[2], relation="<=", threshold=0.0, seeds=seeds),
        Claim(claim="Small initial weights give a plateau in the loss",
              metric=f"plateau fraction t10/t90 of the target-difference loss at the smallest gain ({low})",
              measured=measured[3], relation=">=", threshold=PLATEAU_MIN, seeds=seeds),
        Claim(claim="At very high initial weights the theory stops matching",
              metric=f"worst R^2 over h, y, w at the largest gain ({high})",
              measured=measured[4], relation="<", threshold=R2_MATCH, seeds=seeds),
        Claim(claim="The theory fits the largest initial weights worse than the smallest",
              metric=f"worst R^2 over h, y, w at {low} minus at {high}",
              measured=measured[5], relation=">", threshold=0.0, seeds=seeds),
    ]
    if per_seed[0].shape[0] < 2:
        return claims  # one seed: no interval over seeds
    return [bootstrap(claim, lambda *rows, k=k: metrics(*rows)[k], *per_seed, unit="seeds")
            for k, claim in enumerate(claims)]


def _per_seed(groups: dict[str, list[dict[str, Any]]]) -> dict[str, np.ndarray]:
    """Per trial, shape (seeds, networks): plateau fraction of h (``h``) and its epoch ``t10`` (``h_t10``),
    of the target-difference loss (``loss``), and the worst R^2 (``r2``); NaN for a failed trial."""
    keys = ("h", "h_t10", "loss", "r2")
    columns: dict[str, list[list[float]]] = {key: [] for key in keys}
    for group in groups.values():
        values: dict[str, list[float]] = {key: [] for key in keys}
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
            values["r2"].append(min_r2(r))
        for key, v in values.items():
            columns[key].append(v)
    return {key: np.array(v, dtype=float).T for key, v in columns.items()}


def _plateau_rows(per_seed: dict[str, np.ndarray], names: list[str], gains: dict[str, float]) -> list[dict[str, Any]]:
    """One row per network (``names``, the columns of ``per_seed``): medians over its seeds."""
    return [{"network": name, "gain": gains[name],
             "plateau_fraction_h": median_or_nan(per_seed["h"][:, k]),
             "plateau_epochs_h": median_or_nan(per_seed["h_t10"][:, k]),
             "plateau_fraction_loss": median_or_nan(per_seed["loss"][:, k])} for k, name in enumerate(names)]


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


def lazy_comparison(result: dict[str, Any]) -> dict[str, Any] | None:
    """The lazy limit (appendix A.5, :func:`repdyn.theory.lazy_limit`) from a trial's initial state and fitted rates.

    ``curves``: ``(T, 3)`` h, y, w of the limit; ``r2``: its R^2 against the
    network's h, y, w; ``small_parameter``: ``sqrt(dy2 / y0)``, the order of its
    error against the full theory (0 in the limit). None without a fit.
    """
    from repdyn.theory import lazy_limit, r2

    eta_h, eta_y = float(result.get("eta_h", np.nan)), float(result.get("eta_y", np.nan))
    h0, y0 = float(result.get("h0", np.nan)), float(result.get("y0", np.nan))
    if failed(result) or not (np.isfinite(eta_h) and np.isfinite(eta_y) and h0 > 0 and y0 > 0):
        return None
    epochs = np.asarray(result["epochs"], float)
    curves = lazy_limit([h0, y0, y0], epochs - epochs[0], eta_h=eta_h, eta_y=eta_y, dx2=float(result["dx2"]))
    return {"curves": curves, "small_parameter": float(np.sqrt(float(result["dy2"]) / y0)),
            "r2": {v: float(r2(np.asarray(result[v], float), curves[:, i])) for i, v in enumerate("hyw")}}


@paper_style()
def _draw_lazy_limit(name: str, group: list[dict[str, Any]], out: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """The network at the largest gain (solid), the fitted theory (dashed) and its lazy limit (dotted)."""
    from repdyn.runs import THEORY_LINE, figure_grid

    fig, axes = figure_grid(1, 3, width=3.4, height=2.7)
    rows = []
    for i, r in enumerate(group):
        lazy = lazy_comparison(r)
        if lazy is None:
            continue
        rows.append({"seed": i, "r2": lazy["r2"], "small_parameter": lazy["small_parameter"]})
        for k, (ax, v) in enumerate(zip(axes[0], ("h", "y", "w"))):
            ax.plot(r["epochs"], r[v], color=f"C{i}", lw=1.6, label=f"seed {i}: network" if k == 0 else None)
            ax.plot(r["epochs"], r[f"theory_{v}"], color=f"C{i}", **THEORY_LINE,
                    label="fitted theory" if k == 0 and i == 0 else None)
            ax.plot(r["epochs"], lazy["curves"][:, k], color="k", lw=1.0, ls=":",
                    label="lazy limit (A.5)" if k == 0 and i == 0 else None)
            ax.set_title(f"{v}: lazy limit R^2 {lazy['r2'][v]:.2f}" if len(group) == 1 else v)
            ax.set_xlabel("epoch")
            ax.set_ylabel(v)
    if not rows:
        axes[0][0].text(0.5, 0.5, "no fitted trial", ha="center", va="center", transform=axes[0][0].transAxes)
    else:
        axes[0][0].legend()
    fig.suptitle(f"{name}: network against the fitted theory and its large-init limit "
                 "(identical-target dynamics from the network's initial state)")
    fig.tight_layout()
    return save_figure(fig, out, "fig3_lazy_limit"), rows


def run(options: RunOptions) -> ExperimentOutput:
    trials = NetworkRun.run(SETTINGS[options.profile], options)
    gains = {c.arch.name: c.arch.gain for c in trials.configs}
    per_seed = _per_seed(trials.groups)
    plateaus = _plateau_rows(per_seed, list(trials.groups), gains)
    for row, plateau in zip(trials.table, plateaus):
        row.update(plateau)
    figures = draw_dynamics(seed_groups(trials.configs, trials.results), options.out, "fig3_dynamics",
                            max_trials=1)
    figures += _draw_plateaus(trials.groups, plateaus, options.out)
    largest = max(gains, key=gains.get)
    lazy_figures, lazy_rows = _draw_lazy_limit(largest, trials.groups[largest], options.out)
    figures += lazy_figures
    table = trials.table
    claims = init_claims([r["gain"] for r in table], per_seed["h"], per_seed["loss"], per_seed["r2"],
                         seeds=SETTINGS[options.profile].trials)
    output = trials.output(options.out, claims, figures)
    output.summary["lazy_limit"] = {"network": largest, "trials": lazy_rows,
                                    "note": "appendix A.5: R^2 of the identical-target dynamics from each trial's "
                                            "initial state with its fitted rates; small_parameter = "
                                            "sqrt(dy2 / y0), the order of the limit's error against the theory"}
    return output
