"""Many two-point trials of one or more architectures: sweep, summarise, draw."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.experiments._claims import Claim
from repdyn.experiments._estimates import once
from repdyn.experiments._metrics import failed, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._run_data import trial_quality
from repdyn.experiments.trials._two_point import TwoPointConfig, two_point_trial
from repdyn.nets import ArchSpec, get_architecture
from repdyn.experiments._plots import paper_style

#: Table 1 rows that vary the architecture (Fig 2); the other four vary the
#: initial weight scale (Fig 3).
ARCHITECTURE_ROWS = ("default", "convolution", "skip", "shallow", "narrow", "dropout", "linear", "relu",
                     "elu", "tanh", "swish")
#: Table 1 rows that vary the initial weight scale, by increasing gain (Fig 3).
INIT_ROWS = ("low init", "intermediate init", "high init", "very high init")
#: The variables the theory fits.
FIT_VARIABLES = ("h", "y", "w")


@dataclass(frozen=True)
class TwoPointScale:
    """How a profile shrinks a Table 1 network: width cap, depth and epochs.

    Every two-point experiment of a profile uses the same scale, so trials that
    two experiments share (same architecture, seed and data) have the same
    config and are computed once.

    Parameters
    ----------
    max_units : int or None
        Cap on the hidden width (narrower networks keep theirs); None keeps the table's.
    hidden_layers : int or None
        Depth of every network; None keeps the table's.
    epochs : int or None
        Epochs of every run; None keeps the table's (6000).
    """

    max_units: int | None = None
    hidden_layers: int | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_units", "hidden_layers", "epochs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an int >= 1 or None (keep the table's); got {value!r}")

    def apply(self, spec: ArchSpec) -> ArchSpec:
        """``spec`` at this scale (unchanged fields keep the table's values)."""
        changes: dict[str, Any] = {}
        if self.max_units is not None and spec.units > self.max_units:
            changes["units"] = self.max_units
        if self.hidden_layers is not None:
            changes["hidden_layers"] = self.hidden_layers
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        return spec.replace(**changes) if changes else spec

    def arch(self, name: str) -> ArchSpec:
        """The registered architecture ``name`` at this scale."""
        return self.apply(get_architecture(name))


_SMOKE_SCALE = TwoPointScale(max_units=16, hidden_layers=2, epochs=200)

#: The scale of the headline two-point experiments (fig2, fig3, fig10, fig11:
#: one trial per network, the networks that carry the paper's main claim).
#: ``quick`` and ``paper`` run Table 1 exactly (width 500, narrow 50, Table 1
#: depth, learning rate and 6000 epochs); ``smoke``: 2 hidden layers of 16
#: units for 200 epochs, only to run the code.
NETWORK_SCALES = {
    "smoke": _SMOKE_SCALE,
    "quick": TwoPointScale(),
    "paper": TwoPointScale(),
}

#: The scale of the two-point experiments with many trials per network (the
#: grids of fig5 and adam, the seeds of the random-features experiment, the
#: default-network rate trials of fig6). ``quick`` caps the hidden width at 100
#: so that they fit the quick budget: the Xavier-normal variance of every
#: layer, and with it the initial regime, does not depend on the width, and
#: 100 units still average over enough units that h, y, w are smooth; depth,
#: learning rates and epochs stay as in Table 1. Trials that two experiments
#: share (same architecture, seed and data) have the same config at one scale
#: and are computed once.
GRID_SCALES = {
    "smoke": _SMOKE_SCALE,
    "quick": TwoPointScale(max_units=100),
    "paper": TwoPointScale(),
}

#: Per-trial fields of ``summary.json`` (the trial's config adds ``arch`` and ``seed``).
SUMMARY_FIELDS = (
    "status", "seconds", "eta_h", "eta_y", "eta_m", "h0", "h_final", "h_inf", "a_low", "final_loss",
    "diverged_epoch", "fit_success",
)


def run_trials(configs: Sequence[TwoPointConfig], options: RunOptions) -> list[dict[str, Any]]:
    """Run (or load from the cache) every trial; results in config order.

    On a GPU (or with ``options.batch_trials``) trials of one architecture
    with a fast path train together as one batched computation (see
    :mod:`repdyn.experiments.trials._batched`); the others run one by one.
    """
    from repdyn.experiments.trials._batched import batching_wanted, run_batched

    if batching_wanted(options):
        return run_batched(configs, options, fallback=sweep_trials)
    return sweep_trials(configs, options)


def sweep_trials(configs: Sequence[TwoPointConfig], options: RunOptions) -> list[dict[str, Any]]:
    """Run (or load from the cache) every trial one by one with ``run_sweep``; config order."""
    return options.sweep(two_point_trial, configs)

def run_two_point(
    configs: Sequence[TwoPointConfig], options: RunOptions, *, stem: str = "trials"
) -> ExperimentOutput:
    """Run (or load from the cache) two-point trials and write what ``repdyn run two-point`` writes.

    Parameters
    ----------
    configs : sequence of TwoPointConfig
        The trials, in the order of the table and the figure.
    options : RunOptions
        Where to write (``options.out``) and how to run; ``options.cache``
        defaults to ``options.out / "cache"``.
    stem : str, default "trials"
        Name of the data files: ``<stem>.nc`` and ``<stem>.csv``.

    Returns
    -------
    ExperimentOutput
        ``summary`` (also written to ``summary.json``: per-trial records and the
        files written), no claims, ``figures`` (the dynamics of every trial)
        and status ``counts``. :func:`repdyn.load_run` reads ``options.out`` back.
    """
    from dataclasses import replace

    from repdyn.experiments._outputs import write_json
    from repdyn.experiments._run_data import write_trial_data

    configs = list(configs)
    if not configs:
        raise ValueError("configs is empty; pass at least one TwoPointConfig")
    if options.cache is None:
        options = replace(options, cache=options.out / "cache")
    results = run_trials(configs, options)
    files = write_trial_data(options.out, results, configs, stem)
    figures = draw_dynamics(seed_groups(configs, results), options.out, "dynamics")
    summary = {
        "experiment": "two-point",
        # One architecture (as `repdyn run two-point` runs): its settings; else each one's.
        **({"arch": configs[0].arch.to_dict()} if len({c.arch for c in configs}) == 1
           else {"archs": {c.arch.name: c.arch.to_dict() for c in configs}}),
        "counts": status_counts(results),
        "trials": [trial_summary(c, r) for c, r in zip(configs, results)],
        "files": [str(p.relative_to(options.out)) for p in files + figures],
    }
    write_json(options.out / "summary.json", summary)
    return ExperimentOutput(summary=summary, claims=[], figures=figures, counts=summary["counts"])


def trial_summary(config: TwoPointConfig, result: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of one trial: identity, rates, R^2 per variable, distances, status."""
    record: dict[str, Any] = {"arch": config.arch.name, "seed": config.seed, "dx2": config.dx2, "dy2": config.dy2,
                              "layer": config.layer, "measure": config.measure}
    if failed(result):
        record.update(status=result["status"], error=result.get("error", ""))
        return record
    record.update({k: result.get(k) for k in SUMMARY_FIELDS})
    record["r2"] = {v: result.get(f"r2_{v}") for v in ("h", "y", "w", "loss")}
    record["quality"] = trial_quality(result, config.fit)
    return record


def status_counts(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {"trials": len(results)}
    for r in results:
        status = str(r.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return counts


def seed_groups(configs: Sequence[TwoPointConfig],
                results: Sequence[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """``(seed, result)`` pairs grouped by architecture name, in first-seen order (for figures)."""
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for config, result in zip(configs, results):
        groups.setdefault(config.arch.name, []).append((config.seed, result))
    return groups


#: Most seeds named one by one in a row's legend; more are named as a range.
LEGEND_SEEDS = 8


def shown_text(shown: int, total: int, drawable: int) -> str:
    """What a row of a dynamics figure says about its trials: how many are drawn and why not all."""
    if shown == total:
        return f"{total} trial{'s' if total != 1 else ''}"
    text = f"{shown} of {total} trials shown"
    if drawable < total:
        text += f" ({total - drawable} without measurements)"
    return text


@paper_style()
def draw_dynamics(groups: dict[str, list[tuple[int, dict[str, Any]]]], out: Path, stem: str, *,
                  max_trials: int | None = None, panels: Sequence[str] = ("h", "y", "w", "loss"),
                  title: str | None = None) -> list[Path]:
    """One row per group (architecture), one column per panel; network solid, theory dashed.

    Every trial with measurements is drawn (the first ``max_trials`` if
    given), one colour per seed, named in the row's legend; the row's title
    says how many trials it shows when that is not all of them.
    """
    from repdyn.experiments._outputs import save_figure
    from repdyn.experiments._plots import dynamics_row, figure_grid

    fig, axes = figure_grid(len(groups), len(panels), height=2.2)
    for row, (name, trials) in zip(axes, groups.items()):
        drawable = [(seed, r) for seed, r in trials if "epochs" in r]
        shown = drawable if max_trials is None else drawable[:max_trials]
        for i, (seed, result) in enumerate(shown):
            dynamics_row(row, result, color=f"C{i % 10}", label=f"seed {seed}", panels=panels)
        if not shown:
            row[0].text(0.5, 0.5, "no finished trial", ha="center", va="center", transform=row[0].transAxes)
        row[0].set_title(f"{name}: {shown_text(len(shown), len(trials), len(drawable))}", loc="left")
        if 0 < len(shown) <= LEGEND_SEEDS:
            row[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        elif shown:
            seeds = [seed for seed, _ in shown]
            row[-1].text(1.04, 1.0, f"seeds {min(seeds)}-{max(seeds)}", transform=row[-1].transAxes,
                         va="top")
    fig.tight_layout()
    # Above the top row (tight_layout leaves no room for it; the saved bbox grows to fit).
    fig.suptitle(title or "network (solid) against fitted theory (dashed)",
                 y=1.0 + 0.15 / fig.get_figheight())
    return save_figure(fig, out, stem)


def min_r2(result: dict[str, Any]) -> float:
    """Worst R^2 over h, y, w of a trial's fit; NaN if any is missing (diverged, failed, unfitted)."""
    values = [result.get(f"r2_{v}") for v in FIT_VARIABLES]
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return float("nan")
    return float(min(values))


def seconds_per_epoch(spec: ArchSpec) -> float:
    """Rough single-core seconds per epoch of a two-point run (for run-time estimates).

    Measured on 2 shared CPU cores: about 45 us per hidden layer of overhead
    plus 2 ns per weight; convolutions and Adam (no fast path) cost about 4x and 2x.
    """
    per_layer = 45e-6 + 2e-9 * spec.units**2
    factor = 4.0 if spec.variant == "convolution" else (2.0 if spec.optimizer == "adam" else 1.0)
    return factor * spec.hidden_layers * per_layer


#: Rough seconds of one fit of the theory to one layer.
FIT_SECONDS = 3.0


def estimate_trial_seconds(config: TwoPointConfig) -> float:
    """Rough single-core seconds of one trial: training plus its fits (0 if the estimate under way counted it)."""
    fits = (config.arch.hidden_layers + 1 if config.all_layers else 1) if config.fit else 0
    return once(config, config.arch.epochs * seconds_per_epoch(config.arch) + FIT_SECONDS * fits)


#: Bytes held per epoch of a trial: the recorded h, y, w and loss, the result's
#: arrays and the fitted theory's, their copies on the way to the driver and the
#: store, and the fit's working arrays. Measured: ``repdyn run two-point`` (2
#: hidden layers of 8 units) peaked 0.47 kB higher per added epoch, outputs
#: included; 1 kB leaves room.
BYTES_PER_EPOCH = 1000.0
#: Bytes per additional tracked layer and epoch (``all_layers``): its recorded
#: distance, its copy in the result and the per-layer fit's working arrays.
BYTES_PER_LAYER_EPOCH = 100.0
#: Bytes per network parameter: float32 weights and gradients, the optimiser's
#: state (two moments for Adam), and the copies a fast path makes, rounded up.
BYTES_PER_PARAMETER = 32.0


def estimate_trial_bytes(config: TwoPointConfig) -> float:
    """Rough upper estimate of the memory one trial needs (bytes), to reject impossible runs up front."""
    spec = config.arch
    epochs = spec.epochs + 1
    layers = spec.hidden_layers if config.all_layers else 1
    width = max(spec.units, spec.channels * spec.kernel_size if spec.variant == "convolution" else 0)
    parameters = spec.hidden_layers * float(width) ** 2 + width * (config.in_dim + config.out_dim + 1)
    return epochs * (BYTES_PER_EPOCH + BYTES_PER_LAYER_EPOCH * layers) + BYTES_PER_PARAMETER * parameters


def theory_r2(result: dict[str, Any], eta_h: float, eta_y: float) -> dict[str, float]:
    """R^2 of h, y, w of a trial against the theory run with the given rates from its first state.

    The fit's own R^2 uses the fitted rates; this recomputes it for any rates
    (a deliberately wrong rate must give a poor R^2, see the tests).
    """
    from repdyn.theory import project_initial_state, r2, solve

    observed = np.stack([np.asarray(result[v], float) for v in FIT_VARIABLES], axis=-1)
    finite = np.all(np.isfinite(observed), axis=1)
    stop = int(np.argmin(finite)) if not finite.all() else len(finite)
    t = np.asarray(result["epochs"], float)[:stop]
    z0 = project_initial_state(observed[0], dy2=float(result["dy2"]))
    predicted = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=float(result["dx2"]), dy2=float(result["dy2"]))
    return {v: float(r2(observed[:stop, i], predicted[:, i])) for i, v in enumerate(FIT_VARIABLES)}


def network_table(configs: Sequence[TwoPointConfig], results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per architecture name: trial statuses, median fitted rates, median R^2 per variable.

    ``worst_r2`` is the median over trials of each trial's worst R^2 over h, y, w;
    a trial without a fit (diverged before 3 epochs, error) makes it NaN, so a
    failed trial always counts against a claim.
    """
    rows = []
    for name, group in group_results(configs, results).items():
        row: dict[str, Any] = {"network": name, "trials": len(group),
                               "statuses": status_counts(group)}
        for key in ("eta_h", "eta_y", "eta_m", "r2_h", "r2_y", "r2_w", "r2_loss", "h_final", "h_inf"):
            row[key] = median_or_nan([np.nan if failed(r) else float(r.get(key, np.nan)) for r in group])
        row["worst_r2"] = median_or_nan([min_r2(r) for r in group])
        rows.append(row)
    return rows


def group_results(configs: Sequence[TwoPointConfig],
                  results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Results grouped by architecture name, in first-seen order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for config, result in zip(configs, results):
        groups.setdefault(config.arch.name, []).append(result)
    return groups


@dataclass(frozen=True)
class TwoPointSettings:
    """Which Table 1 networks a two-point experiment trains, how often, at which scale.

    Parameters
    ----------
    networks : tuple of str
        Table 1 names.
    trials : int
        Trials (seeds 0, 1, ...) per network.
    scale : TwoPointScale
        The profile's scale (shared by every two-point experiment of the profile).
    """

    networks: tuple[str, ...]
    trials: int
    scale: TwoPointScale

    def __post_init__(self) -> None:
        if not self.networks or not all(isinstance(n, str) for n in self.networks):
            raise ValueError(f"networks must be a non-empty tuple of Table 1 names; got {self.networks!r}")
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise ValueError(f"trials must be an int >= 1; got {self.trials!r}")

    def configs(self, device: str = "cpu") -> list[TwoPointConfig]:
        """One config per network and seed (network-major); defaults for everything else."""
        return [TwoPointConfig(arch=self.scale.arch(name), seed=seed, device=device)
                for name in self.networks for seed in range(self.trials)]

    def estimate_seconds(self) -> float:
        """Rough single-core seconds of these trials (training and fits)."""
        return sum(estimate_trial_seconds(c) for c in self.configs())


@dataclass
class NetworkRun:
    """The trials of a :class:`TwoPointSettings`, grouped and tabulated per network."""

    settings: TwoPointSettings
    configs: list[TwoPointConfig]
    results: list[dict[str, Any]]
    groups: dict[str, list[dict[str, Any]]]
    table: list[dict[str, Any]]

    @classmethod
    def run(cls, settings: TwoPointSettings, options: RunOptions) -> NetworkRun:
        """Run (or load from the cache) every trial of ``settings``."""
        configs = settings.configs(options.device)
        results = run_trials(configs, options)
        return cls(settings, configs, results, group_results(configs, results), network_table(configs, results))

    def output(self, out: Path, claims: list[Claim], figures: list[Path]) -> ExperimentOutput:
        """Write the trial data and return the experiment's output (summary: settings, table, trials)."""
        from repdyn.experiments._run_data import write_trial_data

        write_trial_data(out, self.results, self.configs, "trials")
        return ExperimentOutput(
            summary={"settings": asdict(self.settings), "networks": self.table,
                     "trials": [trial_summary(c, r) for c, r in zip(self.configs, self.results)]},
            claims=claims, figures=figures, counts=status_counts(self.results),
        )
