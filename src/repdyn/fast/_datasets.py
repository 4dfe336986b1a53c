"""Several seeds of one network trained on a whole data set at once, each tracking the same pair.

:func:`train_tracking_pairs_batched` is :func:`repdyn.track.train_tracking_pair`
for ``T`` networks of one architecture (different seeds) with a leading trial
dimension, through the functional engine (:class:`StackedNetworks`): each
trial draws its own minibatch order from the generator its seed gives
(:func:`repdyn.track.run_seeds`), steps its own optimiser state, and is
judged by its own training loss; a trial that diverges, or stops once
converged, leaves the batch at the end of its chunk of records, as the
per-trial loop stops there. Recorded values stay on the device and reach the
host once per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from repdyn import checks
from repdyn.fast import _inputs as check
from repdyn.fast._stacked import OPTIMIZERS, StackedNetworks, dropout_probability, stack_reason, to_device
from repdyn.nets import Network
from repdyn.track import CHECK_EVERY, MEASURE_MODES, PairTracking, pair_metrics, project_loss, run_seeds

#: Columns of a recorded row besides ``h``: the pair's y, w and loss, the training loss.
_Y, _W, _LOSS, _TRAIN = range(4)


def dataset_reason(network: object) -> str | None:
    """Why :func:`train_tracking_pairs_batched` cannot train ``network``, or None if it can."""
    reason = stack_reason(network)
    if reason is None and dropout_probability(network) > 0:
        reason = "it has dropout, whose masks depend on the minibatch; train it with repdyn.track.train_tracking_pair"
    return reason


def train_tracking_pairs_batched(
    networks: Sequence[Network],
    layers: str | Sequence[str],
    x: Any,
    y: Any,
    pair: Sequence[int],
    *,
    lr: float,
    epochs: int,
    seeds: Sequence[int],
    batch_size: int | None = None,
    optimizer: str = "sgd",
    shuffle: bool = True,
    loss_threshold: float | None = None,
    stop_when_converged: bool = False,
    check_every: int = CHECK_EVERY,
    measure: str = "eval",
    device: torch.device | str | None = None,
) -> list[PairTracking]:
    """Train networks of one architecture on one data set, all at once, each tracking the pair ``pair``.

    Trial ``k`` is the run ``train_tracking_pair(networks[k], layers, x, y,
    pair, optimizer=make_optimizer(optimizer, ..., lr=lr), epochs=epochs,
    batch_size=batch_size, seed=seeds[k], shuffle=shuffle, ...)``, computed
    with a leading trial dimension (equal to it to rounding); each network is
    trained in place.

    Parameters
    ----------
    networks : sequence of repdyn.nets.Network
        Networks of one structure and dtype, without dropout (:func:`dataset_reason`).
    layers : str or sequence of str
        Tracked hidden layers (``hidden.k``, ``hidden.k.connection``,
        ``hidden.k.activation``) or ``output``.
    x, y : array_like or Tensor, shape (N, in_dim) and (N, out_dim)
        The data set, shared by every trial.
    pair : (int, int)
        Row indices of the tracked pair.
    lr, epochs, optimizer, loss_threshold, stop_when_converged, check_every, measure
        As for :func:`repdyn.track.train_tracking_pair` (one for all trials).
    seeds : sequence of int
        One per network: seeds its minibatch order, as ``seed`` does there.
    batch_size : int, optional
        Minibatch size; None trains full batch in data order.
    shuffle : bool, default True
        Draw a new order every epoch (with minibatches); False keeps the data order.
    device : torch.device or str, optional
        Where to compute; default where the networks are.

    Returns
    -------
    list of repdyn.track.PairTracking
        One per network, with ``train_loss`` and ``pair``; ``seconds`` is the
        batch's time divided by the number of trials.

    Raises
    ------
    ValueError
        Networks of different structures or with dropout, a bad pair, or an
        argument out of range.
    """
    if isinstance(networks, torch.nn.Module) or not isinstance(networks, Sequence) or not networks:
        raise checks.ArgumentTypeError("networks", "networks must be a non-empty sequence of repdyn.nets.Network")
    for index, network in enumerate(networks):
        reason = dataset_reason(network)
        if reason is not None:
            raise checks.ArgumentValueError("networks", f"networks[{index}] cannot be trained in a batch: {reason}")
    name = checks.choice("optimizer", optimizer.strip().lower() if isinstance(optimizer, str) else optimizer,
                         OPTIMIZERS)  # fmt: skip
    checks.choice("measure", measure, MEASURE_MODES)
    lr = check.learning_rate(lr)
    epochs = check.count("epochs", epochs)
    check_every = check.count("check_every", check_every)
    stop_when_converged = checks.flag("stop_when_converged", stop_when_converged)
    shuffle = checks.flag("shuffle", shuffle)
    loss_threshold = check.threshold(loss_threshold, stop_when_converged)
    count = len(networks)
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence) or len(seeds) != count:
        raise checks.ArgumentValueError("seeds", f"seeds must be a sequence of {count} ints, one per network; got "
                                                 f"{checks.describe(seeds)}")  # fmt: skip
    seeds = [checks.seed(f"seeds[{k}]", seed) for k, seed in enumerate(seeds)]
    first = networks[0]
    dtype = next(first.parameters()).dtype
    device = next(first.parameters()).device if device is None else torch.device(device)
    x = _data("x", x, first.in_dim, dtype)
    y = _data("y", y, first.out_dim, dtype)
    n_points = x.shape[0]
    if y.shape[0] != n_points:
        raise checks.ArgumentValueError("y", f"y must hold one target per point of x ({n_points}); got {y.shape[0]}")
    i, j = (checks.integer(f"pair[{k}]", v, minimum=0, maximum=n_points - 1) for k, v in enumerate(_two(pair)))
    if i == j:
        raise checks.ArgumentValueError("pair", f"pair holds the same index twice ({i}); track two different points")
    full_batch = batch_size is None
    batch_size = n_points if full_batch else checks.integer("batch_size", batch_size, minimum=1, maximum=n_points)
    names = (layers,) if isinstance(layers, str) else tuple(layers)
    dx2 = float(((x[i].double() - x[j].double()) ** 2).sum())
    if dx2 == 0:
        raise checks.ArgumentValueError("pair", f"x[{i}] and x[{j}] are identical (dx2 = 0); choose distinct inputs")
    dy2 = float(((y[i].double() - y[j].double()) ** 2).sum())

    start = time.perf_counter()
    with torch.no_grad():
        stack = StackedNetworks(networks, names, device)
        step = OPTIMIZERS[name](stack.params, lr)
        run = _Loop(stack, step, networks, x.to(device), y.to(device), (i, j), seeds, epochs=epochs,
                    batch_size=batch_size,
                    shuffle=shuffle and not full_batch, check_every=check_every, loss_threshold=loss_threshold,
                    stop_when_converged=stop_when_converged)  # fmt: skip
        run.train()
        for position, trial in enumerate(run.active):
            stack.write_back(position, networks[trial])
    seconds = (time.perf_counter() - start) / count
    epochs_at = np.arange(epochs + 1, dtype=np.int64)
    results = []
    for trial in range(count):
        rows, stop, diverged = run.host[trial], run.stop[trial], run.diverged[trial]
        results.append(PairTracking.judged(
            convergence_loss=rows[:, len(names) + _TRAIN], stop_epoch=stop, diverged_epoch=diverged,
            loss_threshold=loss_threshold, epochs=epochs_at.copy(), layers=names,
            h=np.ascontiguousarray(rows[:, : len(names)]), y=rows[:, len(names) + _Y].copy(),
            w=rows[:, len(names) + _W].copy(), loss=rows[:, len(names) + _LOSS].copy(), m0=float(run.m0[trial]),
            dx2=dx2, dy2=dy2, seconds=seconds, train_loss=rows[:, len(names) + _TRAIN].copy(), pair=(i, j),
        ))  # fmt: skip
    return results


def _two(pair: Any) -> tuple[Any, Any]:
    try:
        i, j = pair
    except (TypeError, ValueError):
        raise checks.ArgumentValueError("pair", f"pair must be two row indices (i, j); got {checks.describe(pair)}") from None
    return i, j


def _data(name: str, value: Any, width: int, dtype: torch.dtype) -> torch.Tensor:
    tensor = torch.as_tensor(value).detach().to("cpu", dtype)
    if tensor.ndim != 2 or tensor.shape[1] != width or tensor.shape[0] < 2:
        raise checks.ArgumentValueError(name, f"{name} must have shape (N, {width}) with N >= 2; got {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise checks.ArgumentValueError(name, f"{name} holds NaN or inf; pass finite data")
    return tensor


class _Loop:
    """The epoch loop of :func:`train_tracking_pairs_batched` and the host rows of every trial."""

    def __init__(self, stack: StackedNetworks, step: Any, networks: Sequence[Network], x: torch.Tensor,
                 y: torch.Tensor, pair: tuple[int, int], seeds: list[int], *, epochs: int, batch_size: int, shuffle: bool, check_every: int,
                 loss_threshold: float | None, stop_when_converged: bool) -> None:  # fmt: skip
        self.stack, self.step, self.networks, self.x, self.y = stack, step, networks, x, y
        self.epochs, self.batch_size, self.shuffle = epochs, batch_size, shuffle
        self.loss_threshold, self.stop_when_converged = loss_threshold, stop_when_converged
        count, device = len(seeds), x.device
        self.generators = [torch.Generator().manual_seed(run_seeds(seed)[0]) for seed in seeds]
        self.width = len(stack.layers) + 4
        self.host = [np.full((epochs + 1, self.width), np.nan) for _ in range(count)]
        self.stop = [epochs] * count
        self.diverged: list[int | None] = [None] * count
        self.m0 = np.full(count, np.nan)
        self.active = list(range(count))  # trial of each batch position
        self.rows = min(check_every, epochs + 1)
        self.buffer = torch.full((self.rows, count, self.width), float("nan"), dtype=torch.float64, device=device)
        self.start = 0  # the record held in buffer row 0
        self.filled = 0
        self._m0 = torch.full((count,), float("nan"), dtype=torch.float64, device=device)
        self.points = torch.tensor(list(pair), device=device)

    def record(self, row: int, train_loss: torch.Tensor) -> None:
        """The pair's h, y, w and loss from a no-grad forward of its two points, and the training loss."""
        count = len(self.active)
        xp = self.x[self.points].expand(count, *self.x[self.points].shape)
        yp = self.y[self.points].expand(count, *self.y[self.points].shape)
        pred, distances = self.stack.predict(xp)
        metrics = pair_metrics(pred, yp)
        values = torch.stack([*distances, metrics.y, metrics.w, metrics.loss.double(), train_loss.double()], dim=1)
        self.buffer[row - self.start, :count] = values
        if row == 0:
            self._m0.copy_(metrics.m0)
        self.filled = row - self.start + 1

    def data_loss(self) -> torch.Tensor:
        """Every active trial's loss on the whole data set, in data order and minibatches (float64)."""
        count, n_points = len(self.active), self.x.shape[0]
        total = torch.zeros(count, dtype=torch.float64, device=self.x.device)
        for begin in range(0, n_points, self.batch_size):
            xb, yb = self.x[begin : begin + self.batch_size], self.y[begin : begin + self.batch_size]
            pred = self.stack.outputs(xb.expand(count, *xb.shape))
            total += torch.vmap(project_loss)(pred, yb.expand(count, *yb.shape)).double() * xb.shape[0]
        return total / n_points

    def epoch(self) -> torch.Tensor:
        """One pass over the data of every active trial; the mean minibatch losses (float64)."""
        count, n_points = len(self.active), self.x.shape[0]
        if self.shuffle:
            order = torch.stack([torch.randperm(n_points, generator=self.generators[t]) for t in self.active])
            order = to_device(order, self.x.device)
        else:
            order = torch.arange(n_points, device=self.x.device).expand(count, n_points)
        total = torch.zeros(count, dtype=torch.float64, device=self.x.device)
        for begin in range(0, n_points, self.batch_size):
            batch = order[:, begin : begin + self.batch_size]
            grads, loss = self.stack.loss_gradients(self.x[batch], self.y[batch])
            self.step.step(self.stack.params, grads)
            total += loss.double() * batch.shape[1]
        return total / n_points

    def flush(self, last: bool = False) -> None:
        """Copy the open chunk to the host, judge each trial, and let leave those that diverged or converged."""
        rows = self.buffer[: self.filled, : len(self.active)].cpu().numpy()
        if self.start == 0:
            m0 = self._m0.cpu().numpy()
            self.m0[:] = m0
        leaving = []
        for position, trial in enumerate(self.active):
            values = rows[:, position]
            finite = np.isfinite(values).all(axis=1)
            keep = len(values) if finite.all() else int(np.argmin(finite)) + 1
            self.host[trial][self.start : self.start + keep] = values[:keep]
            row = self.start + self.filled - 1
            if not finite.all():
                self.diverged[trial] = self.start + keep - 1
                self.stop[trial] = self.diverged[trial]
                leaving.append(position)
            elif last or (self.stop_when_converged and values[-1, -1] <= self.loss_threshold):
                self.stop[trial] = row
                leaving.append(position)
        self.buffer.fill_(float("nan"))
        self.start, self.filled = self.start + self.filled, 0
        if leaving and not last:
            self._leave(leaving)

    def _leave(self, leaving: list[int]) -> None:
        stay = [p for p in range(len(self.active)) if p not in leaving]
        rows = to_device(torch.tensor(stay, dtype=torch.long), self.x.device)
        for position in leaving:
            self.stack.write_back(position, self.networks[self.active[position]])
        self.stack.keep(rows)
        self.step.keep(rows)
        self.active = [self.active[p] for p in stay]

    def train(self) -> None:
        self.record(0, self.data_loss())
        epoch = 0
        while epoch < self.epochs and self.active:
            if self.filled == self.rows:
                self.flush()
                if not self.active:
                    return
            losses = self.epoch()
            epoch += 1
            self.record(epoch, losses)
        self.flush(last=True)
