"""Training on a whole data set while tracking many pairs of its points at many layers.

One record is one extra no-grad forward of the pairs' distinct points (at most
``2 K`` of them, in one batch): forward hooks measure ``h`` of every pair at
every tracked layer, and the outputs give ``y``, ``w`` and the loss of every
pair. Records stay on the device and reach the host in chunks (see
:class:`~repdyn.track._record.Recorder`), so memory and time grow with pairs x
layers x records, not with the data set.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from repdyn import checks
from repdyn.track import _checks as check
from repdyn.track._distance import InputDistance, input_distances
from repdyn.track._kernel import (
    KERNEL_PROBES,
    KernelLog,
    KernelMeter,
    check_kernel_options,
    check_optimizer,
    data_gradient,
    kernel_records,
)
from repdyn.track._layers import LayerProbe, LayerSpec, PairIndex, batch_dims, resolve_layers, row_dots
from repdyn.track._metrics import THEORY_LOSS, check_loss, loss_scale, project_loss
from repdyn.track._record import PairsRecorder, Progress, ProgressSpec, forked_rng, measuring_mode
from repdyn.track._result import KERNEL_FIELDS, PairTracking, judge
from repdyn.track._sampling import group_ids, sample_pairs
from repdyn.vocabulary import annotate

if TYPE_CHECKING:  # imported lazily at run time: slow to import
    import pandas as pd
    import xarray as xr

FloatArray = NDArray[np.float64]

@dataclass(frozen=True, eq=False)
class PairsTracking:
    """The theory's variables for many pairs of points at many layers, one row per record.

    Record ``r`` is the state after ``epochs[r]`` passes over the data;
    record 0 is the state before training. Arrays always hold every planned
    record; records after :attr:`stop_epoch` were never made (or followed a
    divergence) and hold NaN.

    Attributes
    ----------
    epochs : ndarray of int64, shape (R,)
        Epochs of the records: ``0, r, 2r, ...`` and the last epoch.
    layers : tuple of str
        Names of the tracked submodules.
    pairs : ndarray of int64, shape (K, 2)
        Data set indices ``(i, j)`` of each tracked pair.
    same : ndarray of bool, shape (K,)
        Whether the pair's points share a target (or a group, if groups were given).
    h : ndarray, shape (K, L, R)
        ``||f(x_i) - f(x_j)||^2`` per pair, layer and record.
    y, w, loss : ndarray, shape (K, R)
        ``||dyhat||^2``, ``y - dy . dyhat`` and the pair's loss.
    train_loss : ndarray, shape (R,)
        Mean minibatch loss of the epoch before each record; record 0: the
        initial model's loss on the whole data set.
    m0, dx2, dy2 : ndarray, shape (K,)
        ``||y_bar - mean prediction||^2`` at epoch 0, ``||x_i - x_j||^2`` and
        ``||y_i - y_j||^2`` per pair.
    status : str
        As :attr:`PairTracking.status`, judged on the training loss.
    stop_epoch : int
        Epoch of the last record made (the divergent one on divergence).
    diverged_epoch, converged_epoch : int or None
        Epoch of the first record holding NaN/inf; of the first record whose
        training loss is at or below the threshold.
    final_loss : float
        Training loss at :attr:`stop_epoch`.
    loss_threshold : float or None
        The threshold the status was judged against.
    seconds : float
        Wall-clock time of the training loop, recording included.
    record_every : int
        Epochs between records.
    kernel_every : int or None
        Records between kernel records (None: no kernel rates measured);
        kernel records are records ``0, k, 2k, ...`` and the last.
    kernel_eta_h, kernel_eta_y, kernel_cos, kernel_isotropy : ndarray, shape (K, L, R), or None
        The kernel rates and diagnostics of every pair at every layer (see
        :class:`PairTracking`), NaN at records without a kernel record.
    """

    epochs: NDArray[np.int64]
    layers: tuple[str, ...]
    pairs: NDArray[np.int64]
    same: NDArray[np.bool_]
    h: FloatArray
    y: FloatArray
    w: FloatArray
    loss: FloatArray
    train_loss: FloatArray
    m0: FloatArray
    dx2: FloatArray
    dy2: FloatArray
    status: str
    stop_epoch: int
    diverged_epoch: int | None
    converged_epoch: int | None
    final_loss: float
    loss_threshold: float | None
    seconds: float
    record_every: int = 1
    kernel_every: int | None = None
    kernel_eta_h: FloatArray | None = None
    kernel_eta_y: FloatArray | None = None
    kernel_cos: FloatArray | None = None
    kernel_isotropy: FloatArray | None = None

    def __post_init__(self) -> None:
        k, r = len(self.pairs), len(self.epochs)
        expected = {"h": (k, len(self.layers), r), "y": (k, r), "w": (k, r), "loss": (k, r),
                    "train_loss": (r,), "m0": (k,), "dx2": (k,), "dy2": (k,), "same": (k,),
                    "pairs": (k, 2)}  # fmt: skip
        expected.update({name: (k, len(self.layers), r) for name in KERNEL_FIELDS})
        for name, shape in expected.items():
            if getattr(self, name) is None and name in KERNEL_FIELDS:
                continue
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}; got {getattr(self, name).shape}")

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def stop_record(self) -> int:
        """Index of the last record made."""
        return int(np.searchsorted(self.epochs, self.stop_epoch))

    @property
    def last_finite_record(self) -> int:
        """Index of the last record of the finite prefix (one before a divergent record)."""
        return self.stop_record - (self.diverged_epoch is not None)

    @property
    def nbytes(self) -> int:
        """Bytes held by the result's arrays."""
        return sum(
            getattr(self, name).nbytes
            for name in ("epochs", "pairs", "same", "h", "y", "w", "loss", "train_loss", "m0", "dx2", "dy2")
        ) + sum(values.nbytes for values in self._kernel_arrays().values())

    def _kernel_arrays(self) -> dict[str, FloatArray]:
        """The kernel fields that were measured."""
        return {name: getattr(self, name) for name in KERNEL_FIELDS if getattr(self, name) is not None}

    @staticmethod
    def estimate_bytes(n_pairs: int, n_layers: int, n_records: int) -> int:
        """Bytes of a result's arrays for these sizes (what :attr:`nbytes` will be).

        The host keeps the same amount again while recording (the rows copied
        from the device, transposed into the result at the end); the device
        holds one chunk of records.
        """
        per_record = 8 * (n_pairs * n_layers + 3 * n_pairs + 1) + 8  # h, y, w, loss, train_loss; epochs
        per_pair = 8 * 2 + 1 + 8 * 3  # pairs, same, m0, dx2, dy2
        return n_records * per_record + n_pairs * per_pair

    def pair(self, k: int) -> PairTracking:
        """Pair ``k`` as a :class:`PairTracking` (needs a record every epoch)."""
        if self.record_every != 1 or not np.array_equal(self.epochs, np.arange(len(self.epochs))):
            raise ValueError(
                "PairTracking holds one row per epoch, and this run recorded every "
                f"{self.record_every} epochs; use the arrays of this result instead"
            )
        return PairTracking(
            epochs=self.epochs.copy(),
            layers=self.layers,
            h=np.ascontiguousarray(self.h[k].T),
            y=self.y[k].copy(),
            w=self.w[k].copy(),
            loss=self.loss[k].copy(),
            m0=float(self.m0[k]),
            dx2=float(self.dx2[k]),
            dy2=float(self.dy2[k]),
            status=self.status,
            stop_epoch=self.stop_epoch,
            diverged_epoch=self.diverged_epoch,
            converged_epoch=self.converged_epoch,
            final_loss=self.final_loss,
            loss_threshold=self.loss_threshold,
            seconds=self.seconds,
            train_loss=self.train_loss.copy(),
            pair=(int(self.pairs[k, 0]), int(self.pairs[k, 1])),
            kernel_every=self.kernel_every,
            **{name: np.ascontiguousarray(values[k].T) for name, values in self._kernel_arrays().items()},
        )

    def z(self, layer: str) -> FloatArray:
        """``(h, y, w)`` of every pair at ``layer``, shape ``(K, R, 3)``."""
        if layer not in self.layers:
            raise ValueError(f"layer {layer!r} was not tracked; tracked layers: {self.layers}")
        return np.stack([self.h[:, self.layers.index(layer)], self.y, self.w], axis=-1)

    def to_frame(self) -> pd.DataFrame:
        """A long-form pandas DataFrame: one row per (pair, epoch, layer), as :meth:`PairTracking.to_frame`.

        Columns ``pair, epoch, layer, h, y, w, loss, train_loss``; ``y``, ``w``
        and the losses repeat across the layers of a record, ``train_loss``
        across the pairs. ``repdyn theory fit`` reads it back (``--pair``,
        ``--layer``).
        """
        import pandas as pd

        k, n_layers, n_records = self.h.shape
        per_record = n_records * n_layers
        return pd.DataFrame({
            "pair": np.repeat(np.arange(k), per_record),
            "epoch": np.tile(np.repeat(self.epochs, n_layers), k),
            "layer": np.tile(np.array(self.layers, dtype=object), k * n_records),
            "h": self.h.transpose(0, 2, 1).reshape(-1),
            "y": np.repeat(self.y, n_layers, axis=1).reshape(-1),
            "w": np.repeat(self.w, n_layers, axis=1).reshape(-1),
            "loss": np.repeat(self.loss, n_layers, axis=1).reshape(-1),
            "train_loss": np.tile(np.repeat(self.train_loss, n_layers), k),
        })

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset over ``(pair, layer, epoch)``; every variable and coordinate has a ``long_name``.

        ``long_name`` and ``units`` come from :data:`repdyn.vocabulary.VOCABULARY`
        (epochs are passes over the data; text has no units).
        The scalars (status, epochs of stop/divergence/convergence, ...) are
        global attributes; ones that are None are left out so the Dataset
        stays writable to netCDF.
        """
        import xarray as xr

        data_vars: dict[str, Any] = {
            "h": (("pair", "layer", "epoch"), self.h),
            "y": (("pair", "epoch"), self.y),
            "w": (("pair", "epoch"), self.w),
            "loss": (("pair", "epoch"), self.loss),
            "train_loss": ("epoch", self.train_loss),
            "m0": ("pair", self.m0),
            "dx2": ("pair", self.dx2),
            "dy2": ("pair", self.dy2),
            "same": ("pair", self.same.astype(np.int8)),
        }
        for name, values in self._kernel_arrays().items():
            data_vars[name] = (("pair", "layer", "epoch"), values)
        coords = {
            "pair": np.arange(self.n_pairs),
            "layer": list(self.layers),
            "epoch": self.epochs,
            "pair_i": ("pair", self.pairs[:, 0]),
            "pair_j": ("pair", self.pairs[:, 1]),
        }
        scalars = ("status", "stop_epoch", "diverged_epoch", "converged_epoch", "final_loss",
                   "loss_threshold", "seconds", "record_every", "kernel_every")  # fmt: skip
        attrs = {k: getattr(self, k) for k in scalars if getattr(self, k) is not None}
        return annotate(xr.Dataset(data_vars, coords=coords, attrs=attrs), epoch_unit="epochs")


def record_epochs(epochs: int, record_every: int) -> NDArray[np.int64]:
    """Epochs recorded by a run: ``0, r, 2r, ...`` and always the last, ``epochs``."""
    recorded = np.arange(0, epochs + 1, record_every, dtype=np.int64)
    return recorded if recorded[-1] == epochs else np.append(recorded, np.int64(epochs))


def track_pairs(
    model: nn.Module,
    layers: LayerSpec,
    x: Any,
    y: Any,
    pairs: int | Any,
    *,
    optimizer: check.OptimizerSpec,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
    shuffle: bool = True,
    record_every: int = 1,
    groups: Any = None,
    pair_seed: int | None = None,
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
) -> PairsTracking:
    """Train on ``(x, y)`` while recording many pairs of its points at every tracked layer.

    Each epoch is one pass over the data in minibatches of ``batch_size``
    (the last one may be smaller), one optimiser step per minibatch, with the
    loss convention ``loss``. Before the first epoch, and after every ``record_every``-th
    (and the last), one no-grad forward of the pairs' distinct points records
    ``h`` of every pair at every layer, ``y``, ``w`` and every pair's loss.

    Parameters
    ----------
    model, layers, optimizer, batch_dim
        As for :func:`track_pair`.
    check_every : int, default 256
        Records kept on the device between copies to the host; the NaN/inf
        check runs on each copy, so a divergent run stops at most this many
        records after its first bad value.
    x : array_like or Tensor, shape (N, ...)
        All training inputs (moved to the model's device once): floats, or
        integer token ids (kept as int64; give ``input_distance`` then).
    y : array_like or Tensor, shape (N, ...)
        Their targets, shaped like the model's output.
    pairs : int or array_like of int, shape (K, 2)
        A number of pairs to draw (see :func:`sample_pairs`: stratified into
        same-target and different-target pairs, half each, with ``pair_seed``;
        capped at the number of distinct pairs), or the pairs' row indices.
        Pairs of identical inputs are recorded (their ``h`` cannot move) and
        cannot be fitted.
    epochs : int
        Passes over the data (>= 1).
    batch_size : int, optional
        Minibatch size, 1 <= batch_size <= N; None trains full batch in data order.
    seed : int, default 0
        Seeds the minibatch order (a private :class:`torch.Generator`) and,
        through a forked copy of torch's global generators, random layers such
        as dropout; the caller's global random state is left untouched.
    shuffle : bool, default True
        Draw a new minibatch order every epoch; False keeps the data order.
    record_every : int, default 1
        Epochs between records (the last epoch is always recorded). A
        divergence is noticed at the end of a chunk of records.
    groups : array_like, shape (N,) or (N, ...), optional
        What "same" means when pairs are drawn: default the targets ``y``
        (rows compared whole); class labels, say, for another split.
    pair_seed : int, optional
        Seed of the draw of pairs; default ``seed``.
    loss_threshold, stop_when_converged
        As for :func:`track_pair`, judged on the training loss of a record.
    measure : {"eval", "train"}, default "eval"
        Mode of the recording forward (eval: dropout off, batch-norm running
        statistics, none of them updated).
    progress
        As for :func:`track_pair` (reported after every epoch).
    kernel_every : int, optional
        Also measure every pair's kernel rates and diagnostics (as
        :func:`track_pair` does, without the step rates) at records
        ``0, k, 2k, ...`` and the last. Each pair is measured from its own
        forward of its two points (in the ``measure`` mode), so a kernel
        record costs about ``K`` two-point forward and backward passes; with
        Adam, one more pass over the data gives the gradient of the
        preconditioner (:class:`repdyn.track.Preconditioner`: the whole
        training set's gradient stands for the next minibatch's). The
        training is unchanged.
    kernel_probes : int, default 4
        As for :func:`track_pair`.
    input_distance : callable or array_like, optional
        Each pair's squared input distance ``dx2``: None, the squared
        Euclidean distance of the inputs (flattened); a function
        ``f(first, second)`` of the pairs' inputs (each of shape ``(K, ...)``)
        returning ``K`` squared distances (e.g. :func:`one_hot_distance`); or
        an ``(N, N)`` matrix of squared distances between the data set's
        points. Integer inputs need one. Computed once, before training.
    loss : {"half_sum", "half_mse", "mse"}, default "half_sum"
        As for :func:`track_pair`: the steps minimise
        :func:`repdyn.track.loss_scale` times the project loss of a
        minibatch; the recorded losses (``loss``, ``train_loss``) and the
        threshold stay the project loss.

    Returns
    -------
    PairsTracking
        On divergence the first record with a NaN/inf value is kept as
        computed, later records are NaN, and ``status`` is ``"diverged"``.
    """
    plan = _plan(model, layers, x, y, pairs, epochs=epochs, batch_size=batch_size, seed=seed,
                 record_every=record_every, groups=groups, pair_seed=pair_seed,
                 loss_threshold=loss_threshold, stop_when_converged=stop_when_converged,
                 check_every=check_every, measure=measure, batch_dim=batch_dim,
                 input_distance=input_distance, kernel_every=kernel_every, kernel_probes=kernel_probes,
                 loss=loss)  # fmt: skip
    return _train(plan, optimizer, shuffle=shuffle, progress=progress, description="track_pairs")


@dataclass(frozen=True, eq=False)
class _Plan:
    """A validated run of :func:`track_pairs`: tensors on the device, pairs, settings."""

    model: nn.Module
    names: tuple[str, ...]
    dims: tuple[int, ...]
    x: torch.Tensor
    y: torch.Tensor
    index: PairIndex
    pairs: NDArray[np.int64]
    same: NDArray[np.bool_]
    dx2: FloatArray
    dy2: FloatArray
    epochs: int
    batch_size: int
    full_batch: bool
    seed: int
    record_every: int
    record_epochs: NDArray[np.int64]
    loss_threshold: float | None
    stop_when_converged: bool
    check_every: int
    measure: str
    kernel_every: int | None = None
    kernel_probes: int = KERNEL_PROBES
    loss_scale: float = 1.0


def _plan(
    model: nn.Module,
    layers: LayerSpec,
    x: Any,
    y: Any,
    pairs: Any,
    *,
    epochs: int,
    batch_size: int | None,
    seed: int,
    record_every: int,
    groups: Any,
    pair_seed: int | None,
    loss_threshold: float | None,
    stop_when_converged: bool,
    check_every: int,
    measure: str,
    batch_dim: int | Mapping[str, int],
    kernel_every: int | None = None,
    kernel_probes: int = KERNEL_PROBES,
    input_distance: InputDistance = None,
    loss: str = THEORY_LOSS,
) -> _Plan:
    """Check every argument and resolve the pairs, before anything trains."""
    loss = check_loss(loss)
    kernel_every, kernel_probes = check_kernel_options(kernel_every, kernel_probes)
    epochs = check.positive_int("epochs", epochs)
    record_every = check.positive_int("record_every", record_every)
    check_every = check.positive_int("check_every", check_every)
    loss_threshold = check.threshold(loss_threshold)
    measure = check.measure_mode(measure)
    if stop_when_converged and loss_threshold is None:
        raise ValueError("stop_when_converged=True needs a loss_threshold to stop at; pass one")
    checks.seed("seed", seed)
    if pair_seed is not None:
        checks.seed("pair_seed", pair_seed)
    device, dtype = check.model_placement(model)
    names = resolve_layers(model, layers)
    dims = batch_dims(batch_dim, names)
    x = check.inputs("x", x, dtype=dtype, device=device)
    y = check.tensor("y", y, dtype=dtype, device=device)
    check.targets(x, y)
    n_points = x.shape[0]
    full_batch = batch_size is None
    if full_batch:
        batch_size = n_points
    batch_size = check.positive_int("batch_size", batch_size)
    if batch_size > n_points:
        raise ValueError(
            f"batch_size ({batch_size}) exceeds the number of points ({n_points}); pass at most "
            f"batch_size={n_points} (full batch)"
        )
    pair_array, same = _resolve_pairs(pairs, y if groups is None else groups, n_points,
                                      seed if pair_seed is None else pair_seed)
    index = PairIndex(pair_array)
    first, second = index.on(device)
    xp, yp = x[torch.as_tensor(index.points, device=device)], y[torch.as_tensor(index.points, device=device)]
    return _Plan(
        model=model, names=names, dims=dims, x=x, y=y, index=index, pairs=pair_array, same=same,
        dx2=input_distances(input_distance, xp, first, second, pair_array),
        dy2=_squared_distances(yp, first, second),
        epochs=epochs, batch_size=batch_size, full_batch=full_batch, seed=int(seed),
        record_every=record_every, record_epochs=record_epochs(epochs, record_every),
        loss_threshold=loss_threshold,
        stop_when_converged=stop_when_converged, check_every=check_every, measure=measure,
        kernel_every=kernel_every, kernel_probes=kernel_probes, loss_scale=loss_scale(loss, y[0].numel()),
    )  # fmt: skip


def _squared_distances(points: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> FloatArray:
    """``||p[first[k]] - p[second[k]]||^2`` in float64 for every pair, on the host."""
    flat = points.reshape(len(points), -1)
    diff = flat[first].to(torch.float64) - flat[second].to(torch.float64)
    return row_dots(diff, diff).cpu().numpy()


def _resolve_pairs(
    pairs: Any, groups: Any, n_points: int, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Explicit pairs checked, or ``pairs`` pairs drawn; with whether each shares a group."""
    ids = group_ids(groups)
    if len(ids) != n_points:
        raise ValueError(f"groups must hold one entry per point ({n_points}); got {len(ids)}")
    if isinstance(pairs, int | np.integer) and not isinstance(pairs, bool):
        drawn = sample_pairs(ids, int(pairs), seed=seed)
        return drawn.pairs, drawn.same
    try:
        arr = np.asarray(pairs)
        valid = arr.ndim == 2 and arr.shape[1] == 2 and len(arr) > 0 and arr.dtype.kind in "iu"
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise checks.ArgumentValueError(
            "pairs", "pairs must be a number of pairs to draw or an array of row indices of shape (K, 2); "
            f"got {checks.describe(pairs)}")
    arr = arr.astype(np.int64)
    out_of_range = (arr < 0) | (arr >= n_points)
    if out_of_range.any():
        k = int(np.argmax(out_of_range.any(axis=1)))
        raise ValueError(
            f"pair {k} {tuple(int(v) for v in arr[k])} is out of range for {n_points} points; "
            f"use indices 0 <= i, j < {n_points}"
        )
    if (arr[:, 0] == arr[:, 1]).any():
        k = int(np.argmax(arr[:, 0] == arr[:, 1]))
        raise ValueError(f"pair {k} holds the same index twice ({arr[k, 0]}); track two different points")
    return arr, ids[arr[:, 0]] == ids[arr[:, 1]]


def _train(
    plan: _Plan, optimizer: check.OptimizerSpec, *, shuffle: bool, progress: ProgressSpec,
    description: str,
) -> PairsTracking:
    """The training loop of :func:`track_pairs` on a checked plan."""
    model, x, y, n_points, batch_size = plan.model, plan.x, plan.y, plan.x.shape[0], plan.batch_size
    device = x.device
    opt = check.optimizer(optimizer, model)
    order_seed, rng_seed = run_seeds(plan.seed)
    generator = torch.Generator().manual_seed(order_seed)
    points = torch.as_tensor(plan.index.points, device=device)
    xp, yp = x[points], y[points]
    first, second = plan.index.on(device)
    n_rows = len(plan.record_epochs)

    def record(row: int) -> None:
        with torch.no_grad(), measuring_mode(model, plan.measure):
            pred = check.output(rec.forward(model, xp, row), yp)
            rec.outputs(row, pred, yp)
        if meter is not None and (row % plan.kernel_every == 0 or row == n_rows - 1):  # type: ignore[operator]
            kernel_record(row)

    meter: KernelMeter | None = None
    if plan.kernel_every is not None:
        check_optimizer(opt)
        meter = KernelMeter(model, plan.names, plan.dims, opt, probes=plan.kernel_probes,
                            seed=plan.seed, device=device, loss_scale=plan.loss_scale)  # fmt: skip
        kernel_log = KernelLog(kernel_records(n_rows, plan.kernel_every),
                               (len(plan.pairs), len(plan.names), len(KERNEL_FIELDS)), device)  # fmt: skip
        both = torch.stack([first, second], dim=1)  # (K, 2): a pair's two points in xp

    def kernel_record(row: int) -> None:
        assert meter is not None
        grads = (data_gradient(model, x, y, batch_size, mode=plan.measure, loss_scale=plan.loss_scale)
                 if meter.preconditioner.adaptive else None)  # fmt: skip
        precondition = meter.preconditioner.of(meter.params, grads)
        values = [
            meter.measure(xp[pair], yp[pair], mode=plan.measure, precondition=precondition)[:, : len(KERNEL_FIELDS)]
            for pair in both
        ]
        kernel_log.add(row, torch.stack(values))

    with (
        LayerProbe(model, plan.names, plan.dims, plan.index) as probe,
        meter if meter is not None else contextlib.nullcontext(),
        forked_rng(rng_seed, device),
        Progress(progress, plan.epochs, description) as report,
    ):
        rec = PairsRecorder(probe, n_rows=n_rows, chunk_size=plan.check_every, device=device)
        start = time.perf_counter()
        record(0)
        rec.train_loss(0, _data_loss(model, x, y, batch_size, mode=plan.measure))
        epoch, row, diverged = 0, 0, None
        while epoch < plan.epochs:
            if rec.full:
                diverged = rec.flush(with_train_loss=True)
                if diverged is not None:
                    break
                if plan.stop_when_converged and rec.recorded_loss(row, train=True) <= plan.loss_threshold:
                    break
            if shuffle and not plan.full_batch:
                order = torch.randperm(n_points, generator=generator).to(device)
            else:
                order = torch.arange(n_points, device=device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for begin in range(0, n_points, batch_size):
                batch = order[begin : begin + batch_size]
                target = y[batch]
                loss = project_loss(check.output(model(x[batch]), target), target)
                opt.zero_grad(set_to_none=True)
                (plan.loss_scale * loss).backward()
                opt.step()
                total += loss.detach().to(torch.float64) * len(batch)
            epoch += 1
            if epoch == plan.record_epochs[row + 1]:
                row += 1
                record(row)
                rec.train_loss(row, total / n_points)
            report.update(epoch)
        if diverged is None:
            diverged = rec.flush(with_train_loss=True)
        if meter is not None and diverged is None and row not in kernel_log.rows:
            kernel_record(row)  # stopped early, once converged: the last record has its kernel too
        seconds = time.perf_counter() - start
    stop = row if diverged is None else diverged
    train_loss = rec.host("train_loss").copy()
    status, converged, final_loss = judge(train_loss, stop, diverged, plan.loss_threshold)
    epochs_at = plan.record_epochs
    return PairsTracking(
        epochs=epochs_at.copy(),
        layers=plan.names,
        pairs=plan.pairs,
        same=plan.same,
        h=np.ascontiguousarray(rec.host("h").transpose(2, 1, 0)),
        y=np.ascontiguousarray(rec.host("y").T),
        w=np.ascontiguousarray(rec.host("w").T),
        loss=np.ascontiguousarray(rec.host("loss").T),
        train_loss=train_loss,
        m0=rec.m0.copy(),
        dx2=plan.dx2,
        dy2=plan.dy2,
        status=status,
        stop_epoch=int(epochs_at[stop]),
        diverged_epoch=None if diverged is None else int(epochs_at[diverged]),
        converged_epoch=None if converged is None else int(epochs_at[converged]),
        final_loss=final_loss,
        loss_threshold=plan.loss_threshold,
        seconds=seconds,
        record_every=plan.record_every,
        **({} if meter is None else _kernel_fields(kernel_log, n_rows, stop, plan.kernel_every)),
    )


def run_seeds(seed: int) -> tuple[int, int]:
    """The seeds a minibatch run derives from its ``seed``: of the minibatch order, and of random layers.

    :func:`track_pairs` (and :func:`train_tracking_pair`) draw each epoch's
    order from a :class:`torch.Generator` seeded with the first, and run in a
    forked copy of torch's global generators seeded with the second.
    """
    order_seed, rng_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    return order_seed, rng_seed


def _kernel_fields(log: KernelLog, n_rows: int, stop: int, every: int | None) -> dict[str, Any]:
    """The result's kernel arrays, ``(K, L, R)`` each, NaN after the last record made."""
    values = log.host(n_rows, stop=stop)  # (R, K, L, fields)
    fields: dict[str, Any] = {
        name: np.ascontiguousarray(values[..., k].transpose(1, 2, 0)) for k, name in enumerate(KERNEL_FIELDS)
    }
    return {"kernel_every": every, **fields}


def _data_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, mode: str
) -> torch.Tensor:
    """The project loss over the whole data set, on the device, without gradients."""
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    with torch.no_grad(), measuring_mode(model, mode):
        for begin in range(0, x.shape[0], batch_size):
            target = y[begin : begin + batch_size]
            pred = check.output(model(x[begin : begin + batch_size]), target)
            total += project_loss(pred, target).to(torch.float64) * target.shape[0]
    return total / x.shape[0]

