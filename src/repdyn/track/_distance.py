"""The squared input distance ``dx2`` of tracked pairs: Euclidean by default, or the caller's.

The theory needs ``dx2 = ||x_i - x_j||^2`` of each pair. For feature vectors
and images that is the squared Euclidean distance of the inputs; for integer
token ids it is not (the difference of two ids means nothing), so integer
inputs need an input distance from the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
import torch
from numpy.typing import NDArray

from repdyn import checks

#: What ``input_distance`` may be: None (squared Euclidean distance of the
#: inputs), a callable ``f(first, second)`` returning one squared distance per
#: pair, an ``(N, N)`` matrix of squared distances indexed by the data set's
#: rows, or (one pair) the number itself.
InputDistance = Union[None, Callable[[torch.Tensor, torch.Tensor], Any], np.ndarray, torch.Tensor, float]

#: What an integer-input run must be told, in every message that says so.
INTEGER_INPUTS_FIX = (
    "integer inputs (token ids) have no squared distance of their own: give input_distance, e.g. "
    "repdyn.track.one_hot_distance (2 per differing position), a function (first, second) -> squared "
    "distances such as the squared distance of your embedding's outputs, or an (N, N) matrix; or cast "
    "numeric features to float"
)


def input_distances(
    input_distance: InputDistance,
    points: torch.Tensor,
    first: torch.Tensor,
    second: torch.Tensor,
    rows: NDArray[np.int64],
) -> NDArray[np.float64]:
    """``dx2`` of every pair, float64 on the host.

    Parameters
    ----------
    input_distance : None, callable, (N, N) array or float
        See :data:`InputDistance`.
    points : Tensor, shape (P, ...)
        The pairs' distinct inputs, as the model reads them.
    first, second : Tensor of int64, shape (K,)
        Each pair's two points as rows of ``points``.
    rows : ndarray of int64, shape (K, 2)
        Each pair's two points as rows of the data set (what a matrix is indexed by).

    Raises
    ------
    repdyn.checks.BadArgument
        ``input_distance`` is of the wrong kind or gives negative, non-finite
        or wrongly shaped distances; or the inputs are integers and none was given.
    """
    n_pairs = len(rows)
    if input_distance is None:
        if not points.is_floating_point():
            raise checks.ArgumentValueError("input_distance", f"input_distance is missing: {INTEGER_INPUTS_FIX}")
        flat = points.reshape(len(points), -1).to(torch.float64)
        diff = flat[first] - flat[second]
        return (diff * diff).sum(dim=1).cpu().numpy()
    if callable(input_distance):
        with torch.no_grad():
            value = input_distance(points[first], points[second])
        if isinstance(value, torch.Tensor):
            value = value.detach().to(torch.float64).cpu().numpy()
        return _checked(np.asarray(value, dtype=np.float64).reshape(-1) if np.ndim(value) else
                        np.full(1, float(value)), n_pairs, "what input_distance returned")
    if isinstance(input_distance, torch.Tensor):
        input_distance = input_distance.detach().cpu().numpy()
    if isinstance(input_distance, np.ndarray) and input_distance.ndim == 2:
        n = int(rows.max()) + 1
        if input_distance.shape[0] != input_distance.shape[1] or input_distance.shape[0] < n:
            raise checks.ArgumentValueError(
                "input_distance", f"input_distance must be a square (N, N) matrix over the data set's points "
                f"(N >= {n}); got shape {input_distance.shape}")
        matrix = checks.real_array("input_distance", input_distance)
        return _checked(matrix[rows[:, 0], rows[:, 1]], n_pairs, "input_distance")
    if n_pairs == 1:
        value = checks.real("input_distance", input_distance, at_least=0)
        return np.full(1, value)
    raise checks.ArgumentTypeError(
        "input_distance", "input_distance must be None, a function (first, second) -> squared distances, or an "
        f"(N, N) matrix; got {checks.describe(input_distance)}")


def _checked(values: NDArray[np.float64], n_pairs: int, what: str) -> NDArray[np.float64]:
    if values.shape != (n_pairs,):
        raise checks.ArgumentValueError(
            "input_distance", f"{what} must hold one squared distance per pair ({n_pairs}); got shape {values.shape}")
    return checks.real_array("input_distance", values, at_least=0,
                             fix="Squared distances are finite and >= 0")


def one_hot_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Squared distance of one-hot encoded token sequences: 2 for every position whose tokens differ.

    ``first`` and ``second`` hold integer token ids of shape ``(K, ...)``; a
    token sequence one-hot encoded is a 0/1 array with one 1 per position, so
    two sequences lie ``2 x (number of differing positions)`` apart.
    """
    return 2.0 * (first != second).reshape(len(first), -1).sum(dim=1).to(torch.float64)
