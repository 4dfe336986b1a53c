"""The data sets' one check of their own: a floating dtype (numbers and counts: :mod:`repdyn.checks`)."""

from __future__ import annotations

import torch


def check_dtype(dtype: torch.dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating-point torch.dtype such as torch.float32; got {dtype!r}"
        )
