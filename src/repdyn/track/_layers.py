"""Which submodules to track, and forward hooks that measure ``h`` at them.

A layer is named the way :meth:`torch.nn.Module.named_modules` names it
(``"encoder.2"``, ``"blocks.0.mlp"``; ``""`` is the whole model, whose output
is the prediction). The hooks compute ``h = ||f(x1) - f(x2)||^2`` inside the
forward pass itself, as soon as the layer has produced its output: a later
in-place operation (``nn.ReLU(inplace=True)``) cannot change what was measured,
and no activation is kept alive beyond the forward pass.

A submodule that returns a tuple, a list or a dict (``nn.MultiheadAttention``
returns ``(output, weights)``) is tracked through an element selector after its
name: ``"attn[0]"`` (position) or ``"block[hidden]"`` (key or attribute);
selectors chain (``"block[0][hidden]"``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

import numpy as np

import torch
from torch import nn

from repdyn import checks

ALL_HIDDEN = "all"
"""Pass as ``layers`` to track every hidden layer the model declares."""

LayerSpec = str | nn.Module | Sequence[str | nn.Module] | None

#: A submodule name followed by one or more ``[element]`` selectors.
_SELECTED = re.compile(r"(?P<module>[^\[\]]*)(?P<keys>(\[[^\[\]]+\])+)")
_KEY = re.compile(r"\[([^\[\]]+)\]")


def split_selector(name: str) -> tuple[str, tuple[int | str, ...]]:
    """``"attn[0]"`` -> ``("attn", (0,))``; ``"block[hidden]"`` -> ``("block", ("hidden",))``.

    A key of digits (with an optional minus sign) is a position, any other
    a dict key or attribute name. A name without selector has no keys.
    """
    match = _SELECTED.fullmatch(name)
    if match is None:
        return name, ()
    keys = tuple(
        int(k) if re.fullmatch(r"-?\d+", k) else k.strip("'\"")
        for k in _KEY.findall(match.group("keys"))
    )
    return match.group("module"), keys


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return f"a {type(value).__name__} with keys {list(value)}"
    if isinstance(value, tuple | list):
        kinds = ", ".join(type(v).__name__ for v in value)
        return f"a {type(value).__name__} of {len(value)} elements ({kinds})"
    return f"a {type(value).__name__}"


def _select_hint(name: str, value: object) -> str:
    """How to name one element of a tuple/list/dict output, with this layer's own name."""
    base = split_selector(name)[0]
    if isinstance(value, Mapping):
        key = next((k for k, v in value.items() if isinstance(v, torch.Tensor)), next(iter(value), "key"))
        return f"select one element in the layer name, e.g. {f'{base}[{key}]'!r}"
    index = next((i for i, v in enumerate(value) if isinstance(v, torch.Tensor)), 0)  # type: ignore[arg-type]
    return f"select one element in the layer name, e.g. {f'{base}[{index}]'!r}"


def select_output(name: str, output: object) -> torch.Tensor:
    """The tensor that layer ``name`` (with its selectors) measures in ``output``.

    Raises
    ------
    TypeError
        If the output (or a selected element) is not a tensor: the message says
        how to select an element of a tuple, list or dict.
    ValueError
        If a selector does not match the output (position out of range, no such key).
    """
    value = output
    for key in split_selector(name)[1]:
        try:
            if isinstance(value, Mapping):
                value = value[key]
            elif isinstance(key, int) and isinstance(value, tuple | list):
                value = value[key]
            else:
                value = getattr(value, str(key))
        except (KeyError, IndexError, AttributeError):
            raise ValueError(
                f"layer {name!r}: the selector [{key}] does not match the output, which is "
                f"{_describe(value)}"
            ) from None
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tuple | list | Mapping) and value:
        raise TypeError(
            f"layer {name!r} returned {_describe(value)}, not a tensor; "
            + _select_hint(name, value)
        )
    raise TypeError(
        f"layer {name!r} returned {_describe(value)}, not a tensor; track a submodule (or an "
        "element of its output) that is a single tensor"
    )


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

        A name may end in element selectors, ``"attn[0]"`` or
        ``"block[hidden]"``, to track one element of a tuple, list or dict output.

    Returns
    -------
    tuple of str
        Submodule names (with their selectors), each valid for
        ``dict(model.named_modules())`` once the selectors are removed.

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
            module = split_selector(item)[0]
            if module not in named:
                close = difflib.get_close_matches(module, list(named), n=5, cutoff=0.5)
                hint = f" Closest names: {close}." if close else ""
                raise ValueError(
                    f"layers: {module!r} is not a submodule of the model.{hint} Available: "
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


def row_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a[k] . b[k])`` for every row ``k`` of two ``(K, F)`` tensors, shape ``(K,)``.

    One row takes :func:`torch.dot`, many a batched product: the two round
    differently in the last bits, and the single-pair trainers have always
    measured with :func:`torch.dot`, so one tracked pair keeps its values bit
    for bit whether it is tracked alone or through the many-pair path.
    """
    if a.shape[0] == 1:
        return torch.dot(a[0], b[0]).reshape(1)
    return torch.linalg.vecdot(a, b)


class PairIndex:
    """Tracked pairs as positions in one batch of points: pair ``k`` is ``(first[k], second[k])``.

    Parameters
    ----------
    pairs : array_like of int, shape (K, 2)
        Indices of the pairs' points in a data set.

    Attributes
    ----------
    points : ndarray of int64, shape (P,)
        The distinct points of the pairs, in order of first appearance (one
        pair ``(i, j)`` gives ``[i, j]``): the batch one forward measures.
    first, second : ndarray of int64, shape (K,)
        Positions of each pair's two points in :attr:`points`.
    """

    def __init__(self, pairs: Any) -> None:
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        self.points, inverse = _first_appearance(pairs.reshape(-1))
        self.first, self.second = inverse.reshape(-1, 2).T.copy()

    @classmethod
    def single(cls) -> PairIndex:
        """The one pair of a two-point batch: points 0 and 1."""
        return cls([[0, 1]])

    def __len__(self) -> int:
        return len(self.first)

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``first`` and ``second`` as index tensors on ``device``."""
        return (torch.as_tensor(self.first, device=device), torch.as_tensor(self.second, device=device))


def _first_appearance(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values in order of first appearance, and each value's position among them."""
    distinct, first_at, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first_at, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[inverse.reshape(-1)]


class LayerHooks:
    """A forward hook on each named layer while the object is entered as a context.

    Subclasses define ``_hook(index)``, the hook of layer ``names[index]``.
    """

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        modules = dict(model.named_modules(remove_duplicate=False))
        self.names = names
        self._modules = [modules[split_selector(name)[0]] for name in names]
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> Self:
        for index, module in enumerate(self._modules):
            self._handles.append(module.register_forward_hook(self._hook(index)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, index: int) -> Any:
        raise NotImplementedError


class LayerProbe(LayerHooks):
    """Forward hooks that write ``h`` of each tracked layer and pair into a device buffer.

    The probe is inactive outside :meth:`armed` so that training forwards on
    other batches (minibatch training) pass through untouched. Each armed
    forward must call every tracked layer exactly once: a module applied
    twice (a shared activation, say) has no single output to measure.
    ``batch_dims`` gives, per layer, the dimension of its output that holds
    the points (0 unless the layer is batch-second, as
    ``nn.MultiheadAttention(batch_first=False)``). ``pairs`` says which
    points of the armed forward's batch form each tracked pair (default: the
    two points of a two-point batch).
    """

    def __init__(
        self,
        model: nn.Module,
        names: tuple[str, ...],
        batch_dims: tuple[int, ...] | None = None,
        pairs: PairIndex | None = None,
    ) -> None:
        super().__init__(model, names)
        self.batch_dims = batch_dims if batch_dims is not None else (0,) * len(names)
        self.pairs = PairIndex.single() if pairs is None else pairs
        self.n_points = len(self.pairs.points)
        self._index: tuple[torch.Tensor, torch.Tensor] | None = None
        self._target: torch.Tensor | None = None
        self._calls = [0] * len(names)

    def arm(self, target: torch.Tensor) -> None:
        """Write the next forward's ``h`` values into ``target`` (shape ``(n_layers, n_pairs)``)."""
        if self._index is None or self._index[0].device != target.device:
            self._index = self.pairs.on(target.device)
        self._target = target
        self._calls = [0] * len(self.names)

    def forward(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``model(x)``, with its ``h`` values written into ``target`` (see :meth:`arm`) and every layer checked to run once."""
        self.arm(target)
        try:
            pred = model(x)
        finally:
            self.disarm_quietly()
        self.check_calls()
        return pred

    def disarm_quietly(self) -> None:
        """Stop recording (also after a failed forward)."""
        self._target = None

    def check_calls(self) -> None:
        """Check that every layer ran exactly once in the forward since :meth:`arm`."""
        for name, calls in zip(self.names, self._calls, strict=True):
            where = f"layer {name!r}" if name else "the model itself (layer '')"
            if calls == 0:
                module = split_selector(name)[0]
                parent = module.rpartition(".")[0]
                example = f"{parent}[0]" if parent else "the module that calls it"
                raise ValueError(
                    f"{where} was never called as a module in the forward pass (its forward hook "
                    "did not run), so it has no output to measure. This happens when the model "
                    "uses the submodule only as a holder of parameters (nn.MultiheadAttention "
                    "reads out_proj's weights in a functional call) or skips it in this "
                    f"forward. Track a module that is called instead, e.g. {example!r} (an "
                    "element of the parent's output)"
                )
            if calls > 1:
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
            name, batch_dim = self.names[index], self.batch_dims[index]
            output = select_output(name, output)
            n = self.n_points
            if output.ndim <= batch_dim or output.shape[batch_dim] != n:
                raise ValueError(
                    f"layer {name!r} returned shape {tuple(output.shape)}; its output must hold "
                    f"the {n} measured points along dimension {batch_dim} (batch_dim). Pass "
                    "batch_dim= with the dimension that holds the batch (batch_dim=1 for "
                    "batch_first=False attention), or track a layer that keeps it"
                )
            first, second = self._index  # type: ignore[misc]
            with torch.no_grad():
                points = output.detach().movedim(batch_dim, 0).to(torch.float64).reshape(n, -1)
                diff = points[first] - points[second]
                target[index] = row_dots(diff, diff)

        return hook


def batch_dims(batch_dim: int | Mapping[str, int], names: tuple[str, ...]) -> tuple[int, ...]:
    """Per tracked layer, the output dimension that holds the pair.

    Parameters
    ----------
    batch_dim : int or mapping of str to int
        One dimension for every layer, or one per layer name (layers not named
        keep dimension 0).
    names : tuple of str
        The resolved layer names.
    """
    def valid(value: object, what: str) -> int:
        result = checks.integer(what, value, minimum=0, fix="It is a dimension of the layer's output")
        assert result is not None
        return result

    if isinstance(batch_dim, Mapping):
        unknown = sorted(set(batch_dim) - set(names))
        if unknown:
            raise ValueError(
                f"batch_dim names {unknown}, which are not tracked layers; tracked: {list(names)}"
            )
        return tuple(valid(batch_dim.get(n, 0), f"batch_dim[{n!r}]") for n in names)
    return (valid(batch_dim, "batch_dim"),) * len(names)
