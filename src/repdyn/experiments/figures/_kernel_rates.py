"""Kernel rates (beyond the paper, issue 22): can the theory's two rates be measured instead of fitted?

Every trial is a two-point trial of fig2, fig3 or fig5 with ``kernel_every``
(:data:`repdyn.track.KERNEL_EVERY`, 25): the same training, with the rates
``kernel_eta_h``, ``kernel_eta_y`` measured from the network's tangent kernels
and the theory run on them with no fit. The four claims and their thresholds
are those of docs/claims-kernel-rates.md, fixed there before the first run;
this module evaluates them exactly as written there.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import R2_MATCH, averaged_rates, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import (
    ARCHITECTURE_ROWS,
    FIT_VARIABLES,
    INIT_ROWS,
    NETWORK_SCALES,
    TwoPointSettings,
    group_results,
    min_r2,
)
from repdyn.experiments.studies._final_distance import (
    CORRELATION_MIN,
    RELATIVE_ERROR_MAX,
    FinalDistanceSettings,
    distance_metrics,
    predict,
    usable,
)
from repdyn.experiments.studies._final_distance import SETTINGS as FINAL_DISTANCE_SETTINGS
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

#: Epochs between kernel records of every trial: fixed by docs/claims-kernel-rates.md
#: (claim 2's time average and claim 4's percentiles run over these records), so
#: it stays 25 whatever the library's default :data:`repdyn.track.KERNEL_EVERY` becomes.
KERNEL_EVERY = 25
#: Claim 2's bar: the fitted constants within a factor two of the time average
#: of the measured rates (the reason is in docs/claims-kernel-rates.md).
LOG_RATIO_MAX = math.log(2.0)
#: Claim 4's bar: the rates vary more at the smallest gain than at the largest
#: (an ordering, so 0).
VARIATION_DIFFERENCE_MIN = 0.0
#: Percentiles whose ratio is a rate's variation over a run (claim 4), in decades.
VARIATION_PERCENTILES = (5.0, 95.0)
#: The rates the claims read, in the order of their tables.
RATES = ("eta_h", "eta_y")

#: The verdicts of the fixed rule naming the failing assumption (claim 1).
ASSUMPTIONS = ("constant rates", "structure or mapping", "none")


@dataclass(frozen=True)
class KernelRateSettings:
    """The trials of the experiment: the Table 1 networks (claims 1, 2, 4) and fig5's grid (claim 3).

    Parameters
    ----------
    table : TwoPointSettings
        The Table 1 networks, as fig2 and fig3 run them; the init rows among
        them are claim 4's gains.
    grid : FinalDistanceSettings
        Claim 3's grid (its rate-fitting trials are fig5's, without kernel
        rates, so they are shared with fig5).
    """

    table: TwoPointSettings
    grid: FinalDistanceSettings

    def table_configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        return [dataclasses.replace(c, kernel_every=KERNEL_EVERY) for c in self.table.configs(device)]

    def grid_configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        return [dataclasses.replace(c, kernel_every=KERNEL_EVERY) for c in self.grid.grid_configs(device)]

    def configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        """Every trial: the table, the grid with kernel rates, then fig5's rate-fitting trials."""
        return self.table_configs(device) + self.grid_configs(device) + self.grid.fit_configs(device)


def _grid(settings: FinalDistanceSettings, networks: tuple[str, ...]) -> FinalDistanceSettings:
    """fig5's grid restricted to ``networks`` (claim 3 names its networks; no network keeps its own grid)."""
    return dataclasses.replace(settings, networks=networks, grids=())


#: smoke: two networks per claim at the smoke scale. quick: the 15 Table 1
#: networks exactly as fig2 and fig3 (one seed), fig5's 5 x 5 grid of default,
#: tanh and shallow at width 100 (docs/claims-kernel-rates.md). paper: three
#: seeds per network, fig5's paper grid.
SETTINGS = {
    "smoke": KernelRateSettings(
        table=TwoPointSettings(networks=("default", "tanh", "low init", "very high init"), trials=1,
                               scale=NETWORK_SCALES["smoke"]),
        grid=FINAL_DISTANCE_SETTINGS["smoke"]),
    "quick": KernelRateSettings(
        table=TwoPointSettings(networks=ARCHITECTURE_ROWS + INIT_ROWS, trials=1, scale=NETWORK_SCALES["quick"]),
        grid=_grid(FINAL_DISTANCE_SETTINGS["quick"], ("default", "tanh", "shallow"))),
    "paper": KernelRateSettings(
        table=TwoPointSettings(networks=ARCHITECTURE_ROWS + INIT_ROWS, trials=3, scale=NETWORK_SCALES["paper"]),
        grid=FINAL_DISTANCE_SETTINGS["paper"]),
}


def estimate_seconds(profile: str) -> float:
    return sum(estimate_trial_seconds(c) for c in SETTINGS[profile].configs())


# --- per-trial quantities ------------------------------------------------------------------------


def observed(result: Mapping[str, Any]) -> np.ndarray:
    """``(h, y, w)`` of a trial over its finite prefix, shape (T, 3)."""
    z = np.stack([np.asarray(result[v], float) for v in FIT_VARIABLES], axis=1)
    finite = np.all(np.isfinite(z), axis=1)
    return z[: len(finite) if finite.all() else int(np.argmin(finite))]


def worst(scores: Mapping[str, float]) -> float:
    """Worst R^2 over h, y, w; NaN if any is NaN (a failed prediction never helps a claim)."""
    values = [float(scores.get(v, math.nan)) for v in FIT_VARIABLES]
    return math.nan if any(math.isnan(v) for v in values) else min(values)


def kernel_series(result: Mapping[str, Any], rate: str) -> np.ndarray:
    """The measured rate ``kernel_<rate>`` at the trial's kernel records (finite ones, in time order)."""
    values = np.asarray(result.get(f"kernel_{rate}", []), float)
    return values[np.isfinite(values)]


def scores(result: Mapping[str, Any]) -> dict[str, float]:
    """Worst R^2 of the four predictions of claim 1 for one trial (NaN where one cannot be made).

    ``fitted``: the trial's own fit; ``zero_fit``: the theory with the
    measured rates (the trial's ``r2_zero_*``); ``init_held``: :func:`repdyn.theory.solve`
    with the rates of epoch 0 held constant; ``no_change``: ``z(t) = z(0)``.
    All scored by :func:`repdyn.theory.trajectory_r2`, the fit's rule.
    """
    from repdyn.theory import SolverError, solve, trajectory_r2

    out = {"fitted": math.nan, "zero_fit": math.nan, "init_held": math.nan, "no_change": math.nan}
    if failed(result) or "h" not in result:
        return out
    z = observed(result)
    if len(z) < 2:
        return out
    out["fitted"] = min_r2(result)
    out["zero_fit"] = worst({v: result.get(f"r2_zero_{v}", math.nan) for v in FIT_VARIABLES})
    out["no_change"] = worst(trajectory_r2(z, np.broadcast_to(z[0], z.shape)))
    eta_h, eta_y = (float(np.asarray(result[f"kernel_{r}"], float)[0]) for r in RATES)
    if eta_h > 0 and eta_y > 0:
        t = np.asarray(result["epochs"], float)[: len(z)]
        try:
            held = solve(z[0], t, eta_h=eta_h, eta_y=eta_y, dx2=float(result["dx2"]), dy2=float(result["dy2"]))
        except (ValueError, SolverError):
            held = np.full_like(z, np.nan)
        out["init_held"] = worst(trajectory_r2(z, held))
    return out


def assumption(fitted: float, zero_fit: float, bar: float = R2_MATCH) -> str:
    """Which assumption fails for a network, by the fixed rule of docs/claims-kernel-rates.md."""
    if fitted >= bar:
        return "none"
    return "constant rates" if zero_fit >= bar else "structure or mapping"


def log_ratios(fitted: float, series: np.ndarray) -> dict[str, float]:
    """``|ln(fitted / estimate)|`` for the time average (claim 2) and the rate at epoch 0 (a baseline)."""
    def ratio(estimate: float) -> float:
        if not (fitted > 0 and estimate > 0 and math.isfinite(fitted) and math.isfinite(estimate)):
            return math.nan
        return abs(math.log(fitted / estimate))

    return {"mean": ratio(float(np.mean(series)) if series.size else math.nan),
            "init": ratio(float(series[0]) if series.size else math.nan)}


def variation(series: np.ndarray) -> float:
    """``log10(q95 / q05)`` of a rate over its kernel records, in decades; NaN without positive values."""
    positive = series[series > 0]
    if positive.size < 2:
        return math.nan
    low, high = np.percentile(positive, VARIATION_PERCENTILES)
    return float(np.log10(high / low))


# --- the claims ----------------------------------------------------------------------------------


def zero_fit_claim(zero_fit_worst: Mapping[str, float], *, seeds: int | None = None) -> Claim:
    """Claim 1 from each network's worst R^2 of the zero-fit theory; interval over networks."""
    values = np.array(list(zero_fit_worst.values()), dtype=float)
    return bootstrap(Claim(
        claim="With the measured rates and no fit, the 3-variable theory matches h, y and w of the Table 1 networks",
        metric="median over networks of the worst R^2 over h, y, w of the zero-fit trajectory",
        measured=median_or_nan(values), relation=">=", threshold=R2_MATCH, seeds=seeds,
    ), median_or_nan, values, unit="networks")


def _largest_median(ratios: np.ndarray) -> float:
    """The larger, over the two rates (columns), of the median over networks (rows)."""
    ratios = np.asarray(ratios, float)
    return max(median_or_nan(ratios[:, 0]), median_or_nan(ratios[:, 1]))


def time_average_claim(ratios: Mapping[str, Sequence[float]], *, seeds: int | None = None) -> Claim:
    """Claim 2 from each network's ``|ln(fitted / time average)|`` of eta_h and eta_y; interval over networks."""
    values = np.array([list(v) for v in ratios.values()], dtype=float).reshape(-1, 2)
    return bootstrap(Claim(
        claim="The fitted constant rates are close to the time average of the measured ones",
        metric="the larger, over eta_h and eta_y, of the median over networks of |ln(fitted / time average of "
               "the measured rate over its kernel records)|",
        measured=_largest_median(values), relation="<=", threshold=LOG_RATIO_MAX, seeds=seeds,
    ), _largest_median, values, unit="networks")


def _final_distance_numbers(predicted: np.ndarray, measured: np.ndarray, dy2: np.ndarray) -> list[float]:
    metrics = distance_metrics(predicted, measured, dy2, np.ones(len(measured), bool))
    return [metrics["pearson"], metrics["median_relative_error"]]


def initial_rates_claims(predicted: np.ndarray, measured: np.ndarray, dy2: np.ndarray,
                         used: np.ndarray) -> list[Claim]:
    """Claim 3 (both parts must hold) from the zero-fit ``h_inf`` of the grid runs; interval over converged runs."""
    use = np.asarray(used, bool)
    samples = (np.asarray(predicted, float)[use], np.asarray(measured, float)[use], np.asarray(dy2, float)[use])
    pearson, error = _final_distance_numbers(*samples)
    claims = [
        Claim(claim="The rates at initialisation predict the final distance over fig5's grid (correlation)",
              metric="Pearson correlation of h_inf from the initial state and the kernel rates at epoch 0 against "
                     "the measured final h, converged grid runs pooled, dy = 0 included",
              measured=pearson, relation=">=", threshold=CORRELATION_MIN),
        Claim(claim="The rates at initialisation predict the final distance over fig5's grid (size)",
              metric="median |predicted - measured| / measured of that h_inf over converged grid runs with dy != 0",
              measured=error, relation="<=", threshold=RELATIVE_ERROR_MAX),
    ]
    return [bootstrap(claim, lambda *s, k=k: _final_distance_numbers(*s)[k], *samples, unit="converged grid runs")
            for k, claim in enumerate(claims)]


def _variation_difference(small: np.ndarray, large: np.ndarray) -> float:
    """The smaller, over the two rates (columns), of median variation at the small gain minus at the large one."""
    small, large = np.asarray(small, float), np.asarray(large, float)
    return min(median_or_nan(small[:, k]) - median_or_nan(large[:, k]) for k in range(small.shape[1]))


def variation_claim(small: Sequence[Sequence[float]], large: Sequence[Sequence[float]], *, gains: tuple[float, float],
                    seeds: int | None = None) -> Claim:
    """Claim 4 from the variation of (eta_h, eta_y) of each seed at the smallest and the largest gain."""
    small_arr, large_arr = np.asarray(small, float).reshape(-1, 2), np.asarray(large, float).reshape(-1, 2)
    return bootstrap(Claim(
        claim="The measured rates vary more over training at small initial weights than at large ones",
        metric=f"the smaller, over eta_h and eta_y, of the variation log10(q95 / q05) at gain {gains[0]:g} minus "
               f"that at gain {gains[1]:g}",
        measured=_variation_difference(small_arr, large_arr), relation=">", threshold=VARIATION_DIFFERENCE_MIN,
        seeds=seeds,
    ), _variation_difference, small_arr, large_arr, unit="seeds")


# --- the run -------------------------------------------------------------------------------------


def network_rows(configs: Sequence[TwoPointConfig], results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per Table 1 network: the four worst R^2 (medians over seeds), the rates, the ratios, the variations."""
    rows = []
    for name, group in group_results(configs, results).items():
        config = next(c for c in configs if c.arch.name == name)
        per_trial = [scores(r) for r in group]
        row: dict[str, Any] = {"network": name, "gain": config.arch.gain, "lr": config.arch.lr,
                               "statuses": status_counts(group)}
        for key in ("fitted", "zero_fit", "init_held", "no_change"):
            row[f"worst_r2_{key}"] = median_or_nan([s[key] for s in per_trial])
        row["assumption"] = assumption(row["worst_r2_fitted"], row["worst_r2_zero_fit"])
        for rate in RATES:
            series = [kernel_series(r, rate) for r in group]
            fitted = [float(r.get(rate, math.nan)) for r in group]
            ratios = [log_ratios(f, s) for f, s in zip(fitted, series)]
            half_lr = [log_ratios(f, np.array([config.arch.lr / 2]))["mean"] for f in fitted]
            row[f"fitted_{rate}"] = median_or_nan(fitted)
            row[f"kernel_{rate}_init"] = median_or_nan([s[0] if s.size else math.nan for s in series])
            row[f"kernel_{rate}_mean"] = median_or_nan([s.mean() if s.size else math.nan for s in series])
            row[f"log_ratio_{rate}_mean"] = median_or_nan([q["mean"] for q in ratios])
            row[f"log_ratio_{rate}_init"] = median_or_nan([q["init"] for q in ratios])
            row[f"log_ratio_{rate}_half_lr"] = median_or_nan(half_lr)
            row[f"variation_{rate}"] = median_or_nan([variation(s) for s in series])
            # The step rate (common mode included) at epoch 0, listed beside the kernel's (claim 1's diagnostics).
            row[f"step_{rate}_init"] = median_or_nan(
                [float(np.asarray(r[f"step_{rate}"], float)[0]) if f"step_{rate}" in r else math.nan for r in group])
        for name_ in ("kernel_cos", "kernel_isotropy"):
            row[f"median_{name_}"] = median_or_nan(
                [float(np.nanmedian(np.abs(np.asarray(r[name_], float)))) if name_ in r else math.nan
                 for r in group])
        rows.append(row)
    return rows


@dataclass
class GridOutcome:
    """Claim 3's grid runs, their zero-fit predictions and every prediction shown beside them."""

    configs: list[TwoPointConfig]
    results: list[dict[str, Any]]
    measured: np.ndarray
    used: np.ndarray
    dy2: np.ndarray
    predictions: dict[str, np.ndarray]

    @classmethod
    def build(cls, settings: FinalDistanceSettings, configs: list[TwoPointConfig], results: list[dict[str, Any]],
              fit_configs: list[TwoPointConfig], fit_results: list[dict[str, Any]]) -> GridOutcome:
        from repdyn.theory import final_distance

        n = len(configs)
        measured = np.array([math.nan if failed(r) else float(r.get("h_final", math.nan)) for r in results])
        predictions = {key: np.full(n, np.nan) for key in ("kernel_init", "fitted", "h0", "a_low_fitted",
                                                           "a_low_kernel")}
        for i, r in enumerate(results):
            if failed(r):
                continue
            predictions["kernel_init"][i] = float(r.get("h_inf_kernel", math.nan))
            predictions["h0"][i] = float(r["h0"])
            eta_h, eta_y = (float(np.asarray(r[f"kernel_{k}"], float)[0]) for k in RATES)
            if eta_h > 0 and eta_y > 0 and r["h0"] > 0:
                predictions["a_low_kernel"][i] = float(final_distance(
                    float(r["h0"]), max(float(r["y0"]), 0.0), eta_h=eta_h, eta_y=eta_y, dx2=float(r["dx2"]),
                    dy2=float(r["dy2"])).a_low)
        for name in settings.networks:
            eta_h, eta_y, _ = averaged_rates([r for c, r in zip(fit_configs, fit_results) if c.arch.name == name],
                                             skip_failed=True)
            idx = [i for i, c in enumerate(configs) if c.arch.name == name]
            predictions["fitted"][idx], predictions["a_low_fitted"][idx] = predict([results[i] for i in idx],
                                                                                  eta_h, eta_y)
        return cls(configs, results, measured, usable(results), np.array([c.dy2 for c in configs]), predictions)

    def side_by_side(self) -> dict[str, dict[str, float]]:
        return {key: distance_metrics(values, self.measured, self.dy2, self.used)
                for key, values in self.predictions.items()}

    def claims(self) -> list[Claim]:
        return initial_rates_claims(self.predictions["kernel_init"], self.measured, self.dy2, self.used)


def gain_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The init rows of the table (claim 4), by increasing gain."""
    return sorted((r for r in rows if r["network"] in INIT_ROWS), key=lambda r: r["gain"])


def variation_claim_of(configs: Sequence[TwoPointConfig], results: Sequence[dict[str, Any]],
                       rows: Sequence[dict[str, Any]], seeds: int) -> Claim:
    gains = gain_rows(rows)
    per_seed = {}
    for row in (gains[0], gains[-1]):
        group = group_results(configs, results)[row["network"]]
        per_seed[row["network"]] = [[variation(kernel_series(r, rate)) for rate in RATES] for r in group]
    return variation_claim(per_seed[gains[0]["network"]], per_seed[gains[-1]["network"]],
                           gains=(gains[0]["gain"], gains[-1]["gain"]), seeds=seeds)


def run(options: RunOptions) -> ExperimentOutput:
    settings = SETTINGS[options.profile]
    table_configs = settings.table_configs(options.device)
    grid_configs = settings.grid_configs(options.device)
    fit_configs = settings.grid.fit_configs(options.device)
    # One sweep, so that every kind of trial shares the workers.
    results = run_trials(table_configs + grid_configs + fit_configs, options)
    n_table, n_grid = len(table_configs), len(grid_configs)
    table_results = results[:n_table]
    grid_results = results[n_table:n_table + n_grid]
    fit_results = results[n_table + n_grid:]

    rows = network_rows(table_configs, table_results)
    seeds = settings.table.trials
    grid = GridOutcome.build(settings.grid, grid_configs, grid_results, fit_configs, fit_results)
    claims = [
        zero_fit_claim({r["network"]: r["worst_r2_zero_fit"] for r in rows}, seeds=seeds),
        time_average_claim({r["network"]: (r["log_ratio_eta_h_mean"], r["log_ratio_eta_y_mean"]) for r in rows},
                           seeds=seeds),
        *grid.claims(),
        variation_claim_of(table_configs, table_results, rows, seeds),
    ]
    figures = draw_rates(rows, table_configs, table_results, options.out)
    figures += draw_grid(grid, options.out)
    write_trial_data(options.out, table_results, table_configs, "trials")
    write_trial_data(options.out, grid_results, grid_configs, "grid_trials")
    summary = {
        "settings": dataclasses.asdict(settings),
        "kernel_every": KERNEL_EVERY,
        "networks": rows,
        "medians": {key: median_or_nan([r[f"worst_r2_{key}"] for r in rows])
                    for key in ("fitted", "zero_fit", "init_held", "no_change")},
        "log_ratio_medians": {f"{rate}_{kind}": median_or_nan([r[f"log_ratio_{rate}_{kind}"] for r in rows])
                              for rate in RATES for kind in ("mean", "init", "half_lr")},
        # Claim 2's statistic for the time average and for its two baselines (lr / 2, the rates at epoch 0).
        "log_ratio_statistic": {kind: max(median_or_nan([r[f"log_ratio_{rate}_{kind}"] for r in rows])
                                          for rate in RATES) for kind in ("mean", "init", "half_lr")},
        "assumptions": {r["network"]: r["assumption"] for r in rows if r["assumption"] != "none"},
        "variation_by_gain": [{"network": r["network"], "gain": r["gain"],
                               **{f"variation_{k}": r[f"variation_{k}"] for k in RATES}} for r in gain_rows(rows)],
        "grid": {"side_by_side": grid.side_by_side(),
                 "trials": [{**trial_summary(c, r), "h_inf_kernel": p}
                            for c, r, p in zip(grid_configs, grid_results, grid.predictions["kernel_init"])]},
        "trials": [trial_summary(c, r) for c, r in zip(table_configs, table_results)],
    }
    counts = {f"table_{k}": v for k, v in status_counts(table_results).items()}
    counts.update({f"grid_{k}": v for k, v in status_counts(grid_results).items()})
    return ExperimentOutput(summary=summary, claims=claims, figures=figures, counts=counts)


# --- figures -------------------------------------------------------------------------------------

#: Markers of claim 1's four predictions, in the legend's order.
_SCORE_STYLES = (("fitted", "o", "C0", "fitted theory (2 constants)"),
                 ("zero_fit", "s", "C3", "zero fit: measured rates"),
                 ("init_held", "^", "C2", "rates of epoch 0 held"),
                 ("no_change", "x", "0.5", "baseline: no change"))
#: Lowest worst R^2 drawn: below it a prediction is off the chart, drawn at the floor.
_R2_FLOOR = -3.0


@paper_style()
def draw_rates(rows: Sequence[dict[str, Any]], configs: Sequence[TwoPointConfig],
               results: Sequence[dict[str, Any]], out: Any) -> list[Any]:
    """Left: every network's worst R^2 of the four predictions; right: the measured rates over training
    of the init rows (every seed), the fitted constants dashed."""
    from repdyn.runs import figure_grid

    fig, axes = figure_grid(1, 3, width=4.2, height=3.4)
    ax = axes[0, 0]
    y = np.arange(len(rows))
    for key, marker, colour, label in _SCORE_STYLES:
        values = np.array([r[f"worst_r2_{key}"] for r in rows], float)
        ax.scatter(np.clip(values, _R2_FLOOR, 1.0), y, marker=marker, color=colour, s=22, label=label)
    ax.axvline(R2_MATCH, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, [r["network"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(_R2_FLOOR - 0.2, 1.05)
    ax.set_xlabel(f"worst R$^2$ over h, y, w (clipped at {_R2_FLOOR:g})")
    ax.set_title("claim 1: zero fit against the fit")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    groups = group_results(configs, results)
    for ax, rate in zip(axes[0, 1:], RATES):
        for k, row in enumerate(gain_rows(rows)):
            colour = f"C{k}"
            for j, r in enumerate(groups[row["network"]]):
                values = np.asarray(r.get(f"kernel_{rate}", []), float)
                keep = np.isfinite(values) & (values > 0)
                if keep.any():
                    ax.plot(np.asarray(r["epochs"])[keep], values[keep], color=colour, lw=1.0,
                            label=f"gain {row['gain']:g}" if j == 0 else None)
            if np.isfinite(row[f"fitted_{rate}"]):
                ax.axhline(row[f"fitted_{rate}"], color=colour, lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("epoch (optimisation steps)")
        ax.set_ylabel(f"kernel {rate} (1 / step)")
        ax.set_title(f"claim 4: measured {rate} (fitted dashed)")
        ax.legend(loc="best")
    fig.tight_layout()
    return save_figure(fig, out, "kernel_rates")


@paper_style()
def draw_grid(grid: GridOutcome, out: Any) -> list[Any]:
    """Claim 3: h_inf from the rates at epoch 0 against the measured final h, per network, baselines in grey."""
    from repdyn.runs import figure_grid

    names = list(dict.fromkeys(c.arch.name for c in grid.configs))
    fig, axes = figure_grid(1, len(names), width=3.2, height=3.0)
    for ax, name in zip(axes[0], names):
        idx = np.array([i for i, c in enumerate(grid.configs) if c.arch.name == name], dtype=int)
        m, use = grid.measured[idx], grid.used[idx]
        shown = [m[np.isfinite(m)]]
        for key, marker, colour, label in (("kernel_init", "o", "C3", "zero fit: rates of epoch 0"),
                                           ("fitted", "s", "C0", "fitted theory (fig5's rates)"),
                                           ("h0", "x", "0.55", "baseline: h0 (no change)")):
            p = grid.predictions[key][idx]
            on = use & np.isfinite(p) & np.isfinite(m)
            if on.any():
                ax.scatter(m[on], p[on], marker=marker, color=colour, s=18,
                           facecolors="none" if marker == "s" else None, label=label)
                shown.append(p[on])
        p = grid.predictions["kernel_init"][idx]
        other = ~use & np.isfinite(p) & np.isfinite(m)
        if other.any():  # drawn too, but left out of the metrics (as fig5)
            ax.scatter(m[other], p[other], marker="o", facecolors="none", edgecolors="0.4", s=18,
                       label="zero fit, not converged")
            shown.append(p[other])
        values = np.concatenate(shown) if any(v.size for v in shown) else np.array([1.0])
        hi = float(np.nanmax(values)) * 1.05 if values.size else 1.0
        ax.plot([0, hi], [0, hi], color="k", lw=0.8, ls="--")
        ax.set_xlabel("measured final h")
        ax.set_ylabel("predicted final h")
        ax.set_title(f"{name}: {int(use.sum())} of {len(idx)} converged")
    entries: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    handles, labels = list(entries.values()), list(entries)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False)
    return save_figure(fig, out, "kernel_rates_final_distance")
