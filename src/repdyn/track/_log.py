"""The host record of a tracked run, its divergence check and its chunk schedule.

Every trainer (:func:`repdyn.track.track_pair`, the engines of
:mod:`repdyn.fast`) records into a :class:`PairLog` and asks a
:class:`ChunkSchedule` when to check it and when to stop, so the rules are
written once:

- rows are epochs ``0 .. n_epochs``; epoch ``e`` is the state after ``e`` steps;
- the recorded rows are checked once per chunk of ``check_every`` epochs, after
  the step that closes the chunk; at the first row holding a NaN or inf that
  row is kept as computed, later rows stay NaN and the run stops there;
- ``stop_when_converged`` ends a run one forward after a chunk whose last
  loss reached the threshold;
- ``status`` is judged on the loss at the last recorded epoch
  (:meth:`repdyn.track.PairTracking.judged`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from repdyn.track._result import PairTracking

#: Default epochs per chunk. Each check (on a device, with the copy of the
#: chunk to the host, the loop's only synchronisation) then comes once per 256
#: steps, and a divergent run wastes at most 256 steps after its first bad value.
CHECK_EVERY = 256


def first_nonfinite(rows: np.ndarray) -> int | None:
    """The first row of ``rows`` (2-D) holding a NaN or inf, or None: the divergence rule of every trainer."""
    finite = np.isfinite(rows).all(axis=1)
    return None if finite.all() else int(np.argmin(finite))


class PairLog:
    """Preallocated float64 rows: ``h`` per tracked layer, ``y``, ``w``, the pair loss, the training loss.

    ``values[e]`` holds ``(h_1 .. h_L, y, w, loss, train_loss)`` of epoch
    ``e``; the column indices are :attr:`Y`, :attr:`W`, :attr:`LOSS` and
    :attr:`TRAIN_LOSS` (the training loss only for minibatch training over a
    data set; NaN otherwise).

    Parameters
    ----------
    n_epochs : int
        Steps of the run (the log has ``n_epochs + 1`` rows).
    layers : sequence of str
        Names of the tracked layers, one ``h`` column each.
    """

    def __init__(self, n_epochs: int, layers: Sequence[str]) -> None:
        self.layers = tuple(layers)
        n = len(self.layers)
        self.Y, self.W, self.LOSS, self.TRAIN_LOSS = n, n + 1, n + 2, n + 3
        self.values = np.full((n_epochs + 1, n + 4), np.nan)
        self.m0 = float("nan")
        self.checked = 0  # rows [0, checked) passed the finiteness check

    def check(self, stop: int, *, with_train_loss: bool = False) -> int | None:
        """Check rows ``[checked, stop)``; the first epoch holding a NaN or inf, or None.

        Rows after that epoch are set to NaN: once a value is not finite every
        later step is meaningless, so nothing after it is kept. The training
        loss is checked only ``with_train_loss``.
        """
        rows = self.values[self.checked : stop, : None if with_train_loss else self.TRAIN_LOSS]
        start, self.checked = self.checked, stop
        bad = first_nonfinite(rows)
        if bad is None:
            return None
        bad += start
        self.values[bad + 1 :] = np.nan
        return bad

    def loss(self, epoch: int, *, train: bool = False) -> float:
        """The recorded pair loss (or training loss) of ``epoch``."""
        return float(self.values[epoch, self.TRAIN_LOSS if train else self.LOSS])

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
        """The :class:`repdyn.track.PairTracking` of the run.

        Convergence is judged on the pair loss, or on the training loss when
        ``with_train_loss`` (minibatch training over a whole data set).
        """
        column = self.values.T
        train_loss = column[self.TRAIN_LOSS].copy()
        loss = column[self.LOSS].copy()
        return PairTracking.judged(
            convergence_loss=train_loss if with_train_loss else loss,
            stop_epoch=stop_epoch,
            diverged_epoch=diverged_epoch,
            loss_threshold=loss_threshold,
            epochs=np.arange(self.values.shape[0], dtype=np.int64),
            layers=self.layers,
            h=self.values[:, : self.Y].copy(),
            y=column[self.Y].copy(),
            w=column[self.W].copy(),
            loss=loss,
            m0=self.m0,
            dx2=dx2,
            dy2=dy2,
            seconds=seconds,
            train_loss=train_loss if with_train_loss else None,
            pair=pair,
        )


class ChunkSchedule:
    """When one run checks its log, when it stops, and which epoch it records last.

    The loop of a trainer::

        epoch = 0
        while True:
            forward (records row epoch); if epoch == schedule.final: break
            step; if schedule.after_step(epoch): break  (diverged)
            epoch += 1
        schedule.finish()
        return schedule.result(dx2=..., dy2=..., seconds=...)

    Parameters
    ----------
    log : PairLog
        The run's rows.
    n_epochs : int
        Steps of the run.
    check_every : int
        Epochs per chunk (the last chunk may be shorter); at most
        ``n_epochs + 1`` rows are ever held between two checks.
    loss_threshold : float or None
        The loss the run's status is judged by, and at which
        ``stop_when_converged`` stops.
    stop_when_converged : bool
        Stop one forward after the first chunk whose last loss is at most
        ``loss_threshold``.
    transfer : callable, optional
        Called before each check, e.g. to copy device rows into ``log``.

    Attributes
    ----------
    size : int
        Rows per chunk.
    final : int
        The last epoch to record (moves earlier once converged).
    diverged : int or None
        The first epoch holding a NaN or inf, once found.
    """

    def __init__(
        self,
        log: PairLog,
        *,
        n_epochs: int,
        check_every: int,
        loss_threshold: float | None,
        stop_when_converged: bool,
        transfer: Callable[[], object] | None = None,
    ) -> None:
        self.log = log
        self.final = n_epochs
        self.size = min(check_every, n_epochs + 1)
        self.loss_threshold = loss_threshold
        self.threshold = loss_threshold if stop_when_converged else None
        self.diverged: int | None = None
        self._transfer = transfer
        self._stop: int | None = None

    def _check(self, stop: int) -> int | None:
        if self._transfer is not None:
            self._transfer()
        return self.log.check(stop)

    def after_step(self, epoch: int) -> bool:
        """Called after the step that follows row ``epoch``; True if the run must stop now."""
        if (epoch + 1) % self.size:
            return False
        self.diverged = self._check(epoch + 1)
        if self.diverged is not None:
            return True
        if self.threshold is not None and self.log.loss(epoch) <= self.threshold:
            self.final = epoch + 1
        return False

    def finish(self) -> int:
        """Check the remaining rows (once); return the stop epoch (the divergent one, if any)."""
        if self._stop is None:
            if self.diverged is None:
                self.diverged = self._check(self.final + 1)
            self._stop = self.final if self.diverged is None else self.diverged
        return self._stop

    def result(self, *, dx2: float, dy2: float, seconds: float) -> PairTracking:
        """The run's :class:`repdyn.track.PairTracking` (:meth:`PairLog.result`), after :meth:`finish`."""
        return self.log.result(
            stop_epoch=self.finish(),
            diverged_epoch=self.diverged,
            loss_threshold=self.loss_threshold,
            dx2=dx2,
            dy2=dy2,
            seconds=seconds,
        )
