"""A labelled set of points: inputs, targets, optional labels and annotations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from repdyn import checks


def _as_float_tensor(name: str, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point tensor; got dtype {value.dtype}. "
                f"Convert it first, e.g. {name}.float()"
            )
        return value
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a tensor or an array of numbers; got {type(value).__name__}"
        ) from exc


def _as_input_tensor(value: Any) -> Tensor:
    """Inputs as a tensor: floats as given (arrays as float32), integers (token ids) as int64."""
    if isinstance(value, Tensor):
        if value.is_floating_point():
            return value
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"x must hold numbers (floats, or integer token ids); got dtype {value.dtype}")
        return value.long()
    array = np.asarray(value)
    if array.dtype.kind in "iu":
        return torch.as_tensor(array.astype(np.int64))
    if array.dtype.kind == "b":
        raise TypeError("x must hold numbers (floats, or integer token ids); got booleans")
    return _as_float_tensor("x", value)


def validate(x: Tensor, y: Tensor, labels: Tensor | None = None, *, name: str = "points") -> None:
    """Check that inputs, targets and labels form a consistent, finite point set.

    Parameters
    ----------
    x : Tensor
        Inputs, shape ``(N, ...)``: feature vectors ``(N, d_in)``, images
        ``(N, C, H, W)``, or integer token ids ``(N, T)`` (int64).
    y : Tensor
        Targets, shape ``(N, d_out)``, floating point (the dtype of ``x`` if
        that is floating point).
    labels : Tensor or None
        Integer labels, shape ``(N,)``.
    name : str
        Name of the data set, used in error messages.

    Raises
    ------
    ValueError
        On a wrong shape, a mismatch in the number of points, an empty set, or
        NaN/inf anywhere in ``x`` or ``y``.
    TypeError
        On non-tensor arguments or wrong dtypes.
    """
    if not isinstance(x, Tensor) or x.dtype == torch.bool or x.is_complex():
        raise TypeError(
            f"{name}: x must be a torch.Tensor of floats or integer token ids; got "
            f"{type(x).__name__ if not isinstance(x, Tensor) else x.dtype}"
        )
    if not isinstance(y, Tensor) or not y.is_floating_point():
        raise TypeError(f"{name}: y must be a floating-point torch.Tensor; got {type(y).__name__}")
    if x.ndim < 2:
        raise ValueError(
            f"{name}: x must have shape (N, features...); got shape {tuple(x.shape)}. "
            "For one feature per point use x.reshape(-1, 1)"
        )
    if y.ndim != 2:
        raise ValueError(
            f"{name}: y must have shape (N, features); got shape {tuple(y.shape)}. "
            "For one feature per point use y.reshape(-1, 1)"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the point set is empty; give at least one point")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name}: x has {x.shape[0]} points but y has {y.shape[0]}; give one target row per input row"
        )
    if x.is_floating_point() and x.dtype != y.dtype:
        raise TypeError(f"{name}: x and y must share a dtype; got {x.dtype} and {y.dtype}")
    for arg, value in (("x", x), ("y", y)):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = (~torch.isfinite(value)).reshape(value.shape[0], -1).any(dim=1).nonzero().flatten()[:5].tolist()
            raise ValueError(
                f"{name}: {arg} contains NaN or inf (first bad rows: {bad}); clean or drop these points"
            )
    if labels is not None:
        if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.is_complex():
            raise TypeError(f"{name}: labels must be an integer torch.Tensor or None")
        if labels.shape != (x.shape[0],):
            raise ValueError(
                f"{name}: labels must have shape ({x.shape[0]},), one per point; got {tuple(labels.shape)}"
            )


@dataclass(frozen=True, eq=False)
class PointSet:
    """Inputs and targets of a data set, with optional labels and annotations.

    Parameters
    ----------
    x : Tensor
        Inputs, shape ``(N, ...)``: feature vectors, images (kept as
        ``(N, C, H, W)``) or integer token ids (kept as int64). Non-tensor
        float arrays are converted to float32.
    y : Tensor
        Targets, shape ``(N, d_out)``, floating point (the dtype of ``x`` if
        that is floating point).
    labels : Tensor or None
        Integer class or point labels, shape ``(N,)`` (converted to int64).
    name : str
        Short name of the data set.
    meta : Mapping
        Read-only annotations. Tensor values are per-point (first dimension
        ``N``) and are indexed along with the points by :meth:`subset`; other
        values describe the whole set (source, construction settings).

    Notes
    -----
    Equality is identity (tensors have no single truth value); compare fields
    with :func:`torch.equal` instead.
    """

    x: Tensor
    y: Tensor
    labels: Tensor | None = None
    name: str = "points"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = _as_input_tensor(self.x)
        y = _as_float_tensor("y", self.y)
        labels = self.labels
        if labels is not None and not isinstance(labels, Tensor):
            labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if isinstance(labels, Tensor) and not (labels.is_floating_point() or labels.is_complex()):
            labels = labels.long()
        validate(x, y, labels, name=self.name)
        if not isinstance(self.meta, Mapping):
            raise TypeError(
                f"{self.name}: meta must be a mapping (dict); got {type(self.meta).__name__}"
            )
        for key, value in self.meta.items():
            if isinstance(value, Tensor) and (value.ndim == 0 or value.shape[0] != x.shape[0]):
                raise ValueError(
                    f"{self.name}: meta[{key!r}] is a tensor, so it must hold one entry per point "
                    f"(first dimension {x.shape[0]}); got shape {tuple(value.shape)}. "
                    "Store whole-set values as Python scalars or lists"
                )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def in_dim(self) -> int:
        """Number of input features (all trailing dimensions of ``x`` together)."""
        return int(np.prod(self.x.shape[1:]))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input: ``(d_in,)``, ``(C, H, W)`` for images, ``(T,)`` for token ids."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def out_dim(self) -> int:
        """Number of target features."""
        return int(self.y.shape[1])

    def subset(self, indices: Sequence[int] | Tensor, *, name: str | None = None) -> PointSet:
        """The points at ``indices`` (in that order), with labels and per-point meta.

        Parameters
        ----------
        indices : sequence of int or Tensor
            Point indices; negative values count from the end.
        name : str, optional
            Name of the new set; default ``"<name>[i, j, ...]"``.
        """
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        n = len(self)
        if idx.numel() == 0:
            raise ValueError(f"{self.name}: indices is empty; give at least one point index")
        if bool(((idx < -n) | (idx >= n)).any()):
            raise ValueError(
                f"{self.name}: indices must lie in [-{n}, {n - 1}]; got {idx.tolist()}"
            )
        idx = idx % n
        meta = {
            k: (v[idx.to(v.device)] if isinstance(v, Tensor) else v) for k, v in self.meta.items()
        }
        if name is None:
            shown = ", ".join(str(i) for i in idx[:6].tolist()) + (
                ", ..." if idx.numel() > 6 else ""
            )
            name = f"{self.name}[{shown}]"
        return PointSet(
            x=self.x[idx.to(self.x.device)],
            y=self.y[idx.to(self.y.device)],
            labels=None if self.labels is None else self.labels[idx.to(self.labels.device)],
            name=name,
            meta=meta,
        )

    def pair(self, i: int, j: int) -> PointSet:
        """The two points ``i`` and ``j`` as a two-point set (the pair to track)."""
        for arg, value in (("i", i), ("j", j)):
            checks.integer(arg, value, fix="It is a point index")
        if (i - j) % len(self) == 0:
            raise ValueError(f"{self.name}: i and j must name two different points; both are {i}")
        return self.subset([i, j])

    def first_of(self, label: int) -> int:
        """Index of the first point whose label equals ``label``.

        Raises
        ------
        ValueError
            If the set has no labels or no point carries ``label``.
        """
        if self.labels is None:
            raise ValueError(f"{self.name}: this point set has no labels; index points directly")
        hits = (self.labels == int(label)).nonzero().flatten()
        if hits.numel() == 0:
            present = sorted(set(self.labels.tolist()))[:20]
            raise ValueError(f"{self.name}: no point has label {label}; labels present: {present}")
        return int(hits[0])

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> PointSet:
        """A copy on ``device`` with float data cast to ``dtype`` (labels and token ids stay int64)."""
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype; got {dtype}")
        meta = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.meta.items()}
        return PointSet(
            x=self.x.to(device=device, dtype=dtype if self.x.is_floating_point() else None),
            y=self.y.to(device=device, dtype=dtype),
            labels=None if self.labels is None else self.labels.to(device),
            name=self.name,
            meta=meta,
        )

    def __repr__(self) -> str:
        keys = ", ".join(self.meta) or "-"
        return (
            f"PointSet(name={self.name!r}, n={len(self)}, in_dim={self.in_dim}, out_dim={self.out_dim}, "
            f"dtype={self.x.dtype}, labels={'yes' if self.labels is not None else 'no'}, meta: {keys})"
        )
