"""Trial functions: pure functions of a config (seeds included), so the sweep store caches them.

- :class:`TwoPointConfig` / :func:`two_point_trial`: train, track and fit one
  network on two points; :func:`run_two_point` runs many and writes their data
  and figure, :func:`estimate_trial_bytes` bounds one trial's memory.
- :class:`DatasetConfig` / :func:`dataset_trial`: train one network on a whole
  data set (XOR, the context task, MNIST) while tracking one pair, saving the
  representations of probe points; :func:`load_dataset`,
  :func:`mnist_probe_indices` and :func:`resolve_mnist_dir` give those points.
- :func:`train_pair`: the training run of a two-point trial, on the fastest
  exact trainer.

A trial function's module path enters its cache key
(:func:`repdyn.sweep.cache_key`): moving one bumps
:data:`repdyn.sweep.RESULT_FORMAT_VERSION`. Importing this package imports torch.
"""

from repdyn.experiments.trials._dataset import (
    DATASETS,
    DatasetConfig,
    dataset_trial,
    load_dataset,
    mnist_probe_indices,
    resolve_mnist_dir,
)
from repdyn.experiments.trials._training import train_pair
from repdyn.experiments.trials._two_point import (
    DEFAULT_LOSS_THRESHOLD,
    MEASURE_MODES,
    TwoPointConfig,
    two_point_trial,
)
from repdyn.experiments.trials._two_point_run import estimate_trial_bytes, run_two_point

__all__ = [
    "DATASETS",
    "DEFAULT_LOSS_THRESHOLD",
    "MEASURE_MODES",
    "DatasetConfig",
    "TwoPointConfig",
    "dataset_trial",
    "estimate_trial_bytes",
    "load_dataset",
    "mnist_probe_indices",
    "resolve_mnist_dir",
    "run_two_point",
    "train_pair",
    "two_point_trial",
]
