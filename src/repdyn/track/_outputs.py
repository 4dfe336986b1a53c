"""The representations of many points at named layers, from forward hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.track import _checks as check
from repdyn.track._layers import LayerSpec, batch_dims, resolve_layers, select_output, split_selector
from repdyn.track._record import measuring_mode

#: Points per forward: bounds the activations held at once, not the result.
DEFAULT_BATCH = 1024


def layer_outputs(
    model: nn.Module,
    layers: LayerSpec,
    x: Any,
    *,
    measure: str = "eval",
    batch_dim: int | Mapping[str, int] = 0,
    batch_size: int = DEFAULT_BATCH,
) -> dict[str, np.ndarray]:
    """Each tracked layer's output for every point of ``x``, flattened per point.

    Parameters
    ----------
    model, layers, batch_dim
        As for :func:`track_pair` (``layers`` resolved by :func:`resolve_layers`).
    x : array_like or Tensor, shape (N, ...)
        The points (floats cast to the model's device and dtype; integer token ids kept).
    measure : {"eval", "train"}, default "eval"
        Mode of the forward passes (``"train"`` leaves the model's mode as it is).
    batch_size : int
        Points per forward pass.

    Returns
    -------
    dict
        Layer name -> array of shape ``(N, features)`` in the model's dtype,
        on the host, in the order of the resolved layers. The weights are not
        changed; no gradients are kept.
    """
    measure = check.measure_mode(measure)
    batch_size = check.positive_int("batch_size", batch_size)
    device, dtype = check.model_placement(model)
    names = resolve_layers(model, layers)
    dims = dict(zip(names, batch_dims(batch_dim, names), strict=True))
    x = check.inputs("x", x, dtype=dtype, device=device)
    modules = dict(model.named_modules(remove_duplicate=False))
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in names}

    def hook(name: str):
        def keep(_module: nn.Module, _inputs: object, output: object) -> None:
            value = select_output(name, output).detach().movedim(dims[name], 0)
            captured[name].append(value.reshape(value.shape[0], -1).cpu())

        return keep

    handles = [modules[split_selector(name)[0]].register_forward_hook(hook(name)) for name in names]
    try:
        with torch.no_grad(), measuring_mode(model, measure):
            for begin in range(0, x.shape[0], batch_size):
                before = {name: len(parts) for name, parts in captured.items()}
                model(x[begin : begin + batch_size])
                for name in names:
                    if len(captured[name]) != before[name] + 1:
                        raise ValueError(
                            f"layer {name!r} ran {len(captured[name]) - before[name]} times in one "
                            "forward pass; a tracked layer must run exactly once per forward"
                        )
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(captured[name]).numpy() for name in names}
