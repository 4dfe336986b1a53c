"""Runs of a model, shared by the command line, the atlas and the paper's experiments.

- :class:`TwoPointConfig` / :func:`two_point_trial`: train, track and fit one
  network on two points; :func:`run_two_point` runs many and writes their data
  and figure, :func:`estimate_trial_bytes` bounds one trial's memory.
- :class:`DatasetConfig` / :func:`dataset_trial`: train one network on a whole
  data set (XOR, the context task, MNIST) while tracking one pair, saving the
  representations of probe points; :func:`load_dataset`,
  :func:`mnist_probe_indices` and :func:`resolve_mnist_dir` give those points.
- :func:`train_pair`: the training run of a two-point trial, on the fastest
  exact trainer.
- :func:`load_run`: read a run directory back.

A trial function's module path enters its cache key
(:func:`repdyn.sweep.cache_key`): moving one bumps
:data:`repdyn.sweep.RESULT_FORMAT_VERSION`. Importing this package is cheap:
the names that need torch load on first use.
"""

from importlib import import_module
from typing import Any

from repdyn.runs._execution import CACHE_DIR, DEVICES, Execution, check_device
from repdyn.runs._outputs import RunOutput, save_figure, save_representations, write_json
from repdyn.runs._plots import STYLE, dynamics_row, figure_grid, paper_style
from repdyn.runs._records import FAILED_STATUSES, failed, status_counts
from repdyn.runs._run_data import Run, load_run, write_trial_data

#: Public names whose modules import torch, loaded on first access.
_LAZY = {
    "DATASETS": "repdyn.runs._dataset_trial",
    "DatasetConfig": "repdyn.runs._dataset_trial",
    "dataset_trial": "repdyn.runs._dataset_trial",
    "estimate_dataset_seconds": "repdyn.runs._dataset_trial",
    "finite_representations": "repdyn.runs._dataset_trial",
    "load_dataset": "repdyn.runs._dataset_trial",
    "mnist_probe_indices": "repdyn.runs._dataset_trial",
    "resolve_mnist_dir": "repdyn.runs._dataset_trial",
    "train_pair": "repdyn.runs._train_pair",
    "DEFAULT_LOSS_THRESHOLD": "repdyn.runs._two_point",
    "MEASURE_MODES": "repdyn.runs._two_point",
    "TwoPointConfig": "repdyn.runs._two_point",
    "two_point_trial": "repdyn.runs._two_point",
    "draw_dynamics": "repdyn.runs._two_point_run",
    "estimate_trial_bytes": "repdyn.runs._two_point_run",
    "estimate_trial_seconds": "repdyn.runs._two_point_run",
    "run_trials": "repdyn.runs._two_point_run",
    "run_two_point": "repdyn.runs._two_point_run",
    "seed_groups": "repdyn.runs._two_point_run",
    "trial_summary": "repdyn.runs._two_point_run",
}

__all__ = [
    "CACHE_DIR",
    "DATASETS",
    "DEFAULT_LOSS_THRESHOLD",
    "DEVICES",
    "FAILED_STATUSES",
    "MEASURE_MODES",
    "STYLE",
    "DatasetConfig",
    "Execution",
    "Run",
    "RunOutput",
    "TwoPointConfig",
    "check_device",
    "dataset_trial",
    "draw_dynamics",
    "dynamics_row",
    "estimate_dataset_seconds",
    "estimate_trial_bytes",
    "estimate_trial_seconds",
    "failed",
    "figure_grid",
    "finite_representations",
    "load_dataset",
    "load_run",
    "mnist_probe_indices",
    "paper_style",
    "resolve_mnist_dir",
    "run_trials",
    "run_two_point",
    "save_figure",
    "save_representations",
    "seed_groups",
    "status_counts",
    "train_pair",
    "trial_summary",
    "two_point_trial",
    "write_json",
    "write_trial_data",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'repdyn.runs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
