"""Minibatch training on a whole data set while tracking one pair of its points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from repdyn import checks
from repdyn.track import _checks as check
from repdyn.track._distance import InputDistance
from repdyn.track._kernel import KERNEL_PROBES
from repdyn.track._layers import LayerSpec
from repdyn.track._metrics import THEORY_LOSS
from repdyn.track._pairs import _plan, _train
from repdyn.track._record import ProgressSpec
from repdyn.track._result import PairTracking


def train_tracking_pair(
    model: nn.Module,
    layers: LayerSpec,
    x: Any,
    y: Any,
    pair: Sequence[int],
    *,
    optimizer: check.OptimizerSpec,
    epochs: int,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    loss_threshold: float | None = None,
    stop_when_converged: bool = False,
    check_every: int = 256,
    measure: str = "eval",
    batch_dim: int | Mapping[str, int] = 0,
    progress: ProgressSpec = None,
    kernel_every: int | None = None,
    kernel_probes: int = KERNEL_PROBES,
    input_distance: InputDistance = None,
    loss: str = THEORY_LOSS,
) -> PairTracking:
    """Minibatch training over ``(x, y)`` that records the pair ``pair`` every epoch.

    The one-pair case of :func:`track_pairs` (same loop, same values bit for
    bit), returned as a :class:`PairTracking`. Each epoch is one pass over the
    data in minibatches of ``batch_size`` (the last one may be smaller), one
    optimiser step per minibatch, with the loss convention ``loss``. After every epoch,
    and once before the first, a no-grad forward of the two tracked points
    records ``h`` (at each layer), ``y``, ``w`` and the pair's loss.

    Parameters
    ----------
    model, layers, optimizer
        As for :func:`track_pair`.
    check_every : int, default 256
        Epochs kept on the device between copies to the host, each followed
        by the NaN/inf check (the keyword was ``chunk_size`` before 0.3).
    x : array_like or Tensor, shape (N, ...)
        All training inputs (moved to the model's device once).
    y : array_like or Tensor, shape (N, ...)
        Their targets, shaped like the model's output.
    pair : (int, int)
        Row indices ``(i, j)`` of the tracked points; ``x1 = x[i]``, ``x2 = x[j]``.
    epochs : int
        Passes over the data (>= 1).
    batch_size : int
        Minibatch size, 1 <= batch_size <= N.
    seed : int
        Seeds the minibatch order (a private :class:`torch.Generator`) and,
        through a forked copy of torch's global generators, random layers such
        as dropout; the caller's global random state is left untouched.
    shuffle : bool, default True
        Draw a new order every epoch; False keeps the data order.
    loss_threshold, stop_when_converged
        As for :func:`track_pair`, but judged on the training loss (the mean
        minibatch loss of an epoch), not on the pair's loss.
    measure : {"eval", "train"}, default "eval"
        Mode of the tracking forward. ``"eval"`` keeps dropout out of the
        measurement and stops a two-point forward from updating batch-norm
        statistics.

    batch_dim, progress, input_distance, loss
        As for :func:`track_pairs` (progress is reported after every epoch).
    kernel_every, kernel_probes
        Kernel rates and diagnostics of the pair, as :func:`track_pairs`
        measures them (no step rates: the step is the data set's).

    Returns
    -------
    PairTracking
        As for :func:`track_pair`, with ``train_loss`` (row 0: the initial
        model's loss on the whole data set) and ``pair`` set.
    """
    checks.seed("seed", seed)
    check.positive_int("batch_size", batch_size)
    i, j = _pair_indices(pair)
    plan = _plan(model, layers, x, y, [[i, j]], epochs=epochs, batch_size=batch_size, seed=seed,
                 record_every=1, groups=None, pair_seed=None, loss_threshold=loss_threshold,
                 stop_when_converged=stop_when_converged, check_every=check_every, measure=measure,
                 batch_dim=batch_dim, input_distance=input_distance, kernel_every=kernel_every,
                 kernel_probes=kernel_probes, loss=loss)  # fmt: skip
    if plan.dx2[0] == 0:
        raise ValueError(
            f"x[{i}] and x[{j}] are identical (dx2 = 0): their representations can never "
            "differ; choose a pair of distinct inputs"
        )
    return _train(plan, optimizer, shuffle=shuffle, progress=progress,
                  description="train_tracking_pair").pair(0)  # fmt: skip


def _pair_indices(pair: Any) -> tuple[int, int]:
    try:
        i, j = pair
    except (TypeError, ValueError):
        raise checks.ArgumentValueError("pair", f"pair must be two integer row indices (i, j); got "
                                               f"{checks.describe(pair)}") from None
    return checks.integer("pair[0]", i, minimum=0), checks.integer("pair[1]", j, minimum=0)
