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
"""

from repdyn.track._checks import MEASURE_MODES
from repdyn.track._layers import ALL_HIDDEN, resolve_layers
from repdyn.track._minibatch import train_tracking_pair
from repdyn.track._pair import measure_pair, track_pair
from repdyn.track._record import forward_depends_on_mode, project_loss
from repdyn.track._result import STATUSES, PairTracking

__all__ = [
    "ALL_HIDDEN",
    "MEASURE_MODES",
    "STATUSES",
    "PairTracking",
    "forward_depends_on_mode",
    "measure_pair",
    "project_loss",
    "resolve_layers",
    "track_pair",
    "train_tracking_pair",
]
