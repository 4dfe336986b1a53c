"""Device-side recording shared by the tracking loops.

Per-epoch values are written into small preallocated device tensors, and
copied to the host once per chunk of epochs. That copy is the loop's only
host synchronisation, and the divergence check runs on the copied chunk, so a
run that blows up wastes at most one chunk of steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.track._layers import LayerProbe
from repdyn.track._result import PairTracking

# Columns of the per-epoch output buffer.
_Y, _W, _LOSS, _TRAIN_LOSS = range(4)


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


class Recorder:
    """Chunked device buffers for ``h`` (per layer), ``y``, ``w`` and the losses."""

    def __init__(
        self,
        probe: LayerProbe,
        *,
        n_epochs: int,
        chunk_size: int,
        device: torch.device,
        dy: torch.Tensor,
    ) -> None:
        n_rows, n_layers = n_epochs + 1, len(probe.names)
        self.probe = probe
        self.h = np.full((n_rows, n_layers), np.nan)
        self.out = np.full((n_rows, 4), np.nan)
        self.m0 = float("nan")
        self._dy = dy.to(torch.float64).reshape(-1)
        size = min(chunk_size, n_rows)
        self._h_buf = torch.full((size, n_layers), float("nan"), dtype=torch.float64, device=device)
        self._out_buf = torch.full((size, 4), float("nan"), dtype=torch.float64, device=device)
        self._m0_buf = torch.full((), float("nan"), dtype=torch.float64, device=device)
        self._start = 0  # epoch held in buffer row 0
        self._count = 0  # rows filled since the last flush

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
        self.probe.arm(self._h_buf[self._row(epoch)])
        try:
            pred = model(x)
        finally:
            self.probe.disarm_quietly()
        self.probe.check_calls()
        return pred

    def outputs(
        self, epoch: int, pred: torch.Tensor, target: torch.Tensor, loss: torch.Tensor
    ) -> None:
        """Record ``y``, ``w`` and the pair loss (and ``m0`` at epoch 0) from one forward."""
        row = self._row(epoch)
        with torch.no_grad():
            pred64 = pred.detach().to(torch.float64).reshape(2, -1)
            dyhat = pred64[0] - pred64[1]
            y = torch.dot(dyhat, dyhat)
            self._out_buf[row, _Y] = y
            self._out_buf[row, _W] = y - torch.dot(self._dy, dyhat)
            self._out_buf[row, _LOSS] = loss.detach()
            if epoch == 0:
                mean_error = target.to(torch.float64).reshape(2, -1).mean(0) - pred64.mean(0)
                self._m0_buf.copy_(torch.dot(mean_error, mean_error))

    def train_loss(self, epoch: int, value: torch.Tensor) -> None:
        self._out_buf[self._row(epoch), _TRAIN_LOSS] = value.detach()

    def recorded_loss(self, epoch: int, *, train: bool = False) -> float:
        """A loss already copied to the host (pair loss, or training loss)."""
        return float(self.out[epoch, _TRAIN_LOSS if train else _LOSS])

    def flush(self, *, with_train_loss: bool = False) -> int | None:
        """Copy the open chunk to the host; return the first epoch holding NaN/inf, if any.

        Rows after a divergent epoch are left NaN: once a value is not finite
        every later step is meaningless, so nothing after it is kept.
        """
        n, start = self._count, self._start
        h = self._h_buf[:n].cpu().numpy()
        out = self._out_buf[:n].cpu().numpy()
        if start == 0:
            self.m0 = float(self._m0_buf)
        columns = slice(None) if with_train_loss else slice(0, _TRAIN_LOSS)
        finite = np.isfinite(h).all(axis=1) & np.isfinite(out[:, columns]).all(axis=1)
        bad = int(np.argmin(finite)) if not finite.all() else None
        keep = n if bad is None else bad + 1
        self.h[start : start + keep] = h[:keep]
        self.out[start : start + keep] = out[:keep]
        self._h_buf.fill_(float("nan"))
        self._out_buf.fill_(float("nan"))
        self._start, self._count = start + n, 0
        return None if bad is None else start + bad

    def result(
        self,
        *,
        stop_epoch: int,
        diverged_epoch: int | None,
        loss_threshold: float | None,
        dx2: float,
        dy2: float,
        seconds: float,
        with_train_loss: bool = False,
        pair: tuple[int, int] | None = None,
    ) -> PairTracking:
        """Assemble the result; status follows :class:`PairTracking`'s rules.

        Convergence is judged on the pair loss, or on the training loss when
        ``with_train_loss`` (minibatch training over a whole data set).
        """
        return PairTracking.judged(
            convergence_loss=self.out[:, _TRAIN_LOSS if with_train_loss else _LOSS],
            stop_epoch=stop_epoch,
            diverged_epoch=diverged_epoch,
            loss_threshold=loss_threshold,
            epochs=np.arange(len(self.h), dtype=np.int64),
            layers=self.probe.names,
            h=self.h,
            y=self.out[:, _Y].copy(),
            w=self.out[:, _W].copy(),
            loss=self.out[:, _LOSS].copy(),
            m0=self.m0,
            dx2=dx2,
            dy2=dy2,
            seconds=seconds,
            train_loss=self.out[:, _TRAIN_LOSS].copy() if with_train_loss else None,
            pair=pair,
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
