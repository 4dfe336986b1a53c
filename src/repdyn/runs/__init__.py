"""Runs of a model, shared by the command line, the atlas and the paper's experiments.

- :class:`TwoPointConfig` / :func:`two_point_trial`: train, track and fit one
  network on two points; :func:`run_two_point` runs many and writes their data
  and figure, :func:`estimate_trial_bytes` bounds one trial's memory.
- :class:`DatasetConfig` / :func:`dataset_trial`: train one network on a whole
  data set (XOR, the context task, MNIST) while tracking one pair, saving the
  representations of probe points; :func:`load_dataset`,
  :func:`mnist_probe_indices` and :func:`resolve_mnist_dir` give those points;
  :func:`run_dataset_trials` runs many (the seeds of one network together
  wherever two-point trials batch).
- :func:`train_pair`: the training run of a two-point trial, on the fastest
  exact trainer.
- :func:`load_run`: read a run directory back.
- :class:`SequenceRunConfig` / :func:`run_sequences`: a sequence model trained
  on a task or the user's sequences (:func:`read_sequences`), every prefix
  tracked, the automaton it learns and the theory per prefix pair
  (``repdyn sequences``).
- :func:`plan_trials`: what trials will cost on a device (batches, memory,
  time) before anything trains.

A trial function's module path enters its cache key
(:func:`repdyn.sweep.cache_key`): moving one bumps
:data:`repdyn.sweep.RESULT_FORMAT_VERSION`. Importing this package is cheap:
the names that need torch load on first use.
"""

from importlib import import_module
from typing import Any

from repdyn.runs._data import (
    DATA_KINDS,
    DATASETS,
    DISTANCE_KINDS,
    DataSource,
    InputDistanceSource,
    data_source,
    encode_labels,
    euclidean_coordinates,
    input_distance_source,
    load_dataset,
    pairwise_input_distances,
    points_from_arrays,
)
from repdyn.runs._estimates import counting_each_trial_once, once
from repdyn.runs._execution import CACHE_DIR, DEVICES, Execution, check_device
from repdyn.runs._machine import (
    MAX_RUN_SECONDS,
    MEMORY_SHARE,
    available_memory,
    format_bytes,
    format_seconds,
    require_memory,
    require_time,
)
from repdyn.runs._model import CNN, MODEL_KINDS, ModelDefaults, ModelSource, check_forward, model_source
from repdyn.runs._outputs import (
    RunOutput,
    atomic_path,
    png_data_uri,
    retire_index,
    save_figure,
    save_representations,
    write_figure,
    write_json,
    write_text,
)
from repdyn.runs._plots import STYLE, THEORY_LINE, dynamics_row, figure_grid, paper_style
from repdyn.runs._records import FAILED_STATUSES, failed, status_counts
from repdyn.runs._run_data import Run, load_run, write_trial_data
from repdyn.runs._sequences import (
    DEFAULT_GAINS,
    SEQUENCE_MODELS,
    SEQUENCE_TASKS,
    SequenceRunConfig,
    read_sequences,
    run_sequences,
)
from repdyn.runs._training import FULL_BATCH, REFERENCE_LOSS, Training, default_learning_rate, reference_loss

#: Public names whose modules import torch, loaded on first access.
_LAZY = {
    "DatasetConfig": "repdyn.runs._dataset_trial",
    "dataset_trial": "repdyn.runs._dataset_trial",
    "run_dataset_trials": "repdyn.runs._dataset_run",
    "estimate_dataset_seconds": "repdyn.runs._dataset_trial",
    "finite_representations": "repdyn.runs._dataset_trial",
    "mnist_probe_indices": "repdyn.runs._dataset_trial",
    "train_pair": "repdyn.runs._train_pair",
    "PlannedBatch": "repdyn.runs._plan",
    "TrialPlan": "repdyn.runs._plan",
    "plan_trials": "repdyn.runs._plan",
    "DEFAULT_LOSS_THRESHOLD": "repdyn.runs._two_point",
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
    "CNN",
    "DATASETS",
    "DATA_KINDS",
    "DEFAULT_GAINS",
    "DEFAULT_LOSS_THRESHOLD",
    "DEVICES",
    "DISTANCE_KINDS",
    "FAILED_STATUSES",
    "FULL_BATCH",
    "MAX_RUN_SECONDS",
    "MEMORY_SHARE",
    "MODEL_KINDS",
    "REFERENCE_LOSS",
    "STYLE",
    "THEORY_LINE",
    "DataSource",
    "DatasetConfig",
    "Execution",
    "InputDistanceSource",
    "ModelDefaults",
    "ModelSource",
    "PlannedBatch",
    "Run",
    "SEQUENCE_MODELS",
    "SEQUENCE_TASKS",
    "SequenceRunConfig",
    "RunOutput",
    "Training",
    "TrialPlan",
    "TwoPointConfig",
    "atomic_path",
    "available_memory",
    "check_device",
    "check_forward",
    "counting_each_trial_once",
    "data_source",
    "dataset_trial",
    "default_learning_rate",
    "draw_dynamics",
    "dynamics_row",
    "encode_labels",
    "estimate_dataset_seconds",
    "estimate_trial_bytes",
    "estimate_trial_seconds",
    "euclidean_coordinates",
    "failed",
    "figure_grid",
    "finite_representations",
    "format_bytes",
    "format_seconds",
    "input_distance_source",
    "load_dataset",
    "load_run",
    "mnist_probe_indices",
    "model_source",
    "once",
    "pairwise_input_distances",
    "read_sequences",
    "paper_style",
    "plan_trials",
    "png_data_uri",
    "points_from_arrays",
    "reference_loss",
    "require_memory",
    "require_time",
    "retire_index",
    "run_dataset_trials",
    "run_sequences",
    "run_trials",
    "run_two_point",
    "save_figure",
    "save_representations",
    "seed_groups",
    "status_counts",
    "train_pair",
    "trial_summary",
    "two_point_trial",
    "write_figure",
    "write_json",
    "write_text",
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
