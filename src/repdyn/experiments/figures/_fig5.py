"""Fig 5: the final representational distance against the theory's prediction over a 5 x 5 grid (SGD).

The study itself (rate-fitting trials, grid, predictions, metrics, claims,
figure) is :mod:`repdyn.experiments.studies._final_distance`, shared with the
Adam experiment. Fig 5 adds one claim the Adam twin does not make: where the
theory's ``h_inf`` and its rich limit ``A_low`` differ, the theory predicts
better than ``A_low`` (the quick profile's elu trials are there for it).
"""

from __future__ import annotations

from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments.studies._final_distance import (
    SETTINGS,
    draw_final_distance,
    estimate_settings_seconds,
    run_final_distance,
    write_outcome_data,
)


def estimate_seconds(profile: str) -> float:
    return estimate_settings_seconds(SETTINGS[profile])


def run(options: RunOptions) -> ExperimentOutput:
    outcome = run_final_distance(SETTINGS[options.profile], options)
    figures = draw_final_distance(outcome, options.out, "fig5_final_distance",
                                  "final representational distance: theory against network (SGD)")
    write_outcome_data(outcome, options.out)
    return ExperimentOutput(summary=outcome.summary(), claims=[*outcome.claims(), outcome.beyond_rich_claim()],
                            figures=figures, counts=outcome.counts())
