"""The loss, its conventions and the pair's output variables, written once for every trainer.

Both functions take numpy arrays or torch tensors (on any device) and compute
with that library, so the autograd loops, the hand-written CPU engine and the
batched engine of :mod:`repdyn.fast` record the same numbers from the same
predictions.

Every trainer records the project loss (the theory's convention) and steps on
``loss_scale(loss, n_outputs) * project_loss``: the loss convention a run is
trained with changes its steps, never the meaning of a recorded loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from repdyn import checks

#: The theory's (and repdyn's own) loss: ``1/2 mean_i ||y_i - yhat_i||^2``,
#: summed over output dimensions.
THEORY_LOSS = "half_sum"
#: The loss reductions a run can be trained with (docs/theory.md, "Loss
#: conventions"), each ``c * project_loss`` with ``c`` of :func:`loss_scale`:
#: ``"half_sum"`` the theory's (``c = 1``); ``"half_mse"``,
#: ``0.5 * F.mse_loss`` (mean over outputs too, ``c = 1/n``); ``"mse"``,
#: ``nn.MSELoss()`` (``c = 2/n``), for ``n`` output values per point.
LOSSES = (THEORY_LOSS, "half_mse", "mse")


def check_loss(loss: Any, *, name: str = "loss") -> str:
    """``loss`` if it names a convention of :data:`LOSSES` (case and spaces ignored)."""
    key = loss.strip().lower() if isinstance(loss, str) else loss
    return checks.choice(name, key, LOSSES, fix=f"{THEORY_LOSS!r} is the theory's convention")


def loss_scale(loss: str, n_outputs: int) -> float:
    """The factor ``c`` with ``loss = c * project_loss`` for outputs of ``n_outputs`` values per point.

    Parameters
    ----------
    loss : {"half_sum", "half_mse", "mse"}
        The convention (:data:`LOSSES`).
    n_outputs : int
        Output values per point (the product of a prediction's trailing
        dimensions).

    Returns
    -------
    float
        1 for ``"half_sum"``, ``1/n_outputs`` for ``"half_mse"``,
        ``2/n_outputs`` for ``"mse"``. Under plain gradient descent a run
        trained on ``c * project_loss`` at learning rate ``lr`` is the run
        trained on the project loss at ``c * lr``, so its fitted rates are
        ``c`` times those (docs/theory.md, "Loss conventions").
    """
    loss = check_loss(loss)
    n_outputs = checks.integer("n_outputs", n_outputs, minimum=1, fix="It counts the output values per point")
    return {THEORY_LOSS: 1.0, "half_mse": 1.0 / n_outputs, "mse": 2.0 / n_outputs}[loss]


def _namespace(array: Any) -> Any:
    return torch if isinstance(array, torch.Tensor) else np


def _float64(array: Any) -> Any:
    """``array`` in float64 where it is (``torch.asarray`` would move a tensor to torch's default device)."""
    if isinstance(array, torch.Tensor):
        return array.to(torch.float64)
    return np.asarray(array, dtype=np.float64)


def _half_mean_square(error: Any) -> Any:
    """``1/2 * mean over rows of ||row||^2`` for ``error`` of shape ``(..., N, n)``, in its dtype."""
    return 0.5 * (error**2).sum(axis=-1).mean(axis=-1)


def project_loss(pred: Any, target: Any) -> Any:
    """The project loss ``1/2 * mean_i ||y_i - yhat_i||^2`` (sum over output dims).

    Parameters
    ----------
    pred, target : Tensor or ndarray, shape (N, ...)
        Predictions and targets of ``N`` points (trailing dimensions are
        flattened).

    Returns
    -------
    Tensor or ndarray
        A scalar in the predictions' dtype (differentiable for tensors).
    """
    return _half_mean_square((pred - target).reshape(pred.shape[0], -1))


class PairMetrics:
    """The output variables of a pair from one forward (see :func:`pair_metrics`).

    Attributes
    ----------
    y, w : array or Tensor
        ``||dyhat||^2`` and ``y - dy . dyhat``, float64.
    loss : array or Tensor
        The pair's project loss, in the predictions' dtype.
    m0 : array or Tensor
        ``||mean target - mean prediction||^2``, float64; computed when read
        (a trainer reads it at epoch 0 only).
    """

    __slots__ = ("_pred64", "_target64", "_xp", "loss", "w", "y")

    def __init__(self, pred: Any, target: Any) -> None:
        xp = self._xp = _namespace(pred)
        pred64 = self._pred64 = _float64(pred)
        target64 = self._target64 = _float64(target)
        dyhat = pred64[..., 0, :] - pred64[..., 1, :]
        dy = target64[..., 0, :] - target64[..., 1, :]
        self.y = xp.linalg.vecdot(dyhat, dyhat)
        self.w = self.y - xp.linalg.vecdot(dy, dyhat)
        self.loss = _half_mean_square(pred - target)

    @property
    def m0(self) -> Any:
        mean_error = self._target64.mean(axis=-2) - self._pred64.mean(axis=-2)
        return self._xp.linalg.vecdot(mean_error, mean_error)


def pair_metrics(pred: Any, target: Any) -> PairMetrics:
    """``y``, ``w``, the loss and ``m0`` of a pair (or of many) from its predictions.

    With ``dyhat = pred_1 - pred_2`` and ``dy = target_1 - target_2``:

    - ``y = ||dyhat||^2`` and ``w = y - dy . dyhat``, in float64;
    - ``loss`` = :func:`project_loss` on the pair, in the predictions' dtype,
      as autograd computes it, so a run overflows at the same epoch whichever
      trainer computes it;
    - ``m0 = ||mean target - mean prediction||^2``, in float64 (the theory
      reads it at epoch 0), computed when read.

    Parameters
    ----------
    pred, target : Tensor or ndarray, shape (..., 2, n)
        Predictions and targets of the two points (axis -2), with any leading
        dimensions (one pair per trial of a batch). Both numpy or both torch.

    Returns
    -------
    PairMetrics
        Arrays of the leading shape (0-d for one pair), of the input's kind
        and device; no host synchronisation happens here.
    """
    return PairMetrics(pred, target)
