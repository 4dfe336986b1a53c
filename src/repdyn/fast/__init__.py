"""Fast two-point trials: a hand-written CPU path and many trials batched at once.

- :func:`train_pair_fast`: one plain MLP trained by SGD on a pair, with a
  hand-written forward and backward and deferred low-rank weight updates;
  the same :class:`repdyn.track.PairTracking` as :func:`repdyn.track.track_pair`.
- :func:`train_pairs_batched`: many trials of one architecture and optimiser
  stacked along a leading trial dimension (for a GPU): every architecture of
  Tables 1 and 2 (convolution, skip, dropout with each trial's own masks,
  Adam with each trial's moments) through ``torch.func`` over stacked
  parameters, the plain SGD MLP through hand-written batched kernels.
- :func:`train_tracking_pairs_batched`: several seeds of one network trained
  on a whole data set at once, each tracking a pair, as
  :func:`repdyn.track.train_tracking_pair` trains each (:func:`dataset_reason`
  says which networks it takes).
- :func:`choose_trainer`: which of those (or :func:`repdyn.track.track_pair`)
  trains a trial, from the architecture and the options alone.
- :func:`batch_cost`, :func:`batch_bytes`, :func:`split_batches`: what a
  batch costs per epoch (device memory, measured time or the bandwidth floor
  of :func:`step_bytes` at :func:`memory_bandwidth`), and batches that fit a
  memory limit (:func:`device_memory`).
- :func:`supports_fast_path`: whether a given network and optimiser qualify.
- :func:`limit_threads`, :func:`threads`: one BLAS/torch thread per worker.
"""

from repdyn.fast._batched import train_pairs_batched
from repdyn.fast._datasets import dataset_reason, train_tracking_pairs_batched
from repdyn.fast._cost import (
    BatchCost,
    batch_bytes,
    batch_cost,
    device_memory,
    memory_bandwidth,
    split_batches,
    step_bytes,
)
from repdyn.fast._layout import TRAINERS, choose_trainer, supports_fast_path
from repdyn.fast._mlp import DEFAULT_DEFER, train_pair_fast
from repdyn.fast._threads import limit_threads, threads

__all__ = [
    "DEFAULT_DEFER",
    "TRAINERS",
    "BatchCost",
    "batch_bytes",
    "batch_cost",
    "choose_trainer",
    "dataset_reason",
    "device_memory",
    "limit_threads",
    "memory_bandwidth",
    "split_batches",
    "step_bytes",
    "supports_fast_path",
    "threads",
    "train_pair_fast",
    "train_pairs_batched",
    "train_tracking_pairs_batched",
]
