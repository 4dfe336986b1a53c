"""The final-distance study (Figs 5 and 14): the theory's final distance against the network's over a grid.

Per architecture: fit the rates on ``fit_trials`` runs at the default two points
(dx2 = 1, dy2 = 0.5) and average them; then train one network per grid point
(``||dx||`` x ``||dy||``) until it converges and compare its final ``h`` with
``h_inf`` predicted from the averaged rates and that network's own initial state.
``fig5`` runs it with SGD (:data:`SETTINGS`), ``adam`` with Adam
(``repdyn.experiments.studies._adam``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import averaged_rates
from repdyn.experiments._registry import RunOptions
from repdyn.experiments._two_point import ARCHITECTURE_ROWS, GRID_SCALES, INIT_ROWS, TwoPointScale
from repdyn.nets import ArchSpec
from repdyn.runs import (
    DEFAULT_LOSS_THRESHOLD,
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

#: Pearson correlation of predicted against measured final distances at or
#: above which the predictions "lie on the diagonal" (with the relative error
#: below, which checks the slope): 0.9 means the prediction explains 81 % of the
#: variance of the measured distances, which span a factor of about 30 here.
CORRELATION_MIN = 0.9
#: Median relative error |predicted - measured| / measured at or below which
#: the predictions sit on the diagonal rather than merely correlate: a factor
#: 1.2 either way, small against the grid's spread of final distances.
RELATIVE_ERROR_MAX = 0.2
#: Grid trials converge when the loss falls to ``DEFAULT_LOSS_THRESHOLD`` scaled
#: by ``dy2 / 0.5``: the same fraction (1.6 %) of the starting target-difference
#: loss ``dy2 / 8`` that the default threshold is at dy2 = 0.5. Identical targets
#: (dy2 = 0) use the threshold of the smallest nonzero grid value, (1/4)^2.
DY2_FLOOR = 0.0625
#: Seeds of grid trials start here, away from the rate-fitting trials' seeds
#: 0, 1, ..., so that no network's own rates enter its prediction.
GRID_SEED = 1000


def grid_threshold(dy2: float) -> float:
    """Convergence loss of a grid trial with squared target distance ``dy2``."""
    return DEFAULT_LOSS_THRESHOLD * max(dy2, DY2_FLOOR) / 0.5


@dataclass(frozen=True)
class FinalDistanceSettings:
    """One final-distance experiment: networks, rate-fitting trials, grid, scale.

    Parameters
    ----------
    networks : tuple of str
        Table 1 names.
    fit_trials : int
        Runs per network (seeds 0, 1, ...) at dx2 = 1, dy2 = 0.5 whose fitted
        rates are averaged. They are the same trials as fig2's.
    dx_norms, dy_norms : tuple of float
        Grid of ``||dx||`` (> 0) and ``||dy||`` (>= 0); one trial per pair.
    scale : TwoPointScale
        The profile's scale.
    changes : tuple of (str, object) pairs
        ``ArchSpec`` fields changed after scaling (Adam: optimizer, lr, epochs).
    grids : tuple of (str, dx_norms, dy_norms)
        Networks (named in ``networks``) whose grid is their own instead of
        ``dx_norms`` x ``dy_norms``.
    """

    networks: tuple[str, ...]
    fit_trials: int
    dx_norms: tuple[float, ...]
    dy_norms: tuple[float, ...]
    scale: TwoPointScale
    changes: tuple[tuple[str, Any], ...] = ()
    grids: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = ()

    def __post_init__(self) -> None:
        if not self.networks:
            raise ValueError("networks must name at least one Table 1 network")
        checks.integer("fit_trials", self.fit_trials, minimum=1)
        if not self.dx_norms or min(self.dx_norms) <= 0:
            raise ValueError(f"dx_norms must be a non-empty tuple of values > 0; got {self.dx_norms!r}")
        if not self.dy_norms or min(self.dy_norms) < 0:
            raise ValueError(f"dy_norms must be a non-empty tuple of values >= 0; got {self.dy_norms!r}")
        for name, dx_norms, dy_norms in self.grids:
            if name not in self.networks:
                raise ValueError(f"grids names {name!r}, which is not one of networks {self.networks}")
            if not dx_norms or min(dx_norms) <= 0 or not dy_norms or min(dy_norms) < 0:
                raise ValueError(f"the grid of {name!r} needs dx_norms > 0 and dy_norms >= 0, both non-empty; "
                                 f"got {dx_norms!r} and {dy_norms!r}")

    def grid(self, name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(dx_norms, dy_norms)`` of network ``name``: its own grid, else the common one."""
        own = {network: (dx, dy) for network, dx, dy in self.grids}
        return own.get(name, (self.dx_norms, self.dy_norms))

    def arch(self, name: str) -> ArchSpec:
        spec = self.scale.arch(name)
        return spec.replace(**dict(self.changes)) if self.changes else spec

    def fit_configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        return [TwoPointConfig(arch=self.arch(name), seed=seed, device=device)
                for name in self.networks for seed in range(self.fit_trials)]

    def grid_configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        """One early-stopping, unfitted trial per network and grid point (``||dx||``-major)."""
        configs = []
        for name in self.networks:
            spec = self.arch(name)
            dx_norms, dy_norms = self.grid(name)
            for i, (dx, dy) in enumerate((dx, dy) for dx in dx_norms for dy in dy_norms):
                configs.append(TwoPointConfig(
                    arch=spec, seed=GRID_SEED + i, dx2=float(dx) ** 2, dy2=float(dy) ** 2,
                    loss_threshold=grid_threshold(float(dy) ** 2), fit=False, stop_when_converged=True,
                    device=device,
                ))  # fmt: skip
        return configs


_PAPER_GRID = {"dx_norms": tuple(np.linspace(0.5, 1.5, 5).tolist()),
               "dy_norms": tuple(np.linspace(0.0, 1.0, 5).tolist())}

#: quick's grid points beyond the rich limit: the elu network, whose initial
#: distance is large (h0 ~ 0.2-0.7 at width 100), at ||dx|| >= 1 and ||dy|| > 0,
#: where the theory puts h_inf apart from both A_low and h0. Chosen before the
#: run from the theory: with elu's rates of the previous quick run (fig2,
#: eta_h / eta_y = 1.34) and these trials' own initial states (seeds 1000-1011,
#: computed without training), 7 of the 12 have |h_inf - A_low| / A_low > 0.2
#: (0.23-0.77) and h_inf differs from h0 by 47 % to 370 % at every one
#: (docs/claims-two-point.md).
BEYOND_RICH_GRID = ("elu", (1.0, 1.25, 1.5), (0.25, 0.5, 0.75, 1.0))

#: Fig 5's settings (SGD) per profile, which the Adam experiment changes.
#: quick: three architectures in different regimes (the rich default, tanh
#: with a larger initial distance, the 2-layer shallow network), three
#: rate-fitting trials each, the paper's full 5 x 5 grid, and elu on
#: :data:`BEYOND_RICH_GRID`. paper: every Table 1 network (elu and the init
#: rows included), 50 rate-fitting trials, the 5 x 5 grid.
SETTINGS = {
    "smoke": FinalDistanceSettings(networks=("default",), fit_trials=1, dx_norms=(0.5, 1.5),
                                   dy_norms=(0.0, 1.0), scale=GRID_SCALES["smoke"]),
    "quick": FinalDistanceSettings(networks=("default", "tanh", "shallow", "elu"), fit_trials=3,
                                   scale=GRID_SCALES["quick"], grids=(BEYOND_RICH_GRID,), **_PAPER_GRID),
    "paper": FinalDistanceSettings(networks=ARCHITECTURE_ROWS + INIT_ROWS, fit_trials=50,
                                   scale=GRID_SCALES["paper"], **_PAPER_GRID),
}


def estimate_settings_seconds(settings: FinalDistanceSettings) -> float:
    """Rough single-core seconds: fitting trials plus grid trials (at their full epochs)."""
    return sum(estimate_trial_seconds(c) for c in settings.fit_configs() + settings.grid_configs())


def predict(results: Sequence[dict[str, Any]], eta_h: float, eta_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted ``h_inf`` and rich limit ``A_low`` of each grid trial from the given rates.

    ``h_inf`` uses the trial's own initial state; ``A_low`` ignores it (the
    baseline that the initial state does not matter). NaN where a trial failed,
    has no positive ``h0`` or the rates are not finite.
    """
    from repdyn.theory import final_distance

    h_inf, a_low = np.full(len(results), np.nan), np.full(len(results), np.nan)
    if not (math.isfinite(eta_h) and math.isfinite(eta_y)):
        return h_inf, a_low
    for i, r in enumerate(results):
        if failed(r) or not float(r.get("h0", np.nan)) > 0:
            continue
        y0 = max(float(r["y0"]), 0.0)
        fd = final_distance(float(r["h0"]), y0, eta_h=eta_h, eta_y=eta_y, dx2=float(r["dx2"]), dy2=float(r["dy2"]))
        h_inf[i], a_low[i] = float(fd.h_inf), float(fd.a_low)
    return h_inf, a_low


#: The baselines every final-distance prediction is shown beside: "no change"
#: (the final distance is the initial one, ``h0``) and the rich limit ``A_low``
#: alone (the final distance ignores the initial state).
BASELINES = ("h0", "a_low")
#: Ratio of the theory's median relative error to the "no change" baseline's
#: below which the theory "predicts the final distance better than h0": any
#: value under 1 means its typical error is the smaller one. Fixed before the
#: first run with baselines (docs/claims-two-point.md).
BASELINE_ERROR_RATIO_MAX = 1.0


#: ``|h_inf - A_low| / A_low`` above which a grid trial is "beyond the rich
#: limit": the theory's prediction and its rich limit differ by more than 20 %,
#: the same factor 1.2 as :data:`RELATIVE_ERROR_MAX` (a difference the
#: final-distance bar can resolve). The claim that the theory beats ``A_low``
#: there uses :data:`BASELINE_ERROR_RATIO_MAX`. Fixed before the first run with
#: such trials (docs/claims-two-point.md).
DIFFER_MIN = 0.2


def beyond_rich(predicted: np.ndarray, a_low: np.ndarray) -> np.ndarray:
    """Trials whose predicted ``h_inf`` differs from ``A_low`` by more than :data:`DIFFER_MIN` of ``A_low``.

    The selection reads the predictions only, never the measured outcome.
    """
    predicted, a_low = np.asarray(predicted, float), np.asarray(a_low, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.isfinite(predicted) & (a_low > 0) & (np.abs(predicted - a_low) > DIFFER_MIN * a_low)


def error_ratio(predicted: np.ndarray, baseline: np.ndarray, measured: np.ndarray) -> float:
    """Median relative error of ``predicted`` over that of ``baseline`` (all on the same trials, measured > 0).

    NaN when fewer than 3 trials, a value is not finite, or the baseline's
    error is 0.
    """
    ones = np.ones(len(measured), bool)
    dy2 = np.ones(len(measured))
    theory = distance_metrics(predicted, measured, dy2, ones)["median_relative_error"]
    other = distance_metrics(baseline, measured, dy2, ones)["median_relative_error"]
    return theory / other if other > 0 else math.nan


def usable(results: Sequence[dict[str, Any]]) -> np.ndarray:
    """Grid trials that reached their loss threshold: the ones the metrics use (as in the paper)."""
    return np.array([r.get("status") == "converged" for r in results], dtype=bool)


def distance_metrics(predicted: np.ndarray, measured: np.ndarray, dy2: np.ndarray,
                     use: np.ndarray) -> dict[str, float]:
    """Pearson correlation (all used trials, identical targets included) and median relative error
    (used trials with dy2 > 0); NaN when fewer than 3 trials qualify or a used value is not finite."""
    predicted, measured, dy2 = (np.asarray(a, float) for a in (predicted, measured, dy2))
    use = np.asarray(use, bool)
    out = {"pearson": float("nan"), "median_relative_error": float("nan"), "n_used": int(use.sum())}
    p, m = predicted[use], measured[use]
    if p.size >= 3 and np.all(np.isfinite(p)) and np.all(np.isfinite(m)) and np.std(p) > 0 and np.std(m) > 0:
        out["pearson"] = float(np.corrcoef(p, m)[0, 1])
    rel_use = use & (dy2 > 0)
    p, m = predicted[rel_use], measured[rel_use]
    if p.size >= 3 and np.all(np.isfinite(p)) and np.all(m > 0):
        out["median_relative_error"] = float(np.median(np.abs(p - m) / m))
    return out


def distance_claims(metrics: dict[str, float], baseline: dict[str, float], *, what: str = "") -> list[Claim]:
    """Claims of Fig 5 (and of the Adam experiment) from :func:`distance_metrics` of the pooled trials.

    ``baseline`` holds the same metrics of the "no change" prediction ``h0``.
    """
    suffix = f" ({what})" if what else ""
    theory_error, baseline_error = metrics["median_relative_error"], baseline["median_relative_error"]
    ratio = theory_error / baseline_error if baseline_error > 0 else math.nan
    return [
        Claim(claim="Predicted final distances lie on the diagonal" + suffix,
              metric="Pearson correlation of predicted h_inf against measured final h, converged grid trials "
                     "of every architecture pooled, identical targets included",
              measured=metrics["pearson"], relation=">=", threshold=CORRELATION_MIN),
        Claim(claim="Predicted final distances match the measured ones in size" + suffix,
              metric="median of abs(predicted - measured) / measured over converged grid trials with dy != 0",
              measured=metrics["median_relative_error"], relation="<=", threshold=RELATIVE_ERROR_MAX),
        Claim(claim="The theory predicts the final distance better than the no-change baseline h0" + suffix,
              metric="median relative error of h_inf divided by that of h0 (final = initial distance), "
                     "converged grid trials with dy != 0",
              measured=ratio, relation="<", threshold=BASELINE_ERROR_RATIO_MAX),
    ]


@dataclass
class FinalDistanceOutcome:
    """Everything a final-distance run produced, for summaries, figures and claims."""

    settings: FinalDistanceSettings
    fit_configs: list[TwoPointConfig]
    fit_results: list[dict[str, Any]]
    grid_configs: list[TwoPointConfig]
    grid_results: list[dict[str, Any]]
    rates: dict[str, dict[str, float]]
    predicted: np.ndarray
    measured: np.ndarray
    used: np.ndarray
    baselines: dict[str, np.ndarray]

    @property
    def dy2(self) -> np.ndarray:
        return np.array([c.dy2 for c in self.grid_configs])

    def metrics(self, names: Sequence[str] | None = None, *, prediction: str = "theory") -> dict[str, float]:
        """Metrics over the given networks' grid trials (all by default).

        ``prediction`` is ``"theory"`` (``h_inf``) or one of :data:`BASELINES`.
        """
        values = self.predicted if prediction == "theory" else self.baselines[prediction]
        keep = np.array([names is None or c.arch.name in names for c in self.grid_configs], dtype=bool)
        return distance_metrics(values[keep], self.measured[keep], self.dy2[keep], self.used[keep])

    def side_by_side(self, names: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
        """The theory's metrics beside every baseline's, on the same trials."""
        return {key: self.metrics(names, prediction=key) for key in ("theory", *BASELINES)}

    def claims(self, *, what: str = "") -> list[Claim]:
        """The claims of :func:`distance_claims`, with intervals from a bootstrap over the converged grid trials."""
        claims = distance_claims(self.metrics(), self.metrics(prediction="h0"), what=what)
        used = self.used
        samples = (self.predicted[used], self.measured[used], self.dy2[used], self.baselines["h0"][used])

        def pooled(predicted: np.ndarray, measured: np.ndarray, dy2: np.ndarray, h0: np.ndarray) -> list[float]:
            ones = np.ones(len(measured), bool)
            theory, baseline = (distance_metrics(v, measured, dy2, ones) for v in (predicted, h0))
            ratio = (theory["median_relative_error"] / baseline["median_relative_error"]
                     if baseline["median_relative_error"] > 0 else math.nan)
            return [theory["pearson"], theory["median_relative_error"], ratio]

        return [bootstrap(claim, lambda *s, k=k: pooled(*s)[k], *samples, unit="converged grid trials")
                for k, claim in enumerate(claims)]

    def beyond_rich_trials(self) -> np.ndarray:
        """Converged grid trials with dy != 0 where ``h_inf`` and ``A_low`` differ (:func:`beyond_rich`)."""
        return self.used & (self.dy2 > 0) & beyond_rich(self.predicted, self.baselines["a_low"])

    def beyond_rich_claim(self, *, what: str = "") -> Claim:
        """Where h_inf and A_low differ by more than :data:`DIFFER_MIN`, the theory beats A_low.

        Measured as :func:`error_ratio` of ``h_inf`` against ``A_low`` over
        :meth:`beyond_rich_trials`; interval: a bootstrap over those trials.
        """
        keep = self.beyond_rich_trials()
        samples = (self.predicted[keep], self.baselines["a_low"][keep], self.measured[keep])
        suffix = f" ({what})" if what else ""
        claim = Claim(
            claim="Where h_inf and A_low differ, the theory predicts the final distance better than A_low" + suffix,
            metric=f"median relative error of h_inf divided by that of the rich limit A_low, converged grid trials "
                   f"with dy != 0 and |h_inf - A_low| > {DIFFER_MIN:g} A_low (selected by the prediction)",
            measured=error_ratio(*samples), relation="<", threshold=BASELINE_ERROR_RATIO_MAX)
        return bootstrap(claim, error_ratio, *samples, unit="converged grid trials beyond the rich limit")

    def counts(self) -> dict[str, int]:
        counts = {f"fit_{k}": v for k, v in status_counts(self.fit_results).items()}
        counts.update({f"grid_{k}": v for k, v in status_counts(self.grid_results).items()})
        counts["fit_without_rates"] = sum(self.settings.fit_trials - int(r["n_rates"]) for r in self.rates.values())
        return counts

    def summary(self) -> dict[str, Any]:
        per_network = []
        for name in self.settings.networks:
            row = {"network": name, **self.rates[name], **self.metrics([name]),
                   "side_by_side": self.side_by_side([name])}
            same = [i for i, c in enumerate(self.grid_configs) if c.arch.name == name and c.dy2 == 0]
            row["identical_targets"] = [{"dx2": self.grid_configs[i].dx2, "predicted": self.predicted[i],
                                         "measured": self.measured[i], "status": self.grid_results[i].get("status")}
                                        for i in same]
            per_network.append(row)
        grid = []
        for c, r, p, m in zip(self.grid_configs, self.grid_results, self.predicted, self.measured):
            record = trial_summary(c, r)
            record.update(h_inf_averaged_rates=p, h_final=m, stop_epoch=r.get("stop_epoch"))
            grid.append(record)
        for record, a_low, differs in zip(grid, self.baselines["a_low"], self.beyond_rich_trials()):
            record["a_low_averaged_rates"] = a_low
            record["beyond_rich_limit"] = bool(differs)
        keep = self.beyond_rich_trials()
        beyond = {"trials": int(keep.sum()), "differ_min": DIFFER_MIN,
                  "networks": sorted({c.arch.name for c, k in zip(self.grid_configs, keep) if k}),
                  **{key: distance_metrics(values[keep], self.measured[keep], self.dy2[keep], keep[keep])
                     for key, values in (("theory", self.predicted), *self.baselines.items())}}
        return {"settings": asdict(self.settings), "pooled": self.metrics(),
                "pooled_side_by_side": self.side_by_side(), "beyond_rich": beyond, "networks": per_network,
                "fit_trials": [trial_summary(c, r) for c, r in zip(self.fit_configs, self.fit_results)],
                "grid_trials": grid}


def run_final_distance(settings: FinalDistanceSettings, options: RunOptions) -> FinalDistanceOutcome:
    """Fit and average the rates per network, run the grid, predict every grid trial's final distance."""
    fit_configs = settings.fit_configs(options.device)
    grid_configs = settings.grid_configs(options.device)
    # One sweep, so the two kinds of trial share the workers.
    results = run_trials(fit_configs + grid_configs, options)
    fit_results, grid_results = results[: len(fit_configs)], results[len(fit_configs):]
    rates: dict[str, dict[str, float]] = {}
    predicted, a_low = np.full(len(grid_configs), np.nan), np.full(len(grid_configs), np.nan)
    for name in settings.networks:
        eta_h, eta_y, n = averaged_rates([r for c, r in zip(fit_configs, fit_results) if c.arch.name == name],
                                         skip_failed=True)
        rates[name] = {"eta_h": eta_h, "eta_y": eta_y, "n_rates": n}
        idx = [i for i, c in enumerate(grid_configs) if c.arch.name == name]
        predicted[idx], a_low[idx] = predict([grid_results[i] for i in idx], eta_h, eta_y)
    measured = np.array([np.nan if failed(r) else float(r.get("h_final", np.nan)) for r in grid_results])
    h0 = np.array([np.nan if failed(r) else float(r.get("h0", np.nan)) for r in grid_results])
    return FinalDistanceOutcome(settings, fit_configs, fit_results, grid_configs, grid_results, rates,
                                predicted, measured, usable(grid_results), {"h0": h0, "a_low": a_low})


@paper_style()
def draw_final_distance(outcome: FinalDistanceOutcome, out: Any, stem: str, title: str) -> list[Any]:
    """Per network: predicted h_inf against measured final h, the diagonal, coloured by ``||dy||``.

    Filled markers are converged trials (the ones the metrics use), open
    markers trials that did not converge or diverged before the end; grey
    crosses the baselines h0 and A_low of the converged trials; a black ring
    marks the trials beyond the rich limit (:meth:`FinalDistanceOutcome.beyond_rich_trials`).
    """
    from repdyn.runs import figure_grid

    names = outcome.settings.networks
    n_cols = min(5, len(names))
    n_rows = -(-len(names) // n_cols)
    fig, axes = figure_grid(n_rows, n_cols, width=2.9, height=2.7)
    dy = np.sqrt(outcome.dy2)
    for ax, name in zip(axes.flat, names):
        idx = np.array([i for i, c in enumerate(outcome.grid_configs) if c.arch.name == name], dtype=int)
        p, m, u = outcome.predicted[idx], outcome.measured[idx], outcome.used[idx]
        finite = np.isfinite(p) & np.isfinite(m)
        done, other = finite & u, finite & ~u
        if done.any():
            colours = ax.scatter(m[done], p[done], c=dy[idx][done], cmap="viridis", vmin=0,
                                 vmax=max(float(dy.max()), 1e-9), s=22, label="theory h_inf")
            if name == names[-1]:
                fig.colorbar(colours, ax=ax, label=r"$\|\Delta y\|$")
        if other.any():
            ax.scatter(m[other], p[other], facecolors="none", edgecolors="0.4", s=22, label="not converged")
        beyond = outcome.beyond_rich_trials()[idx] & finite
        if beyond.any():
            ax.scatter(m[beyond], p[beyond], facecolors="none", edgecolors="k", s=60, lw=0.8)
        shown = [m[finite], p[finite]]
        for key, marker, label in (("h0", "x", "baseline: h0 (no change)"), ("a_low", "+", "baseline: A_low")):
            b = outcome.baselines[key][idx]
            on = np.isfinite(b) & np.isfinite(m) & u
            if on.any():
                ax.scatter(m[on], b[on], marker=marker, color="0.55", s=18, lw=0.8, label=label)
                shown += [m[on], b[on]]
        if ax is axes.flat[0] and outcome.beyond_rich_trials().any():  # the rings' entry, once for all panels
            ax.scatter([], [], facecolors="none", edgecolors="k", s=60, lw=0.8,
                       label=f"|h_inf - A_low| > {DIFFER_MIN:g} A_low")
        values = np.concatenate(shown) if finite.any() else np.array([0.0, 1.0])
        lo, hi = 0.0, float(values.max()) * 1.05 or 1.0
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--")
        metrics, h0_metrics = outcome.metrics([name]), outcome.metrics([name], prediction="h0")
        ax.set_title(f"{name}\ntheory: r = {metrics['pearson']:.3f}, med. rel. err. "
                     f"{metrics['median_relative_error']:.2f}\nh0 baseline: med. rel. err. "
                     f"{h0_metrics['median_relative_error']:.2f}")
        ax.set_xlabel("measured final h")
        ax.set_ylabel("predicted final h")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    # Below the panels, so that no point hides behind it (bbox_inches="tight" keeps it in the file).
    entries: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    fig.legend(list(entries.values()), list(entries), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5,
               frameon=False)
    return save_figure(fig, out, stem)


def write_outcome_data(outcome: FinalDistanceOutcome, out: Any) -> None:
    write_trial_data(out, outcome.fit_results, outcome.fit_configs, "fit_trials")
    write_trial_data(out, outcome.grid_results, outcome.grid_configs, "grid_trials")

