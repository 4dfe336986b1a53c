"""Sweeps of trials: cached, crash-safe, local or distributed, independent of what a trial computes.

A trial is a pure top-level function ``fn(config) -> result``: the config is a
frozen dataclass (or dict) with a canonical JSON form, the result a flat dict
of JSON scalars and numpy arrays. :func:`run_sweep` runs a trial over many
configs on one of several executors, storing each result in a
:class:`ResultStore` under its :func:`cache_key` the moment it arrives;
:func:`results_frame` and :func:`results_dataset` turn results into tables,
:func:`dataset_table` a Dataset into a table.
See ``docs/sweeps.md``.

This package never imports torch, pandas or xarray at import time.
"""

from repdyn.sweep._canonical import (
    KEY_OMITS_DEFAULT,
    RESULT_FORMAT_VERSION,
    cache_key,
    canonical_json,
    canonical_value,
    trial,
    trial_name,
)
from repdyn.sweep._cluster import CLUSTER_KINDS, LOOPBACK, JobQueue, check_host
from repdyn.sweep._dask import ClusterSetupError
from repdyn.sweep._frames import STATUS_MISSING, dataset_table, flatten_config, results_dataset, results_frame
from repdyn.sweep._run import EXECUTORS, check_executor, default_workers, run_sweep
from repdyn.sweep._store import ResultStore, StoredResult, SweepWarning
from repdyn.sweep._trial import STATUS_ERROR, STATUS_FAILED, TrialError

__all__ = [
    "CLUSTER_KINDS",
    "ClusterSetupError",
    "EXECUTORS",
    "KEY_OMITS_DEFAULT",
    "RESULT_FORMAT_VERSION",
    "STATUS_ERROR",
    "STATUS_FAILED",
    "STATUS_MISSING",
    "JobQueue",
    "LOOPBACK",
    "ResultStore",
    "StoredResult",
    "SweepWarning",
    "TrialError",
    "cache_key",
    "canonical_json",
    "canonical_value",
    "check_executor",
    "check_host",
    "dataset_table",
    "default_workers",
    "flatten_config",
    "results_dataset",
    "results_frame",
    "run_sweep",
    "trial",
    "trial_name",
]
