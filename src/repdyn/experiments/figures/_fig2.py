"""Fig 2: the two-point dynamics of every Table 1 architecture against the fitted theory."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from repdyn.experiments._claims import Claim, bootstrap
from repdyn.experiments._metrics import R2_MATCH, matched_fraction, median_or_nan
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments._two_point import ARCHITECTURE_ROWS, NETWORK_SCALES, NetworkRun, TwoPointSettings
from repdyn.runs import draw_dynamics, seed_groups

#: The paper shows one run per network; quick keeps that, paper runs 3 seeds
#: per network (each network's R^2 is the median over them).
SETTINGS = {
    "smoke": TwoPointSettings(networks=("default", "tanh"), trials=1, scale=NETWORK_SCALES["smoke"]),
    "quick": TwoPointSettings(networks=ARCHITECTURE_ROWS, trials=1, scale=NETWORK_SCALES["quick"]),
    "paper": TwoPointSettings(networks=ARCHITECTURE_ROWS, trials=3, scale=NETWORK_SCALES["paper"]),
}


def estimate_seconds(profile: str) -> float:
    return SETTINGS[profile].estimate_seconds()


def match_claims(worst_r2: Mapping[str, float], *, bar: float = R2_MATCH, seeds: int | None = None) -> list[Claim]:
    """Claims of Fig 2 from each network's worst R^2 over h, y, w (NaN: no fit, counts as a miss).

    Intervals: a bootstrap over the networks; ``seeds`` (trials per network) is
    what the report names beside them.
    """
    values = np.array(list(worst_r2.values()), dtype=float)
    fraction = partial(matched_fraction, bar=bar)
    return [
        bootstrap(Claim(
            claim="Two fitted constants make the theory match all three curves (h, y, w) for every network",
            metric=f"fraction of networks whose worst R^2 over h, y, w (median over trials) is >= {bar:g}",
            measured=fraction(values), relation=">=", threshold=1.0, seeds=seeds,
        ), fraction, values, unit="networks"),
        bootstrap(Claim(
            claim="The theory matches all three curves for the typical network",
            metric="median over networks of the worst R^2 over h, y, w",
            measured=median_or_nan(values), relation=">=", threshold=bar, seeds=seeds,
        ), median_or_nan, values, unit="networks"),
    ]


def run(options: RunOptions) -> ExperimentOutput:
    trials = NetworkRun.run(SETTINGS[options.profile], options)
    figures = draw_dynamics(seed_groups(trials.configs, trials.results), options.out, "fig2_dynamics",
                            panels=("h", "y", "w"), max_trials=1)
    claims = match_claims({row["network"]: row["worst_r2"] for row in trials.table},
                          seeds=SETTINGS[options.profile].trials)
    return trials.output(options.out, claims, figures)
