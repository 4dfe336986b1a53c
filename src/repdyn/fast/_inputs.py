"""Argument checks shared by the fast paths.

Each raises ValueError (TypeError for a wrong kind of object) whose message
names the argument, what is expected, and how to fix the call.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

# Shared with repdyn.track, so both engines reject the same input the same way.
from repdyn.track import check_count as count
from repdyn.track import check_loss_threshold as threshold
from repdyn.track import renamed_keywords


def no_kernel_rates(kernel_every: Any) -> None:
    """The engines of this package do not measure kernel rates: refuse the option."""
    if kernel_every is not None:
        raise ValueError(
            f"kernel_every={kernel_every!r}: the fast and batched engines do not measure kernel "
            "rates; train with "
            "repdyn.track.track_pair(..., kernel_every=...) instead (choose_trainer(..., "
            "kernel_rates=True) names it)"
        )


def learning_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"lr must be a real number > 0 (the SGD learning rate); got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"lr must be finite and > 0; got {value!r}")
    return float(value)


def points(
    name: str, value: Any, *, width: int, dtype: torch.dtype, leading: tuple[int, ...] = ()
) -> torch.Tensor:
    """``value`` as a finite CPU tensor of shape ``(*leading, 2, width)`` in ``dtype``.

    A single pair of shape ``(2, width)`` is broadcast over ``leading``.
    """
    if isinstance(value, torch.Tensor):
        out = value.detach()
    else:
        try:
            out = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"{name} must be a numeric array or tensor; got {type(value).__name__}"
            ) from exc
    if (
        out.is_complex()
        or out.dtype == torch.bool
        or not (out.is_floating_point() or out.dtype in (torch.int32, torch.int64))
    ):
        raise TypeError(f"{name} must hold real numbers; got dtype {out.dtype}")
    shape = (*leading, 2, width)
    if tuple(out.shape) == (2, width) and leading:
        out = out.expand(shape)
    if tuple(out.shape) != shape:
        expected = f"{shape}" + (f" or {(2, width)}" if leading else "")
        raise ValueError(
            f"{name} must have shape {expected} (the pair's two points, {width} features each, "
            f"to match the network); got {tuple(out.shape)}"
        )
    out = out.to(device="cpu", dtype=dtype).contiguous()
    if not bool(torch.isfinite(out).all()):
        bad = int((~torch.isfinite(out)).sum())
        raise ValueError(f"{name} contains {bad} NaN or inf value(s); pass finite points")
    return out


def squared_distances(pairs: torch.Tensor, name: str, *, strict: bool) -> np.ndarray:
    """``||p[..., 0, :] - p[..., 1, :]||^2`` in float64; ``strict`` forbids zeros."""
    diff = pairs[..., 0, :].to(torch.float64) - pairs[..., 1, :].to(torch.float64)
    out = (diff * diff).sum(-1).numpy()
    if strict and (out == 0).any():
        raise ValueError(
            f"{name} holds two identical inputs (dx2 = 0): their representations can never "
            "differ; pass a pair of distinct inputs"
        )
    return out
