"""Fig 6: XOR. Which pairs of representations merge, at small and large initial weights (SGD).

The study (networks, rate trials, merge metrics, claims, figure) is
:mod:`repdyn.experiments.studies._xor`, shared with ``adam-xor``.
"""

from __future__ import annotations

from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments.studies._xor import SETTINGS, XorRun, estimate_settings_seconds


def estimate_seconds(profile: str) -> float:
    return estimate_settings_seconds(SETTINGS[profile])


def run(options: RunOptions) -> ExperimentOutput:
    return XorRun.run(SETTINGS[options.profile], options).output(options.out)
