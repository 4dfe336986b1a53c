"""Training that records the theory's variables at any layer of any PyTorch model.

Forward hooks measure, for a pair of points, ``h = ||f(x1) - f(x2)||^2`` at
the chosen submodule(s), and the model output gives ``y = ||dyhat||^2`` and
``w = y - dy . dyhat``; with the loss, every epoch (the state before the first
step included). Values stay on the device and reach the host in chunks.

- :func:`track_pair`: full-batch training on the pair itself.
- :func:`train_tracking_pair`: minibatch training on a whole data set while
  tracking one pair of its points.
- :func:`measure_pair`: the variables at the current weights, no training.

Every function measures in eval mode by default, as the paper's code does
(``measure="train"`` records from the training forward, dropout active).
- :class:`PairTracking`: the result (numpy arrays; xarray, pandas, dict forms).

The rules every trainer shares (these, and the engines of :mod:`repdyn.fast`),
for writing another one:

- :func:`pair_metrics`: ``y``, ``w``, the loss and ``m0`` from a pair's
  predictions and targets (numpy or torch, any leading batch dimensions);
  :func:`project_loss`, the loss itself.
- :class:`PairLog`: the host rows of a run, the divergence check, the result.
- :class:`ChunkSchedule`: when a run checks its rows (every
  :data:`CHECK_EVERY` epochs by default), stops, and records its last epoch.
"""

from repdyn.track._checks import MEASURE_MODES
from repdyn.track._layers import ALL_HIDDEN, resolve_layers
from repdyn.track._log import CHECK_EVERY, ChunkSchedule, PairLog
from repdyn.track._metrics import PairMetrics, pair_metrics, project_loss
from repdyn.track._minibatch import train_tracking_pair
from repdyn.track._pair import measure_pair, track_pair
from repdyn.track._record import forward_depends_on_mode
from repdyn.track._result import STATUSES, PairTracking

__all__ = [
    "ALL_HIDDEN",
    "CHECK_EVERY",
    "MEASURE_MODES",
    "STATUSES",
    "ChunkSchedule",
    "PairLog",
    "PairMetrics",
    "PairTracking",
    "forward_depends_on_mode",
    "measure_pair",
    "pair_metrics",
    "project_loss",
    "resolve_layers",
    "track_pair",
    "train_tracking_pair",
]
