"""The record of one tracked training run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from repdyn.vocabulary import annotate

if TYPE_CHECKING:  # imported lazily at run time: both are slow to import
    import pandas as pd
    import xarray as xr

FloatArray = NDArray[np.float64]

CONVERGED, NOT_CONVERGED, DIVERGED, COMPLETED = (
    "converged",
    "not_converged",
    "diverged",
    "completed",
)
STATUSES = (CONVERGED, NOT_CONVERGED, DIVERGED, COMPLETED)
"""``completed``: ran every epoch with finite values, and no loss threshold was given."""

_ARRAYS = ("epochs", "h", "y", "w", "loss")
_SCALARS = (
    "m0",
    "dx2",
    "dy2",
    "status",
    "stop_epoch",
    "diverged_epoch",
    "converged_epoch",
    "final_loss",
    "loss_threshold",
    "seconds",
)


def judge(
    convergence_loss: FloatArray,
    stop: int,
    diverged: int | None,
    loss_threshold: float | None,
) -> tuple[str, int | None, float]:
    """The status rules of every tracked run: ``(status, first converged row, final loss)``.

    ``convergence_loss`` holds one loss per recorded row and ``stop`` is the
    last recorded row: ``"diverged"`` if ``diverged`` is set, ``"completed"``
    without a threshold, else ``"converged"`` or ``"not_converged"`` by the
    loss at ``stop``. The first converged row is the first at or before
    ``stop`` whose loss is <= the threshold (None if none is, or no threshold).
    """
    final_loss = float(convergence_loss[stop])
    converged = None
    if loss_threshold is not None:
        reached = np.flatnonzero(convergence_loss[: stop + 1] <= loss_threshold)
        converged = int(reached[0]) if reached.size else None
    if diverged is not None:
        status = DIVERGED
    elif loss_threshold is None:
        status = COMPLETED
    else:
        status = CONVERGED if final_loss <= loss_threshold else NOT_CONVERGED
    return status, converged, final_loss


@dataclass(frozen=True, eq=False)
class PairTracking:
    """The theory's variables for one pair of points, recorded at every epoch.

    Epoch ``e`` is the state after ``e`` optimisation steps (full-batch
    tracking) or ``e`` passes over the data (minibatch tracking); epoch 0 is
    the state before training. Arrays always have ``n_epochs + 1`` rows;
    rows after :attr:`stop_epoch` were never recorded (or followed a
    divergence) and hold NaN.

    Attributes
    ----------
    epochs : ndarray of int64, shape (T,)
        ``0, 1, ..., n_epochs``.
    layers : tuple of str
        Names of the tracked submodules, in the order of the columns of ``h``.
    h : ndarray, shape (T, L)
        ``||f(x1) - f(x2)||^2`` at each tracked layer.
    y : ndarray, shape (T,)
        ``||net(x1) - net(x2)||^2`` (the same for every layer).
    w : ndarray, shape (T,)
        ``y - dy . dyhat``.
    loss : ndarray, shape (T,)
        Loss on the pair, ``1/2 * mean_i ||y_i - yhat_i||^2``, from the same
        forward pass as ``h``, ``y`` and ``w``.
    m0 : float
        ``||y_bar - mean prediction||^2`` at epoch 0.
    dx2, dy2 : float
        ``||x1 - x2||^2`` and ``||y1 - y2||^2`` of the pair.
    status : str
        ``"converged"`` (final loss <= threshold), ``"not_converged"`` (final
        loss above it), ``"diverged"`` (a NaN or inf was recorded) or
        ``"completed"`` (finite throughout, no threshold given).
    stop_epoch : int
        Last recorded epoch. Equals ``n_epochs`` unless the run diverged (then
        it is :attr:`diverged_epoch`) or stopped early once converged.
    diverged_epoch : int or None
        First epoch at which any recorded value is NaN or inf.
    converged_epoch : int or None
        First epoch whose :attr:`final_loss`-type loss is <= the threshold.
    final_loss : float
        The convergence loss at :attr:`stop_epoch`: the pair loss for
        full-batch tracking, the mean minibatch loss of the last epoch for
        minibatch tracking (may be NaN or inf when diverged).
    loss_threshold : float or None
        The threshold the status was judged against.
    seconds : float
        Wall-clock time of the training loop, recording included.
    train_loss : ndarray, shape (T,), or None
        Minibatch tracking only: the mean minibatch loss of epoch ``e`` (the
        pass that led from state ``e-1`` to ``e``); row 0 is the loss of the
        initial model on the whole training set.
    pair : tuple of int, or None
        Minibatch tracking only: indices of the tracked pair in the data set.
    """

    epochs: NDArray[np.int64]
    layers: tuple[str, ...]
    h: FloatArray
    y: FloatArray
    w: FloatArray
    loss: FloatArray
    m0: float
    dx2: float
    dy2: float
    status: str
    stop_epoch: int
    diverged_epoch: int | None
    converged_epoch: int | None
    final_loss: float
    loss_threshold: float | None
    seconds: float
    train_loss: FloatArray | None = None
    pair: tuple[int, int] | None = field(default=None)

    def __post_init__(self) -> None:
        n = len(self.epochs)
        if self.h.shape != (n, len(self.layers)):
            raise ValueError(f"h must have shape {(n, len(self.layers))}; got {self.h.shape}")
        for name in ("y", "w", "loss"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape {(n,)}; got {getattr(self, name).shape}")
        if self.train_loss is not None and self.train_loss.shape != (n,):
            raise ValueError(f"train_loss must have shape {(n,)}; got {self.train_loss.shape}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {self.status!r}")
        if not 0 <= self.stop_epoch < n:
            raise ValueError(f"stop_epoch must lie in [0, {n - 1}]; got {self.stop_epoch}")

    @classmethod
    def judged(
        cls,
        *,
        convergence_loss: FloatArray,
        stop_epoch: int,
        diverged_epoch: int | None,
        loss_threshold: float | None,
        **fields: Any,
    ) -> PairTracking:
        """Build a result whose status, ``converged_epoch`` and ``final_loss`` follow the rules.

        ``convergence_loss`` is the loss the run is judged on (the pair loss, or
        the training loss of minibatch runs): ``"diverged"`` if
        ``diverged_epoch`` is set, ``"completed"`` without a threshold, else
        ``"converged"`` or ``"not_converged"`` by its value at ``stop_epoch``.
        Every engine (autograd, the fast paths) assembles its result here.
        """
        status, converged_epoch, final_loss = judge(
            convergence_loss, stop_epoch, diverged_epoch, loss_threshold
        )
        return cls(
            status=status,
            stop_epoch=stop_epoch,
            diverged_epoch=diverged_epoch,
            converged_epoch=converged_epoch,
            final_loss=final_loss,
            loss_threshold=loss_threshold,
            **fields,
        )

    @property
    def n_epochs(self) -> int:
        """The number of epochs the run was configured for."""
        return len(self.epochs) - 1

    @property
    def last_finite_epoch(self) -> int:
        """Last epoch of the finite prefix: ``stop_epoch``, or one before a divergence."""
        if self.diverged_epoch is None:
            return self.stop_epoch
        return self.diverged_epoch - 1

    def layer_index(self, layer: str | None = None) -> int:
        """Column of ``layer`` in :attr:`h`; ``None`` is allowed when one layer was tracked."""
        if layer is None:
            if len(self.layers) != 1:
                raise ValueError(
                    f"several layers were tracked {self.layers}; name one with layer=..."
                )
            return 0
        if layer not in self.layers:
            raise ValueError(f"layer {layer!r} was not tracked; tracked layers: {self.layers}")
        return self.layers.index(layer)

    def z(self, layer: str | None = None) -> FloatArray:
        """``(h, y, w)`` at one layer, shape ``(T, 3)``, NaN after :attr:`stop_epoch`."""
        return np.stack([self.h[:, self.layer_index(layer)], self.y, self.w], axis=-1)

    def theory_inputs(
        self, layer: str | None = None, *, last_epoch: int | None = None
    ) -> dict[str, Any]:
        """Arguments for :func:`repdyn.theory.fit` over the finite prefix of the run.

        Returns ``dict(t=..., observed=..., dx2=..., dy2=..., loss=...)`` with
        ``t`` the epochs ``0 .. last`` as floats and ``observed`` the
        ``(h, y, w)`` rows of ``layer``; use ``fit(**run.theory_inputs())``.
        ``last`` is :attr:`last_finite_epoch`, or ``last_epoch`` if that is
        smaller (to leave out a long converged tail).
        """
        stop = self.last_finite_epoch + 1
        if last_epoch is not None:
            if isinstance(last_epoch, bool) or not isinstance(last_epoch, int | np.integer):
                raise TypeError(f"last_epoch must be an integer epoch; got {last_epoch!r}")
            stop = min(stop, int(last_epoch) + 1)
        if stop < 2:
            raise ValueError(
                f"only {max(stop, 0)} finite epoch(s) selected (status {self.status!r}); "
                "fitting needs at least 2"
            )
        return {
            "t": self.epochs[:stop].astype(np.float64),
            "observed": self.z(layer)[:stop],
            "dx2": self.dx2,
            "dy2": self.dy2,
            "loss": self.loss[:stop],
        }

    def to_dict(self) -> dict[str, Any]:
        """A flat dict of JSON scalars (None included) and numpy arrays; see :meth:`from_dict`."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _ARRAYS}
        out["layers"] = np.array(self.layers, dtype=np.str_)
        if self.train_loss is not None:
            out["train_loss"] = self.train_loss
        for name in _SCALARS:
            out[name] = getattr(self, name)
        out["pair_i"], out["pair_j"] = self.pair if self.pair is not None else (None, None)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairTracking:
        """Rebuild a result from :meth:`to_dict` output (arrays may come back from npz)."""
        pair = None if data.get("pair_i") is None else (int(data["pair_i"]), int(data["pair_j"]))
        train_loss = data.get("train_loss")
        return cls(
            epochs=np.asarray(data["epochs"], dtype=np.int64),
            layers=tuple(str(name) for name in np.asarray(data["layers"]).reshape(-1)),
            h=np.asarray(data["h"], dtype=np.float64),
            y=np.asarray(data["y"], dtype=np.float64),
            w=np.asarray(data["w"], dtype=np.float64),
            loss=np.asarray(data["loss"], dtype=np.float64),
            m0=float(data["m0"]),
            dx2=float(data["dx2"]),
            dy2=float(data["dy2"]),
            status=str(data["status"]),
            stop_epoch=int(data["stop_epoch"]),
            diverged_epoch=_optional_int(data.get("diverged_epoch")),
            converged_epoch=_optional_int(data.get("converged_epoch")),
            final_loss=float(data["final_loss"]),
            loss_threshold=None
            if data.get("loss_threshold") is None
            else float(data["loss_threshold"]),
            seconds=float(data["seconds"]),
            train_loss=None if train_loss is None else np.asarray(train_loss, dtype=np.float64),
            pair=pair,
        )

    def to_xarray(self) -> xr.Dataset:
        """An xarray Dataset with dims ``epoch`` and ``layer``.

        Variables ``h`` (epoch, layer), ``y``, ``w``, ``loss`` (and
        ``train_loss``) over epoch; the scalars are attributes (None ones are
        left out, so the Dataset stays writable to netCDF). Every variable and
        coordinate has the ``long_name`` and ``units`` of
        :data:`repdyn.vocabulary.VOCABULARY` (text, the layer names, has no units);
        the epochs are optimisation steps (full-batch tracking) or passes over
        the data (minibatch tracking, which records ``train_loss``).
        """
        import xarray as xr

        data_vars: dict[str, Any] = {
            "h": (("epoch", "layer"), self.h),
            "y": ("epoch", self.y),
            "w": ("epoch", self.w),
            "loss": ("epoch", self.loss),
        }
        if self.train_loss is not None:
            data_vars["train_loss"] = ("epoch", self.train_loss)
        attrs = {k: v for k, v in self.to_dict().items() if k in (*_SCALARS, "pair_i", "pair_j")}
        attrs = {k: v for k, v in attrs.items() if v is not None}
        ds = xr.Dataset(data_vars, coords={"epoch": self.epochs, "layer": list(self.layers)}, attrs=attrs)
        return annotate(ds, epoch_unit="optimisation steps" if self.train_loss is None else "epochs")

    def to_frame(self) -> pd.DataFrame:
        """A long-form pandas DataFrame: one row per (epoch, layer).

        Columns ``epoch, layer, h, y, w, loss`` (and ``train_loss``); ``y``,
        ``w`` and the losses repeat across the layers of an epoch.
        """
        import pandas as pd

        n_layers = len(self.layers)
        columns: dict[str, Any] = {
            "epoch": np.repeat(self.epochs, n_layers),
            "layer": np.tile(np.array(self.layers, dtype=object), len(self.epochs)),
            "h": self.h.reshape(-1),
            "y": np.repeat(self.y, n_layers),
            "w": np.repeat(self.w, n_layers),
            "loss": np.repeat(self.loss, n_layers),
        }
        if self.train_loss is not None:
            columns["train_loss"] = np.repeat(self.train_loss, n_layers)
        return pd.DataFrame(columns)


def _optional_int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)
