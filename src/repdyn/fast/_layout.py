"""Which trainer runs a trial, which networks the fast paths can train, and what to read from them.

:func:`choose_trainer` decides from the architecture and the options alone.
A network qualifies for the hand-written fast paths when it is a plain
:class:`repdyn.nets.Network` of the ``mlp`` variant trained by plain SGD: a
chain of ``nn.Linear`` layers with biases and nonlinearities of
:data:`repdyn.nets.NONLINEARITY_TABLE`, no skips, no dropout, every parameter
trainable. Trained in a batch, every other network of Tables 1 and 2 takes
the functional engine (``torch.func`` over stacked parameters); trained one
by one, it goes through :func:`repdyn.track.track_pair`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from repdyn.nets import OPTIMIZERS, ArchSpec, Block, Network, Nonlinearity
from repdyn.track import resolve_layers

_FLOATS = (torch.float32, torch.float64)

#: The trainers of a two-point trial, as :func:`choose_trainer` names them.
FAST, BATCHED, FUNCTIONAL, AUTOGRAD = "fast", "batched", "functional", "autograd"
TRAINERS = (FAST, BATCHED, FUNCTIONAL, AUTOGRAD)
_HIDDEN = re.compile(r"hidden\.(\d+)(\.activation|\.connection)?")


@dataclass(frozen=True)
class Tap:
    """Where a tracked layer's representation comes from in the hand-written forward.

    ``layer`` indexes the weight layers (the output layer is the last);
    ``pre`` means the pre-activation ``z`` rather than ``phi(z)``.
    """

    name: str
    layer: int
    pre: bool


@dataclass(frozen=True)
class Layout:
    """The pieces of a qualifying network, in forward order (output layer last)."""

    linears: tuple[nn.Linear, ...]
    activations: tuple[Nonlinearity, ...]  # one per hidden layer, with its module's constant
    device: torch.device
    dtype: torch.dtype

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple(tuple(layer.weight.shape) for layer in self.linears)


def _spec_reason(spec: ArchSpec, optimizer_name: object) -> str | None:
    """Why no network of ``spec`` trained by ``optimizer_name`` has a fast path, or None.

    The one rule on architectures: every ``mlp`` network that
    :func:`repdyn.nets.build_network` makes passes the structural checks of
    :func:`unsupported_reason`, whatever its nonlinearity.
    """
    if not isinstance(optimizer_name, str) or optimizer_name.strip().lower() != "sgd":
        return f"the fast paths implement plain SGD only; got optimizer {optimizer_name!r}"
    if spec.variant != "mlp":
        return f"the fast paths implement the 'mlp' variant only; got {spec.variant!r}"
    return None


def choose_trainer(
    spec: ArchSpec,
    optimizer: str | None = None,
    *,
    device: torch.device | str = "cpu",
    batched: bool = False,
    kernel_rates: bool = False,
) -> str:
    """Which trainer computes a two-point trial of ``spec``, from the spec and options alone.

    Builds no network: the answer holds for every network that
    :func:`repdyn.nets.build_network` makes from ``spec`` (it agrees with
    :func:`supports_fast_path` on those).

    Parameters
    ----------
    spec : repdyn.nets.ArchSpec
        The architecture (its ``variant``, and its ``optimizer`` unless given).
    optimizer : str, optional
        The optimiser the run uses; default ``spec.optimizer``.
    device : torch.device or str, default "cpu"
        Where the trial trains.
    batched : bool, default False
        Whether trials of one architecture are trained together
        (:func:`train_pairs_batched`).
    kernel_rates : bool, default False
        Whether the run measures kernel rates (``kernel_every``): only
        :func:`repdyn.track.track_pair` can, so the answer is ``"autograd"``.

    Returns
    -------
    str
        One of :data:`TRAINERS`. In a batch: ``"batched"`` (the
        hand-written batched kernels) for a plain-SGD ``mlp`` and
        ``"functional"`` (``torch.func`` over stacked parameters) for every
        other variant and optimiser of :data:`repdyn.nets.VARIANTS` and
        :data:`repdyn.nets.OPTIMIZERS`. One by one on the CPU: ``"fast"``
        (:func:`train_pair_fast`, the hand-written CPU path) for a plain-SGD
        ``mlp``, ``"autograd"`` (:func:`repdyn.track.track_pair`) for every
        other variant and optimiser. One by one on another device: the
        batched engine's answer, as a batch of one, so that a trial's result
        does not depend on whether it ran alone or in a batch (dropout draws
        the same masks). ``"autograd"`` for an optimiser the batched engine
        does not implement, and for a run with kernel rates.
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"spec must be a repdyn.nets.ArchSpec; got {type(spec).__name__}")
    for flag_name, flag in (("batched", batched), ("kernel_rates", kernel_rates)):
        if not isinstance(flag, bool):
            raise TypeError(f"{flag_name} must be True or False; got {flag!r}")
    if kernel_rates:
        return AUTOGRAD
    name = spec.optimizer if optimizer is None else optimizer
    hand_written = _spec_reason(spec, name) is None
    if batched or torch.device(device).type != "cpu":
        # Measured (benchmarks/bench_batched.py): on the CPU the hand-written
        # kernels train a plain-SGD MLP batch faster than torch.func, and they
        # move fewer bytes per step (no gradient tensors), the bound on a GPU.
        if hand_written:
            return BATCHED
        known = isinstance(name, str) and name.strip().lower() in OPTIMIZERS
        return FUNCTIONAL if known else AUTOGRAD
    return FAST if hand_written else AUTOGRAD


def network_reason(network: object, engine: str) -> str | None:
    """Why ``engine`` (its name, for the message) cannot train ``network`` at all, or None.

    What every engine besides autograd needs: a :class:`repdyn.nets.Network`
    with its own forward, every parameter trainable, on one device in one
    float dtype.
    """
    if not isinstance(network, Network):
        return f"{engine} trains repdyn.nets.Network models only; got {type(network).__name__}"
    if type(network).forward is not Network.forward:
        return f"the network overrides forward(); {engine} assumes Network's own forward"
    params = list(network.parameters())
    if any(not p.requires_grad for p in params):
        return "some parameters are frozen (requires_grad=False); the optimiser would not update them"
    if len({(p.device, p.dtype) for p in params}) != 1 or params[0].dtype not in _FLOATS:
        return "parameters must all share one device and be float32 or float64"
    return None


def unsupported_reason(network: object, optimizer_name: object) -> str | None:
    """Why the fast paths cannot train ``network`` with ``optimizer_name``, or None if they can."""
    reason = network_reason(network, "the fast paths")
    if reason is not None:
        return reason
    reason = _spec_reason(network.spec, optimizer_name)
    if reason is not None:
        return reason
    for k, block in enumerate(network.hidden):
        if type(block) is not Block or block.in_channels is not None:
            return f"hidden layer {k} is not a plain linear Block"
        if type(block.connection) is not nn.Linear or block.connection.bias is None:
            return f"hidden layer {k} is not an nn.Linear with a bias"
        if Nonlinearity.of(block.activation) is None:
            return f"hidden layer {k} has an unknown activation {type(block.activation).__name__}"
    if type(network.output) is not nn.Linear or network.output.bias is None:
        return "the output layer is not an nn.Linear with a bias"
    if network.skip or type(network.dropout) is not nn.Identity:
        return "the network has skips or dropout"
    return None


def supports_fast_path(network: object, optimizer_name: object) -> bool:
    """Whether :func:`train_pair_fast` and :func:`train_pairs_batched` can train ``network``.

    For a network built from a spec, :func:`choose_trainer` answers from the
    spec alone; this also checks a network changed after it was built.

    Parameters
    ----------
    network : object
        Usually a :class:`repdyn.nets.Network`.
    optimizer_name : str
        The optimiser the run would use (``ArchSpec.optimizer``); only
        ``"sgd"`` (plain, no momentum) has a fast path.

    Returns
    -------
    bool
        True for the ``mlp`` variant with any nonlinearity, float32 or
        float64, trained with SGD; False for other variants, Adam, or a
        modified network. Never raises.
    """
    return unsupported_reason(network, optimizer_name) is None


def layout(network: Network) -> Layout:
    """The layout of a network that :func:`unsupported_reason` accepted."""
    blocks = list(network.hidden)
    first = network.output.weight
    return Layout(
        linears=(*(block.connection for block in blocks), network.output),
        activations=tuple(Nonlinearity.of(block.activation) for block in blocks),
        device=first.device,
        dtype=first.dtype,
    )


def require_layout(network: object) -> Layout:
    """The layout, or a ValueError that says why the fast path does not apply."""
    reason = unsupported_reason(network, "sgd")
    if reason is not None:
        raise ValueError(
            f"network cannot use the fast path: {reason}. Train it with "
            "repdyn.track.track_pair instead (check with supports_fast_path first)"
        )
    return layout(network)


def taps(network: Network, layers: object) -> tuple[Tap, ...]:
    """Resolve ``layers`` as :func:`repdyn.track.resolve_layers` does, then locate each.

    ``hidden.k`` and ``hidden.k.activation`` are the representation after the
    nonlinearity, ``hidden.k.connection`` the one before it, and ``output``
    (or ``""``, the whole model) the prediction.
    """
    n_hidden = len(network.hidden)
    found = []
    for name in resolve_layers(network, layers):
        match = _HIDDEN.fullmatch(name)
        if match is not None:
            found.append(Tap(name, int(match.group(1)), match.group(2) == ".connection"))
        elif name in ("output", ""):
            found.append(Tap(name, n_hidden, True))
        else:
            raise ValueError(
                f"layers: the fast path cannot track {name!r}; track a hidden layer "
                "('hidden.k', 'hidden.k.connection', 'hidden.k.activation') or 'output', or "
                "use repdyn.track.track_pair"
            )
    return tuple(found)
