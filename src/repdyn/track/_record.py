"""Device-side recording shared by the tracking loops.

Per-record values are written into one small preallocated device tensor, and
copied to the host once per chunk of records. That copy is the loop's only
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

from repdyn.track._layers import LayerProbe, row_dots
from repdyn.track._result import PairTracking

def project_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The project loss ``1/2 * mean_i ||y_i - yhat_i||^2`` (sum over output dims)."""
    return 0.5 * (pred - target).pow(2).reshape(pred.shape[0], -1).sum(dim=1).mean()


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
        finite = np.isfinite(rows[:, columns]).all(axis=1)
        bad = int(np.argmin(finite)) if not finite.all() else None
        keep = n if bad is None else bad + 1
        self._host[start : start + keep] = rows[:keep]
        self._buf.fill_(float("nan"))
        self._start, self._count = start + n, 0
        return None if bad is None else start + bad


#: Fields the divergence check reads: every measured value (the training loss
#: only where a trainer records one).
_MEASURED = ("h", "y", "w", "loss")


class Recorder:
    """Device buffers for ``h`` (per layer and pair), ``y``, ``w``, the pair losses and the training loss.

    One row per recorded state; the probe's :class:`PairIndex` says which
    points of the measured batch form each pair (one pair of two points by
    default). ``dy`` holds each pair's target difference, shape ``(K, d)``.
    """

    def __init__(
        self,
        probe: LayerProbe,
        *,
        n_rows: int,
        chunk_size: int,
        device: torch.device,
        dy: torch.Tensor,
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
        self._dy = dy.to(torch.float64).reshape(n_pairs, -1)
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
        self.probe.arm(self._chunks.device("h", row))
        try:
            pred = model(x)
        finally:
            self.probe.disarm_quietly()
        self.probe.check_calls()
        return pred

    def outputs(
        self, row: int, pred: torch.Tensor, target: torch.Tensor, loss: torch.Tensor
    ) -> None:
        """Record ``y``, ``w`` and the pair losses ``loss`` (and ``m0`` in row 0) from one forward."""
        first, second = self._first, self._second
        with torch.no_grad():
            n_points = len(self.probe.pairs.points)
            pred64 = pred.detach().to(torch.float64).reshape(n_points, -1)
            dyhat = pred64[first] - pred64[second]
            y = row_dots(dyhat, dyhat)
            self._chunks.device("y", row).copy_(y)
            self._chunks.device("w", row).copy_(y - row_dots(self._dy, dyhat))
            self._chunks.device("loss", row).copy_(loss.detach())
            if row == 0:
                target64 = target.to(torch.float64).reshape(n_points, -1)
                mean_error = (target64[first] + target64[second]) / 2 - (
                    pred64[first] + pred64[second]
                ) / 2
                self._m0_buf.copy_(row_dots(mean_error, mean_error))

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

    def result(
        self,
        *,
        stop_epoch: int,
        diverged_epoch: int | None,
        loss_threshold: float | None,
        dx2: float,
        dy2: float,
        seconds: float,
    ) -> PairTracking:
        """The one pair's record, one row per epoch; status follows :class:`PairTracking`'s rules."""
        h = self.host("h")[:, :, 0]
        loss = self.host("loss")[:, 0].copy()
        return PairTracking.judged(
            convergence_loss=loss,
            stop_epoch=stop_epoch,
            diverged_epoch=diverged_epoch,
            loss_threshold=loss_threshold,
            epochs=np.arange(len(h), dtype=np.int64),
            layers=self.probe.names,
            h=h.copy(),
            y=self.host("y")[:, 0].copy(),
            w=self.host("w")[:, 0].copy(),
            loss=loss,
            m0=float(self.m0[0]),
            dx2=dx2,
            dy2=dy2,
            seconds=seconds,
        )


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
