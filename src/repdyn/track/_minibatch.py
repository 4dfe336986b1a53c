"""Minibatch training on a whole data set while tracking one pair of its points."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.track import _checks as check
from repdyn.track._layers import LayerProbe, LayerSpec, batch_dims, resolve_layers
from repdyn.track._pair import _measure
from repdyn.track._record import (
    Progress,
    ProgressSpec,
    Recorder,
    forked_rng,
    measuring_mode,
    project_loss,
    squared_distance,
)
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
    chunk_size: int = 256,
    measure: str = "eval",
    batch_dim: int | Mapping[str, int] = 0,
    progress: ProgressSpec = None,
) -> PairTracking:
    """Minibatch training over ``(x, y)`` that records the pair ``pair`` every epoch.

    Each epoch is one pass over the data in minibatches of ``batch_size``
    (the last one may be smaller), one optimiser step per minibatch, with the
    project loss. After every epoch, and once before the first, a no-grad
    forward of the two tracked points records ``h`` (at each layer), ``y``,
    ``w`` and the pair's loss.

    Parameters
    ----------
    model, layers, optimizer, chunk_size
        As for :func:`track_pair`.
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
        Mode of the tracking forward. ``"eval"`` (the default here, unlike
        :func:`track_pair`) keeps dropout out of the measurement and stops a
        two-point forward from updating batch-norm statistics.

    batch_dim, progress
        As for :func:`track_pair` (progress is reported after every epoch).

    Returns
    -------
    PairTracking
        As for :func:`track_pair`, with ``train_loss`` (row 0: the initial
        model's loss on the whole data set) and ``pair`` set.
    """
    epochs = check.positive_int("epochs", epochs)
    chunk_size = check.positive_int("chunk_size", chunk_size)
    loss_threshold = check.threshold(loss_threshold)
    measure = check.measure_mode(measure)
    if stop_when_converged and loss_threshold is None:
        raise ValueError("stop_when_converged=True needs a loss_threshold to stop at; pass one")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer (it fixes the minibatch order); got {seed!r}")
    device, dtype = check.model_placement(model)
    names = resolve_layers(model, layers)
    dims = batch_dims(batch_dim, names)
    x = check.tensor("x", x, dtype=dtype, device=device)
    y = check.tensor("y", y, dtype=dtype, device=device)
    check.targets(x, y)
    n_points = x.shape[0]
    batch_size = check.positive_int("batch_size", batch_size)
    if batch_size > n_points:
        raise ValueError(
            f"batch_size ({batch_size}) exceeds the number of points ({n_points}); pass at most "
            f"batch_size={n_points} (full batch)"
        )
    i, j = _pair_indices(pair, n_points)
    xp, yp = x[[i, j]], y[[i, j]]
    dx2, dy2 = squared_distance(xp), squared_distance(yp)
    if dx2 == 0:
        raise ValueError(
            f"x[{i}] and x[{j}] are identical (dx2 = 0): their representations can never "
            "differ; choose a pair of distinct inputs"
        )
    opt = check.optimizer(optimizer, model)
    order_seed, rng_seed = (int(s) for s in np.random.SeedSequence(int(seed)).generate_state(2))
    generator = torch.Generator().manual_seed(order_seed)

    with (
        LayerProbe(model, names, dims) as probe,
        forked_rng(rng_seed, device),
        Progress(progress, epochs, "train_tracking_pair") as report,
    ):
        rec = Recorder(
            probe, n_epochs=epochs, chunk_size=chunk_size, device=device, dy=yp[0] - yp[1]
        )
        start = time.perf_counter()
        _measure(model, rec, xp, yp, 0, mode=measure)
        rec.train_loss(0, _data_loss(model, x, y, batch_size, mode=measure))
        epoch, diverged = 0, None
        while epoch < epochs:
            if rec.full:
                diverged = rec.flush(with_train_loss=True)
                if diverged is not None:
                    break
                if stop_when_converged and rec.recorded_loss(epoch, train=True) <= loss_threshold:
                    break
            if shuffle:
                order = torch.randperm(n_points, generator=generator).to(device)
            else:
                order = torch.arange(n_points, device=device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for first in range(0, n_points, batch_size):
                batch = order[first : first + batch_size]
                target = y[batch]
                loss = project_loss(check.output(model(x[batch]), target), target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach().to(torch.float64) * len(batch)
            epoch += 1
            _measure(model, rec, xp, yp, epoch, mode=measure)
            rec.train_loss(epoch, total / n_points)
            report.update(epoch)
        if diverged is None:
            diverged = rec.flush(with_train_loss=True)
        seconds = time.perf_counter() - start
    return rec.result(
        stop_epoch=epoch if diverged is None else diverged,
        diverged_epoch=diverged,
        loss_threshold=loss_threshold,
        dx2=dx2,
        dy2=dy2,
        seconds=seconds,
        with_train_loss=True,
        pair=(i, j),
    )


def _pair_indices(pair: Any, n_points: int) -> tuple[int, int]:
    try:
        i, j = (int(k) for k in pair)
        if any(isinstance(k, bool) or float(k) != int(k) for k in pair):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"pair must be two integer row indices (i, j); got {pair!r}") from None
    for k in (i, j):
        if not 0 <= k < n_points:
            raise ValueError(
                f"pair index {k} is out of range for {n_points} points; use 0 <= i, j < {n_points}"
            )
    if i == j:
        raise ValueError(f"pair holds the same index twice ({i}); track two different points")
    return i, j


def _data_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, mode: str
) -> torch.Tensor:
    """The project loss over the whole data set, on the device, without gradients."""
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    with torch.no_grad(), measuring_mode(model, mode):
        for first in range(0, x.shape[0], batch_size):
            target = y[first : first + batch_size]
            pred = check.output(model(x[first : first + batch_size]), target)
            total += project_loss(pred, target).to(torch.float64) * target.shape[0]
    return total / x.shape[0]
