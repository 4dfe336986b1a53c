"""Optimisers by name."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from repdyn import checks
from repdyn.nets._spec import OPTIMIZERS, normalise_key


def make_optimizer(
    name: str, params: Iterable[torch.Tensor] | Iterable[dict] | nn.Module, *, lr: float
) -> torch.optim.Optimizer:
    """Plain SGD (no momentum, no weight decay) or Adam (PyTorch defaults) by name.

    Parameters
    ----------
    name : {"sgd", "adam"}
        Case-insensitive optimiser name (``ArchSpec.optimizer``).
    params : iterable of tensors or parameter groups, or nn.Module
        What to optimise; a module stands for ``module.parameters()``.
    lr : float
        Learning rate, finite and > 0.

    Raises
    ------
    ValueError
        On an unknown name or a bad learning rate.
    """
    key = normalise_key(name, "_") if isinstance(name, str) else None
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer name must be one of {', '.join(OPTIMIZERS)}; got {name!r}")
    lr = checks.real("lr", lr, above=0)
    if isinstance(params, nn.Module):
        params = params.parameters()
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)
