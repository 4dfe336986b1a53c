"""Fig 9: the representational structure of 100 MNIST digits against the theory's prediction (SGD).

The network and trial are fig4's; the analysis (predictions, comparisons,
claims, figure) is :func:`repdyn.experiments.studies._mnist.mnist_structure`,
shared with ``adam-mnist``.
"""

from __future__ import annotations

from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.experiments.studies._mnist import SETTINGS, estimate_structure_seconds, mnist_structure


def estimate_seconds(profile: str) -> float:
    return estimate_structure_seconds(SETTINGS[profile])


def run(options: RunOptions) -> ExperimentOutput:
    return mnist_structure(SETTINGS[options.profile], options)
