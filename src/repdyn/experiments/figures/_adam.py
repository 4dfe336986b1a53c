"""Figs 13 and 14: the two-point dynamics and the final distance again, trained with Adam.

(Figs 15 and 16, the structure experiments trained with Adam, are
``adam-xor``, ``adam-context`` and ``adam-mnist`` in
:mod:`repdyn.experiments.figures._adam_structure`.)

The settings (Adam's learning rates, and the SGD trials compared with them)
are :mod:`repdyn.experiments.studies._adam`; the final-distance study is
fig5's (:mod:`repdyn.experiments.studies._final_distance`).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments.studies._adam import SETTINGS
from repdyn.experiments.studies._final_distance import (
    draw_final_distance,
    estimate_settings_seconds,
    run_final_distance,
    write_outcome_data,
)
from repdyn.runs import draw_dynamics, run_trials, seed_groups, status_counts, trial_summary
from repdyn.experiments._two_point import min_r2


def estimate_seconds(profile: str) -> float:
    settings = SETTINGS[profile]
    return estimate_settings_seconds(settings.adam) + settings.sgd.estimate_seconds()


def fit_worse_claim(sgd_worst_r2: float, adam_worst_r2: float) -> Claim:
    """The dynamics claim: Adam's worst-variable R^2 below SGD's (NaN on either side fails it)."""
    return Claim(claim="With Adam the theory fits the dynamics worse than with SGD",
                 metric="median worst R^2 over h, y, w with SGD minus with Adam (same networks and seeds)",
                 measured=sgd_worst_r2 - adam_worst_r2, relation=">", threshold=0.0)


def median_gap(sgd: np.ndarray, adam: np.ndarray) -> float:
    """Median of ``sgd`` minus median of ``adam`` (NaN if either has a NaN)."""
    return median_or_nan(sgd) - median_or_nan(adam)


def fit_worse_claim_per_seed(sgd_worst_r2: np.ndarray, adam_worst_r2: np.ndarray) -> Claim:
    """:func:`fit_worse_claim` from each seed's worst R^2, with a bootstrap over the seeds (SGD and Adam paired)."""
    sgd, adam = np.asarray(sgd_worst_r2, float), np.asarray(adam_worst_r2, float)
    claim = fit_worse_claim(median_or_nan(sgd), median_or_nan(adam))
    return bootstrap(claim, median_gap, sgd, adam, unit="seeds (SGD and Adam of one seed together)")


def run(options: RunOptions) -> ExperimentOutput:
    settings = SETTINGS[options.profile]
    outcome = run_final_distance(settings.adam, options)
    sgd_configs = settings.sgd.configs(options.device)
    sgd_results = run_trials(sgd_configs, options)
    adam_r2 = median_or_nan([min_r2(r) for r in outcome.fit_results])
    sgd_r2 = median_or_nan([min_r2(r) for r in sgd_results])

    name = settings.adam.networks[0]
    groups = {f"{name}, Adam": seed_groups(outcome.fit_configs, outcome.fit_results).get(name, []),
              f"{name}, SGD": seed_groups(sgd_configs, sgd_results).get(name, [])}
    figures = draw_dynamics(groups, options.out, "adam_dynamics")
    figures += draw_final_distance(outcome, options.out, "adam_final_distance",
                                   "final representational distance with Adam: theory against network")
    write_outcome_data(outcome, options.out)

    summary = outcome.summary()
    summary.update(settings=asdict(settings), worst_r2={"adam": adam_r2, "sgd": sgd_r2},
                   sgd_trials=[trial_summary(c, r) for c, r in zip(sgd_configs, sgd_results)])
    counts = outcome.counts()
    counts.update({f"sgd_{k}": v for k, v in status_counts(sgd_results).items()})
    claims = [fit_worse_claim_per_seed([min_r2(r) for r in sgd_results], [min_r2(r) for r in outcome.fit_results]),
              *outcome.claims(what="Adam")]
    return ExperimentOutput(summary=summary, claims=claims, figures=figures, counts=counts)
