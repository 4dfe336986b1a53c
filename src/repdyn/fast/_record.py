"""Host-side record of one trial, checked for divergence chunk by chunk.

The rules are those of :func:`repdyn.track.track_pair`: rows are epochs
``0 .. n_epochs``; the finiteness check runs once per chunk of epochs; at the
first row holding a NaN or inf that row is kept as computed, later rows stay
NaN and the run stops; ``status`` is judged on the pair loss at the last
recorded epoch.
"""

from __future__ import annotations

import numpy as np

from repdyn.track import PairTracking


class TrialLog:
    """Preallocated float64 rows for ``h`` (per tracked layer), ``y``, ``w`` and the loss.

    ``values[e]`` holds ``(h_1 .. h_L, y, w, loss)`` of epoch ``e``.
    """

    def __init__(self, n_epochs: int, layers: tuple[str, ...]) -> None:
        self.layers = layers
        self.values = np.full((n_epochs + 1, len(layers) + 3), np.nan)
        self.m0 = float("nan")
        self.checked = 0  # rows [0, checked) passed the finiteness check

    def check(self, stop: int) -> int | None:
        """Check rows ``[checked, stop)``; return the first bad epoch (later rows set to NaN)."""
        rows = self.values[self.checked : stop]
        finite = np.isfinite(rows).all(axis=1)
        if finite.all():
            self.checked = stop
            return None
        bad = self.checked + int(np.argmin(finite))
        self.values[bad + 1 :] = np.nan
        self.checked = stop
        return bad

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
        """The :class:`repdyn.track.PairTracking` of the run (status rules as in track_pair)."""
        n_layers = len(self.layers)
        loss = self.values[:, n_layers + 2].copy()
        return PairTracking.judged(
            convergence_loss=loss,
            stop_epoch=stop_epoch,
            diverged_epoch=diverged_epoch,
            loss_threshold=loss_threshold,
            epochs=np.arange(self.values.shape[0], dtype=np.int64),
            layers=self.layers,
            h=self.values[:, :n_layers].copy(),
            y=self.values[:, n_layers].copy(),
            w=self.values[:, n_layers + 1].copy(),
            loss=loss,
            m0=self.m0,
            dx2=dx2,
            dy2=dy2,
            seconds=seconds,
        )


class Schedule:
    """When one trial checks its rows, stops, and which epoch it records last.

    The loop of an engine, per trial::

        forward (records row e); if e == schedule.final: stop
        step; if schedule.after_step(e): stop (diverged)

    then :meth:`finish`. This reproduces ``track_pair``: chunks of
    ``min(chunk_size, n_epochs + 1)`` rows are checked after the step that
    closes them; ``stop_when_converged`` ends the run one forward after a
    chunk whose last loss reached the threshold.
    """

    def __init__(
        self,
        log: TrialLog,
        *,
        n_epochs: int,
        chunk_size: int,
        loss_threshold: float | None,
        stop_when_converged: bool,
    ) -> None:
        self.log = log
        self.final = n_epochs
        self.size = min(chunk_size, n_epochs + 1)
        self.threshold = loss_threshold if stop_when_converged else None
        self.diverged: int | None = None

    def after_step(self, epoch: int) -> bool:
        """Called after the step that follows row ``epoch``; True if the run must stop now."""
        if (epoch + 1) % self.size:
            return False
        self.diverged = self.log.check(epoch + 1)
        if self.diverged is not None:
            return True
        if self.threshold is not None and self.log.values[epoch, -1] <= self.threshold:
            self.final = epoch + 1
        return False

    def finish(self) -> int:
        """Check the remaining rows; return the stop epoch."""
        if self.diverged is None:
            self.diverged = self.log.check(self.final + 1)
        return self.final if self.diverged is None else self.diverged
