"""Training that records the theory's variables at any layer of any PyTorch model.

Forward hooks measure, for a pair of points, ``h = ||f(x1) - f(x2)||^2`` at
the chosen submodule(s), and the model output gives ``y = ||dyhat||^2`` and
``w = y - dy . dyhat``; with the loss, every epoch (the state before the first
step included). Values stay on the device and reach the host in chunks.

- :func:`track_pair`: full-batch training on the pair itself.
- :func:`train_tracking_pair`: minibatch training on a whole data set while
  tracking one pair of its points.
- :func:`track_pairs`: training on a whole data set while tracking many
  pairs (drawn with :func:`sample_pairs`, or given) at many layers, from one
  batched forward per record; the result is a :class:`PairsTracking`.
- :func:`measure_pair`: the variables at the current weights, no training.
- :func:`layer_outputs`: the representations of many points at named layers.
- :func:`input_distances`: each pair's squared input distance ``dx2``: the
  inputs' squared Euclidean distance, or the caller's ``input_distance`` (a
  function such as :func:`one_hot_distance`, or a matrix), which integer
  inputs (token ids, kept as int64 for ``nn.Embedding``) need.

Every function measures in eval mode by default, as the paper's code does
(``measure="train"`` records from the training forward, dropout active).
- :class:`PairTracking`: the result (numpy arrays; xarray, pandas, dict forms).

The effective rates without a fit (docs/theory.md, "Rates from the tangent
kernel"): ``kernel_every=k`` in :func:`track_pair`, :func:`track_pairs` and
:func:`train_tracking_pair` records ``kernel_eta_h``, ``kernel_eta_y`` and
two diagnostics of the theory's assumptions every ``k``-th record (the fast
paths of :mod:`repdyn.fast` refuse it).

- :func:`split_parameters`: which parameters are the encoder and the
  decoder at a layer (:class:`ParameterSplit`).
- :class:`Preconditioner`: an optimiser's step as a diagonal map.
- :func:`encoder_tangent_kernel`: the encoder's tangent kernel on ``N``
  points as an ``(N, N)`` scalar kernel, for
  :func:`repdyn.theory.npoint_distances`.

The rules every trainer shares (these, and the engines of :mod:`repdyn.fast`),
for writing another one:

- :func:`pair_metrics`: ``y``, ``w``, the loss and ``m0`` from a pair's
  predictions and targets (numpy or torch, any leading batch dimensions);
  :func:`project_loss`, the loss itself; :func:`loss_scale`, the factor of
  each loss convention of :data:`LOSSES` (every trainer takes ``loss=``, the
  theory's :data:`THEORY_LOSS` by default, and records the project loss).
- :class:`PairLog`: the host rows of a run, the divergence check, the result.
- :func:`check_count`, :func:`check_loss_threshold`, :func:`renamed_keywords`:
  the input checks every trainer makes the same way.
- :class:`ChunkSchedule`: when a run checks its rows (every
  :data:`CHECK_EVERY` epochs by default), stops, and records its last epoch.
- :func:`run_seeds`: the seeds of a minibatch run's order and random layers.
"""

from repdyn.track._checks import MEASURE_MODES, renamed_keywords
from repdyn.track._checks import positive_int as check_count
from repdyn.track._checks import threshold as check_loss_threshold
from repdyn.track._distance import INTEGER_INPUTS_FIX, InputDistance, input_distances, one_hot_distance
from repdyn.track._kernel import (
    KERNEL_EVERY,
    KERNEL_PROBES,
    ParameterSplit,
    Preconditioner,
    encoder_tangent_kernel,
    split_parameters,
)
from repdyn.track._layers import ALL_HIDDEN, resolve_layers
from repdyn.track._log import CHECK_EVERY, ChunkSchedule, PairLog
from repdyn.track._metrics import LOSSES, THEORY_LOSS, PairMetrics, check_loss, loss_scale, pair_metrics, project_loss
from repdyn.track._minibatch import train_tracking_pair
from repdyn.track._outputs import layer_outputs
from repdyn.track._pair import measure_pair, track_pair
from repdyn.track._pairs import PairsTracking, record_epochs, run_seeds, track_pairs
from repdyn.track._record import forward_depends_on_mode
from repdyn.track._result import KERNEL_FIELDS, STATUSES, STEP_FIELDS, PairTracking
from repdyn.track._sampling import SAME_FRACTION, SampledPairs, group_ids, sample_pairs

__all__ = [
    "ALL_HIDDEN",
    "CHECK_EVERY",
    "KERNEL_EVERY",
    "KERNEL_FIELDS",
    "KERNEL_PROBES",
    "LOSSES",
    "INTEGER_INPUTS_FIX",
    "MEASURE_MODES",
    "Preconditioner",
    "SAME_FRACTION",
    "STATUSES",
    "STEP_FIELDS",
    "THEORY_LOSS",
    "ChunkSchedule",
    "InputDistance",
    "PairLog",
    "ParameterSplit",
    "PairMetrics",
    "PairTracking",
    "PairsTracking",
    "SampledPairs",
    "check_count",
    "check_loss",
    "check_loss_threshold",
    "encoder_tangent_kernel",
    "forward_depends_on_mode",
    "group_ids",
    "input_distances",
    "layer_outputs",
    "loss_scale",
    "measure_pair",
    "one_hot_distance",
    "pair_metrics",
    "project_loss",
    "record_epochs",
    "renamed_keywords",
    "resolve_layers",
    "run_seeds",
    "sample_pairs",
    "split_parameters",
    "track_pair",
    "track_pairs",
    "train_tracking_pair",
]
