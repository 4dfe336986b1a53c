"""Figs 7, 8 and 12: feature collapse in the context task (SGD).

The study (networks, collapse metrics, claims, figures) is
:mod:`repdyn.experiments.studies._context`, shared with ``adam-context``.
"""

from __future__ import annotations

from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments.studies._context import SETTINGS, BlobsRun, estimate_settings_seconds


def estimate_seconds(profile: str) -> float:
    return estimate_settings_seconds(SETTINGS[profile])


def run(options: RunOptions) -> ExperimentOutput:
    return BlobsRun.run(SETTINGS[options.profile], options).output(options.out)
