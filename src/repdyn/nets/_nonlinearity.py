"""The nonlinearities of the networks: one table, read by the spec, the networks and the fast paths.

Each row names a nonlinearity and gives its PyTorch module, the spellings
that :class:`repdyn.nets.ArchSpec` accepts for it, and its forward and
backward written once for numpy and torch (each formula takes the array
namespace ``xp``), so the hand-written engines of :mod:`repdyn.fast` share
one definition of the maths. The formulas follow PyTorch's own kernels (which
branch holds the boundary ``z = 0``, the backward of ``tanh`` from its
output), so the fast paths round the way autograd does to within an ulp or two.

Adding a nonlinearity is adding a row to :data:`NONLINEARITY_TABLE`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np
from torch import nn

#: ``forward(z, xp, c)``: ``phi(z)`` as a new array, ``c`` the module's constant (or None).
Forward = Callable[[Any, ModuleType, Any], Any]
#: ``backward(z, a, g, xp, c)``: the gradient with respect to ``z`` from the
#: gradient ``g`` with respect to ``a = phi(z)``.
Backward = Callable[[Any, Any, Any, ModuleType, Any], Any]


@dataclass(frozen=True)
class Nonlinearity:
    """One nonlinearity: its module, its spellings, and its maths for numpy and torch.

    Attributes
    ----------
    name : str
        The canonical name (``ArchSpec.nonlinearity``).
    module : type of nn.Module
        The module class; ``module()`` is the network's activation (PyTorch's
        default constants, e.g. leaky ReLU's slope 0.01).
    forward_fn, backward_fn : callable
        The maths, see :data:`Forward` and :data:`Backward`; call them through
        :meth:`forward` and :meth:`backward`, which pass :attr:`value`.
    constant : str or None
        The attribute of the module holding the one constant the maths reads
        (``negative_slope``, ``alpha``), or None.
    value : float or None
        That constant's value: PyTorch's default in the table, the module's own
        in :meth:`of`.
    aliases : tuple of str
        Other spellings :class:`ArchSpec` accepts (after lower-casing and
        turning spaces and hyphens into ``_``).
    """

    name: str
    module: type[nn.Module]
    forward_fn: Forward = dataclasses.field(repr=False)
    backward_fn: Backward = dataclasses.field(repr=False)
    constant: str | None = None
    value: float | None = None
    aliases: tuple[str, ...] = ()

    def make(self) -> nn.Module:
        """A fresh activation module with PyTorch's default constants."""
        return self.module()

    def forward(self, z: Any, xp: ModuleType) -> Any:
        """``phi(z)`` as a new array (``z`` is left untouched); ``xp`` is numpy or torch."""
        return self.forward_fn(z, xp, self.value)

    def backward(self, z: Any, a: Any, g: Any, xp: ModuleType) -> Any:
        """The gradient with respect to ``z`` from the gradient ``g`` with respect to ``a = phi(z)``."""
        return self.backward_fn(z, a, g, xp, self.value)

    @classmethod
    def of(cls, module: nn.Module) -> Nonlinearity | None:
        """The row a module computes, with the module's own constant; None if no row is it."""
        for row in NONLINEARITY_TABLE.values():
            if type(module) is row.module:
                if row.constant is None:
                    return row
                return dataclasses.replace(row, value=float(getattr(module, row.constant)))
        return None


def _row(name: str, module: type[nn.Module], forward: Forward, backward: Backward, *,
         constant: str | None = None, aliases: tuple[str, ...] = ()) -> Nonlinearity:  # fmt: skip
    # The table's constant is read from a default module, so it is PyTorch's own.
    value = None if constant is None else float(getattr(module(), constant))
    return Nonlinearity(name, module, forward, backward, constant, value, aliases)


def _relu(z: Any, xp: ModuleType, c: Any) -> Any:
    # maximum / relu keep a NaN as NaN, as torch's relu does; a where() on
    # z > 0 would turn it into 0 and hide a divergence.
    return np.maximum(z, 0) if xp is np else xp.relu(z)


def _swish_backward(z: Any, a: Any, g: Any, xp: ModuleType, c: Any) -> Any:
    sigmoid = 1 / (1 + xp.exp(-z))
    return g * (sigmoid * (1 + z * (1 - sigmoid)))


_ROWS = (
    _row("leaky_relu", nn.LeakyReLU,
         lambda z, xp, c: xp.where(z > 0, z, z * c),
         lambda z, a, g, xp, c: xp.where(z > 0, g, g * c),
         constant="negative_slope", aliases=("leakyrelu",)),
    _row("relu", nn.ReLU, _relu, lambda z, a, g, xp, c: g * (z > 0)),
    _row("elu", nn.ELU,
         lambda z, xp, c: xp.where(z > 0, z, xp.expm1(z) * c),
         lambda z, a, g, xp, c: xp.where(z > 0, g, g * (xp.exp(z) * c)),
         constant="alpha"),
    _row("tanh", nn.Tanh, lambda z, xp, c: xp.tanh(z), lambda z, a, g, xp, c: g * (1 - a * a)),
    # PyTorch's silu formula.
    _row("swish", nn.SiLU, lambda z, xp, c: z / (1 + xp.exp(-z)), _swish_backward,
         aliases=("silu",)),
    _row("none", nn.Identity, lambda z, xp, c: z, lambda z, a, g, xp, c: g,
         aliases=("linear", "identity")),
)  # fmt: skip

#: Canonical name -> :class:`Nonlinearity`, in the order of :data:`NONLINEARITIES`.
NONLINEARITY_TABLE: Mapping[str, Nonlinearity] = MappingProxyType({row.name: row for row in _ROWS})

#: The canonical nonlinearity names.
NONLINEARITIES = tuple(NONLINEARITY_TABLE)

#: Every accepted spelling (normalised) -> canonical name.
NONLINEARITY_ALIASES: Mapping[str, str] = MappingProxyType(
    {spelling: row.name for row in _ROWS for spelling in (row.name, *row.aliases)}
)


def make_activation(nonlinearity: str) -> nn.Module:
    """A fresh activation module for a (canonical) nonlinearity name."""
    if nonlinearity not in NONLINEARITY_TABLE:
        raise ValueError(
            f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}"
        )
    return NONLINEARITY_TABLE[nonlinearity].make()
