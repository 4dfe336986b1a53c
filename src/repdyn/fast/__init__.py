"""Fast two-point trials: a hand-written CPU path and many trials batched at once.

- :func:`train_pair_fast`: one plain MLP trained by SGD on a pair, with a
  hand-written forward and backward and deferred low-rank weight updates;
  the same :class:`repdyn.track.PairTracking` as :func:`repdyn.track.track_pair`.
- :func:`train_pairs_batched`: many trials of one MLP architecture stacked
  along a leading trial dimension (batched matrix products; for a GPU).
- :func:`choose_trainer`: which of those (or :func:`repdyn.track.track_pair`)
  trains a trial, from the architecture and the options alone.
- :func:`supports_fast_path`: whether a given network and optimiser qualify.
- :func:`limit_threads`, :func:`threads`: one BLAS/torch thread per worker.
"""

from repdyn.fast._batched import train_pairs_batched
from repdyn.fast._layout import TRAINERS, choose_trainer, supports_fast_path
from repdyn.fast._mlp import DEFAULT_DEFER, train_pair_fast
from repdyn.fast._threads import limit_threads, threads

__all__ = [
    "DEFAULT_DEFER",
    "TRAINERS",
    "choose_trainer",
    "limit_threads",
    "supports_fast_path",
    "threads",
    "train_pair_fast",
    "train_pairs_batched",
]
