"""The paper's two-point experiments: which Table 1 networks, at which scale per profile, and their tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.experiments._claims import Claim
from repdyn.experiments._metrics import median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.nets import ArchSpec, get_architecture
from repdyn.runs import (
    TwoPointConfig,
    estimate_trial_seconds,
    failed,
    run_trials,
    status_counts,
    trial_summary,
    write_trial_data,
)

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
            checks.integer(name, value, minimum=1, allow_none=True, fix="None keeps the table's")

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

def min_r2(result: dict[str, Any]) -> float:
    """Worst R^2 over h, y, w of a trial's fit; NaN if any is missing (diverged, failed, unfitted)."""
    values = [result.get(f"r2_{v}") for v in FIT_VARIABLES]
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return float("nan")
    return float(min(values))


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
        checks.integer("trials", self.trials, minimum=1)

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
        write_trial_data(out, self.results, self.configs, "trials")
        return ExperimentOutput(
            summary={"settings": asdict(self.settings), "networks": self.table,
                     "trials": [trial_summary(c, r) for c, r in zip(self.configs, self.results)]},
            claims=claims, figures=figures, counts=status_counts(self.results),
        )
