"""Run-time estimates count a trial that several experiments share once, as the result store computes it once."""

from __future__ import annotations

import pytest

from repdyn.experiments import EXPERIMENTS, estimate_seconds
from repdyn.experiments.figures._fig2 import SETTINGS as FIG2
from repdyn.experiments.studies._final_distance import SETTINGS as FIG5
from repdyn.runs import estimate_trial_seconds


def alone(name: str, profile: str) -> float:
    seconds = EXPERIMENTS[name].estimate_seconds(profile)
    assert seconds is not None and seconds > 0
    return seconds


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_shared_trials_are_counted_once(profile: str) -> None:
    # At the paper scale fig2's trials (seed 0 of each network, the default
    # pair) are among fig5's rate-fitting trials; fig11's are fig2's and fig3's.
    fig2_extra = sum(estimate_trial_seconds(c) for c in FIG2[profile].configs()
                     if c not in FIG5[profile].fit_configs())  # fmt: skip
    if profile == "paper":
        assert fig2_extra == 0
    assert estimate_seconds(["fig2", "fig5"], profile, 1) == pytest.approx(alone("fig5", profile) + fig2_extra)
    assert estimate_seconds(["fig2", "fig3", "fig11"], profile, 1) == pytest.approx(
        estimate_seconds(["fig2", "fig3"], profile, 1))  # fmt: skip
    assert estimate_seconds(["fig5", "fig5"], profile, 1) == pytest.approx(alone("fig5", profile))


def test_each_experiment_alone_still_counts_all_its_trials() -> None:
    names = list(EXPERIMENTS)
    together = estimate_seconds(names, "paper", 1)
    separate = sum(alone(name, "paper") for name in names)
    assert together < separate  # the paper profile shares trials
    assert alone("fig11", "paper") == alone("fig11", "paper")  # no state left behind between estimates
    assert estimate_seconds(["fig11"], "paper", 4) == pytest.approx(alone("fig11", "paper") / 4)


def test_the_counted_trials_are_the_distinct_trials() -> None:
    from repdyn.runs import counting_each_trial_once

    with counting_each_trial_once() as counted:
        alone("fig2", "paper")
        alone("fig5", "paper")
    assert set(counted) == set(FIG5["paper"].fit_configs() + FIG5["paper"].grid_configs())
    # Each at the seconds its estimator gives it alone.
    assert all(seconds == estimate_trial_seconds(config) for config, seconds in counted.items())
