"""Which submodules to track, and forward hooks that measure ``h`` at them.

A layer is named the way :meth:`torch.nn.Module.named_modules` names it
(``"encoder.2"``, ``"blocks.0.mlp"``; ``""`` is the whole model, whose output
is the prediction). The hooks compute ``h = ||f(x1) - f(x2)||^2`` inside the
forward pass itself, as soon as the layer has produced its output: a later
in-place operation (``nn.ReLU(inplace=True)``) cannot change what was measured,
and no activation is kept alive beyond the forward pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Self

import torch
from torch import nn

ALL_HIDDEN = "all"
"""Pass as ``layers`` to track every hidden layer the model declares."""

LayerSpec = str | nn.Module | Sequence[str | nn.Module] | None


def resolve_layers(model: nn.Module, layers: LayerSpec) -> tuple[str, ...]:
    """Turn a layer specification into a tuple of submodule names.

    Parameters
    ----------
    model : nn.Module
        The model whose submodules are tracked.
    layers : str, nn.Module, sequence of those, or None
        - a submodule name, or the submodule object itself;
        - a sequence of names or submodules (order kept, duplicates removed);
        - ``"all"``: every name in ``model.hidden_layer_names`` (an attribute a
          model may declare, as the networks of :mod:`repdyn.nets` do);
        - ``None``: the single layer named by ``model.tracked_layer``.

    Returns
    -------
    tuple of str
        Submodule names, each valid for ``dict(model.named_modules())``.

    Raises
    ------
    ValueError
        A name that is not a submodule (the message lists the closest names),
        a submodule object that does not belong to ``model``, an empty list, or
        ``"all"``/``None`` on a model that does not declare its layers.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    # Keep aliases: a module reachable under two names can be named by either.
    named = dict(model.named_modules(remove_duplicate=False))
    if layers is None:
        declared = getattr(model, "tracked_layer", None)
        if not isinstance(declared, str):
            raise ValueError(
                "layers=None asks for the model's own tracked layer, but this model has no string "
                "attribute `tracked_layer`; pass the submodule name to track, e.g. "
                f"layers={_example_name(named)!r}"
            )
        items: list[str | nn.Module] = [declared]
    elif isinstance(layers, str) and layers == ALL_HIDDEN and ALL_HIDDEN not in named:
        declared = getattr(model, "hidden_layer_names", None)
        if declared is None or isinstance(declared, str) or not isinstance(declared, Iterable):
            raise ValueError(
                'layers="all" needs the model to declare its hidden layers in an attribute '
                "`hidden_layer_names` (a sequence of submodule names), and this model does not; "
                "pass the names to track instead, e.g. layers=[...] from: " + _listing(named)
            )
        items = list(declared)
    elif isinstance(layers, str | nn.Module):
        items = [layers]
    else:
        items = list(layers)
    if not items:
        raise ValueError("layers is empty; name at least one submodule to track")
    by_identity: dict[int, str] = {}
    for name, module in named.items():
        by_identity.setdefault(id(module), name)
    names: list[str] = []
    for item in items:
        if isinstance(item, nn.Module):
            if id(item) not in by_identity:
                raise ValueError(
                    f"layers contains a {type(item).__name__} that is not a submodule of the model; "
                    "pass a submodule of this model (or its name)"
                )
            name = by_identity[id(item)]
        elif isinstance(item, str):
            if item not in named:
                close = difflib.get_close_matches(item, list(named), n=5, cutoff=0.5)
                hint = f" Closest names: {close}." if close else ""
                raise ValueError(
                    f"layers: {item!r} is not a submodule of the model.{hint} Available: "
                    + _listing(named)
                )
            name = item
        else:
            raise TypeError(
                f"layers must hold submodule names (str) or submodules; got {type(item).__name__}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def _listing(named: dict[str, nn.Module], limit: int = 40) -> str:
    shown = [f"{name!r} ({type(module).__name__})" for name, module in named.items() if name]
    extra = f", ... ({len(shown) - limit} more)" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + extra if shown else "(the model has no submodules; use '')"


def _example_name(named: dict[str, nn.Module]) -> str:
    return next((name for name in named if name), "")


class LayerProbe:
    """Forward hooks that write ``h`` of each tracked layer into a device buffer.

    The probe is inactive outside :meth:`armed` so that training forwards on
    other batches (minibatch training) pass through untouched. Each armed
    forward must call every tracked layer exactly once: a module applied
    twice (a shared activation, say) has no single output to measure.
    """

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        modules = dict(model.named_modules(remove_duplicate=False))
        self.names = names
        self._modules = [modules[name] for name in names]
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._target: torch.Tensor | None = None
        self._calls = [0] * len(names)

    def __enter__(self) -> Self:
        for index, module in enumerate(self._modules):
            self._handles.append(module.register_forward_hook(self._hook(index)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def arm(self, target: torch.Tensor) -> None:
        """Write the next forward's ``h`` values into ``target`` (shape ``(n_layers,)``)."""
        self._target = target
        self._calls = [0] * len(self.names)

    def disarm_quietly(self) -> None:
        """Stop recording (also after a failed forward)."""
        self._target = None

    def check_calls(self) -> None:
        """Check that every layer ran exactly once in the forward since :meth:`arm`."""
        for name, calls in zip(self.names, self._calls, strict=True):
            if calls != 1:
                where = f"layer {name!r}" if name else "the model itself (layer '')"
                raise ValueError(
                    f"{where} ran {calls} times in one forward pass; a tracked layer must run "
                    "exactly once per forward. Track a submodule that is called once (if an "
                    "activation module is shared between layers, give each layer its own module "
                    "or track the layer before it)"
                )

    def _hook(self, index: int):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            target = self._target
            if target is None:
                return
            self._calls[index] += 1
            if self._calls[index] > 1:
                return
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {self.names[index]!r} returned a {type(output).__name__}, not a tensor; "
                    "track a submodule whose output is a single tensor"
                )
            if output.ndim == 0 or output.shape[0] != 2:
                raise ValueError(
                    f"layer {self.names[index]!r} returned shape {tuple(output.shape)}; for a pair "
                    "its output must have the batch of 2 points along dimension 0. Track a layer "
                    "that keeps the batch dimension first"
                )
            with torch.no_grad():
                both = output.detach().to(torch.float64).reshape(2, -1)
                diff = both[0] - both[1]
                target[index] = torch.dot(diff, diff)

        return hook
