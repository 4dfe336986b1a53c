"""Device-side recording shared by the tracking loops.

Per-epoch values are written into small preallocated device tensors, and
copied to the host once per chunk of epochs. That copy is the loop's only
host synchronisation, and the divergence check runs on the copied chunk, so a
run that blows up wastes at most one chunk of steps.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.track._layers import LayerProbe
from repdyn.track._log import PairLog, first_nonfinite
from repdyn.track._metrics import pair_metrics
from repdyn.track._result import PairTracking


def squared_distance(a: torch.Tensor) -> float:
    """``||a[0] - a[1]||^2`` in float64, as a Python float."""
    diff = a[0].to(torch.float64) - a[1].to(torch.float64)
    return float(torch.dot(diff.reshape(-1), diff.reshape(-1)))


@contextlib.contextmanager
def forked_rng(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators for the block only, restoring them afterwards.

    Dropout and other random layers draw from the global generator; seeding a
    forked copy makes a run reproducible without changing the caller's state.
    """
    if seed is None:
        yield
        return
    devices = [] if device.type == "cpu" else [device]
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(seed)
        yield


#: Modules whose forward differs between train and eval mode: dropout drops
#: only in train mode, batch and instance norm use batch statistics (and update
#: running ones) only in train mode. LayerNorm and GroupNorm do not depend on it.
_MODE_DEPENDENT_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.dropout._DropoutNd,
    nn.modules.batchnorm._NormBase,
)


def forward_depends_on_mode(model: nn.Module) -> bool:
    """True if ``model``'s forward can differ between train and eval mode.

    That is the case when any submodule is a dropout or batch/instance-norm
    module, a :class:`torch.nn.MultiheadAttention` with attention dropout, or
    declares it with a truthy attribute ``forward_depends_on_mode`` (for
    modules that branch on ``self.training`` themselves). Only such models need
    a separate eval-mode forward to be measured in eval mode; for every other
    model the training forward measures the same values.
    """
    for module in model.modules():
        if isinstance(module, _MODE_DEPENDENT_TYPES) or getattr(module, "forward_depends_on_mode", False):
            return True
        if isinstance(module, nn.MultiheadAttention) and module.dropout > 0:
            return True
    return False


@contextlib.contextmanager
def measuring_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """``"eval"``: every submodule in eval mode for the block, each restored after."""
    if mode != "eval":
        yield
        return
    saved = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in saved:
            module.training = training


class Recorder:
    """Chunked device buffers for ``h`` (per layer), ``y``, ``w`` and the losses, copied into a :class:`PairLog`.

    Parameters
    ----------
    probe : LayerProbe
        Writes each forward's ``h`` values into the open row.
    n_epochs : int
        Steps of the run.
    chunk_size : int
        Rows held on the device between copies to the host (the trainer's
        ``check_every``; at most ``n_epochs + 1`` are allocated).
    device : torch.device
    """

    def __init__(
        self,
        probe: LayerProbe,
        *,
        n_epochs: int,
        chunk_size: int,
        device: torch.device,
    ) -> None:
        self.probe = probe
        self.log = PairLog(n_epochs, probe.names)
        n_layers, size = len(probe.names), min(chunk_size, n_epochs + 1)
        # Columns y, w, loss, train_loss, as in the log after the h columns.
        self._h_buf = torch.full((size, n_layers), float("nan"), dtype=torch.float64, device=device)
        self._out_buf = torch.full((size, 4), float("nan"), dtype=torch.float64, device=device)
        self._m0_buf = torch.full((), float("nan"), dtype=torch.float64, device=device)
        self._start = 0  # epoch held in buffer row 0
        self._count = 0  # rows filled since the last copy

    @property
    def full(self) -> bool:
        return self._count == self._h_buf.shape[0]

    def _row(self, epoch: int) -> int:
        row = epoch - self._start
        if not 0 <= row < self._h_buf.shape[0]:  # a loop bug, not a user error
            raise RuntimeError(f"epoch {epoch} does not fit the open chunk at {self._start}")
        self._count = max(self._count, row + 1)
        return row

    def forward(self, model: nn.Module, x: torch.Tensor, epoch: int) -> torch.Tensor:
        """Run ``model(x)`` with the probe writing this epoch's ``h`` values."""
        return self.probe.forward(model, x, self._h_buf[self._row(epoch)].unsqueeze(-1))  # one pair: (layers, 1)

    def outputs(self, epoch: int, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Record ``y``, ``w`` and the pair loss (and ``m0`` at epoch 0) from one forward."""
        row = self._row(epoch)
        with torch.no_grad():
            metrics = pair_metrics(pred.detach().reshape(2, -1), target.reshape(2, -1))
            self._out_buf[row, 0] = metrics.y
            self._out_buf[row, 1] = metrics.w
            self._out_buf[row, 2] = metrics.loss
            if epoch == 0:
                self._m0_buf.copy_(metrics.m0)

    def train_loss(self, epoch: int, value: torch.Tensor) -> None:
        self._out_buf[self._row(epoch), 3] = value.detach()

    def recorded_loss(self, epoch: int, *, train: bool = False) -> float:
        """A loss already copied to the host (pair loss, or training loss)."""
        return self.log.loss(epoch, train=train)

    def transfer(self) -> None:
        """Copy the open chunk into the log (the loop's only host synchronisation)."""
        n, start = self._count, self._start
        log = self.log
        log.values[start : start + n, : log.Y] = self._h_buf[:n].cpu().numpy()
        log.values[start : start + n, log.Y :] = self._out_buf[:n].cpu().numpy()
        if start == 0:
            log.m0 = float(self._m0_buf)
        self._h_buf.fill_(float("nan"))
        self._out_buf.fill_(float("nan"))
        self._start, self._count = start + n, 0

    def flush(self, *, with_train_loss: bool = False) -> int | None:
        """Copy the open chunk to the host and check it (:meth:`PairLog.check`)."""
        self.transfer()
        return self.log.check(self._start, with_train_loss=with_train_loss)

    def result(self, **kwargs: object) -> PairTracking:
        """The run's result (:meth:`PairLog.result`)."""
        return self.log.result(**kwargs)


class DeviceChunks:
    """Per-row values of named shapes in one device buffer, copied to host arrays a chunk at a time.

    The buffer holds ``chunk_size`` rows; :meth:`flush` copies the rows filled
    since the last flush in one transfer (the loop's only host synchronisation),
    finds the first row with a NaN/inf in the checked fields, and keeps the
    rows up to and including it: once a value is not finite every later step is
    meaningless, so nothing after it is kept.
    """

    def __init__(
        self,
        fields: Mapping[str, tuple[int, ...]],
        *,
        n_rows: int,
        chunk_size: int,
        device: torch.device,
    ) -> None:
        self._slices: dict[str, tuple[slice, tuple[int, ...]]] = {}
        width = 0
        for name, shape in fields.items():
            size = math.prod(shape)
            self._slices[name] = (slice(width, width + size), shape)
            width += size
        self._host = np.full((n_rows, width), np.nan)
        self._buf = torch.full(
            (min(chunk_size, n_rows), width), float("nan"), dtype=torch.float64, device=device
        )
        self._start = 0  # row held in buffer row 0
        self._count = 0  # buffer rows filled since the last flush

    @property
    def full(self) -> bool:
        return self._count == self._buf.shape[0]

    def host(self, name: str) -> np.ndarray:
        """Field ``name`` of every row copied so far, shape ``(n_rows, *shape)`` (NaN elsewhere)."""
        columns, shape = self._slices[name]
        return self._host[:, columns].reshape(-1, *shape)

    def device(self, name: str, row: int) -> torch.Tensor:
        """A writable device view of field ``name`` in row ``row`` of the open chunk."""
        at = row - self._start
        if not 0 <= at < self._buf.shape[0]:  # a loop bug, not a user error
            raise RuntimeError(f"row {row} does not fit the open chunk at {self._start}")
        self._count = max(self._count, at + 1)
        columns, shape = self._slices[name]
        return self._buf[at, columns].view(shape)

    def flush(self, checked: Iterable[str]) -> int | None:
        """Copy the open chunk to the host; return the first row holding NaN/inf in ``checked``."""
        n, start = self._count, self._start
        rows = self._buf[:n].cpu().numpy()
        columns = np.zeros(rows.shape[1], dtype=bool)
        for name in checked:
            columns[self._slices[name][0]] = True
        bad = first_nonfinite(rows[:, columns])
        keep = n if bad is None else bad + 1
        self._host[start : start + keep] = rows[:keep]
        self._buf.fill_(float("nan"))
        self._start, self._count = start + n, 0
        return None if bad is None else start + bad


#: Fields the divergence check reads: every measured value (the training loss
#: only where a trainer records one).
_MEASURED = ("h", "y", "w", "loss")


class PairsRecorder:
    """Device buffers for ``h`` (per layer and pair), ``y``, ``w``, the pair losses and the training loss of K pairs.

    The many-pair counterpart of :class:`Recorder` (used by
    :func:`repdyn.track.track_pairs`): one row per recorded state, not per
    epoch; the probe's :class:`PairIndex` says which points of the measured
    batch form each pair. ``y``, ``w``, the losses and ``m0`` come from
    :func:`pair_metrics`, as in every trainer.
    """

    def __init__(
        self,
        probe: LayerProbe,
        *,
        n_rows: int,
        chunk_size: int,
        device: torch.device,
    ) -> None:
        n_pairs, n_layers = len(probe.pairs), len(probe.names)
        self.probe = probe
        self._chunks = DeviceChunks(
            {"h": (n_layers, n_pairs), "y": (n_pairs,), "w": (n_pairs,), "loss": (n_pairs,),
             "train_loss": ()},
            n_rows=n_rows, chunk_size=chunk_size, device=device,
        )  # fmt: skip
        self.m0 = np.full(n_pairs, np.nan)
        self._m0_buf = torch.full((n_pairs,), float("nan"), dtype=torch.float64, device=device)
        self._first, self._second = probe.pairs.on(device)
        self._m0_copied = False

    @property
    def full(self) -> bool:
        return self._chunks.full

    def host(self, name: str) -> np.ndarray:
        """``h`` (rows, layers, pairs), ``y``/``w``/``loss`` (rows, pairs) or ``train_loss`` (rows,)."""
        return self._chunks.host(name)

    def forward(self, model: nn.Module, x: torch.Tensor, row: int) -> torch.Tensor:
        """Run ``model(x)`` with the probe writing this row's ``h`` values."""
        return self.probe.forward(model, x, self._chunks.device("h", row))

    def outputs(self, row: int, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Record every pair's ``y``, ``w`` and loss (and ``m0`` in row 0) from one forward of the pairs' points."""
        n_points = len(self.probe.pairs.points)
        with torch.no_grad():
            pred, target = pred.detach().reshape(n_points, -1), target.reshape(n_points, -1)
            both = torch.stack([self._first, self._second], dim=1)  # (K, 2): a pair's two points
            metrics = pair_metrics(pred[both], target[both])
            self._chunks.device("y", row).copy_(metrics.y)
            self._chunks.device("w", row).copy_(metrics.w)
            self._chunks.device("loss", row).copy_(metrics.loss)
            if row == 0:
                self._m0_buf.copy_(metrics.m0)

    def train_loss(self, row: int, value: torch.Tensor) -> None:
        self._chunks.device("train_loss", row).copy_(value.detach())

    def recorded_loss(self, row: int, *, train: bool = False) -> float:
        """A loss already copied to the host (the first pair's loss, or the training loss)."""
        return float(self.host("train_loss")[row] if train else self.host("loss")[row, 0])

    def flush(self, *, with_train_loss: bool = False) -> int | None:
        """Copy the open chunk to the host; return the first row holding NaN/inf, if any."""
        if not self._m0_copied:
            self.m0 = self._m0_buf.cpu().numpy()
            self._m0_copied = True
        return self._chunks.flush(_MEASURED + (("train_loss",) if with_train_loss else ()))


ProgressSpec = bool | Callable[[int, int], object] | None


class Progress:
    """Reports the epochs done of a run: a tqdm bar, a callback, or nothing.

    ``progress=True`` shows a tqdm bar on stderr that stays silent when
    stderr is not a terminal (a log file, a worker process); a callable is
    called as ``progress(epochs_done, epochs)``; False or None reports nothing.
    """

    def __init__(self, progress: ProgressSpec, total: int, description: str) -> None:
        self._total = total
        self._done = 0
        self._bar: Any = None
        self._callback: Callable[[int, int], object] | None = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=description, unit="epoch", disable=None, leave=False)
        elif callable(progress):
            self._callback = progress
        elif progress not in (False, None):
            raise TypeError(
                f"progress must be True (a bar on a terminal), False, or a callable "
                f"progress(epochs_done, epochs); got {progress!r}"
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, done: int) -> None:
        """``done`` epochs are finished."""
        if done == self._done:
            return
        if self._bar is not None:
            self._bar.update(done - self._done)
        if self._callback is not None:
            self._callback(done, self._total)
        self._done = done
