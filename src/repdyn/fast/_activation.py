"""The nonlinearities of :mod:`repdyn.nets`, written once for numpy and torch.

Each function takes the array namespace (``numpy`` or ``torch``) so the CPU
engine and the batched engine share one definition of the maths. The formulas
follow PyTorch's own kernels (which branch holds the boundary ``z = 0``, the
backward of ``tanh`` from its output), so the fast paths round the way
autograd does to within an ulp or two.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from torch import nn

KINDS = ("none", "leaky_relu", "relu", "elu", "tanh", "swish")


@dataclass(frozen=True)
class Activation:
    """A nonlinearity with its constants.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    slope : float
        Negative slope of ``leaky_relu``.
    alpha : float
        Scale of the negative branch of ``elu``.
    """

    kind: str
    slope: float = 0.01
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")

    @classmethod
    def of(cls, module: nn.Module) -> Activation | None:
        """The activation a module computes, or None if the fast paths do not know it."""
        kind = type(module)
        if kind is nn.Identity:
            return cls("none")
        if kind is nn.LeakyReLU:
            return cls("leaky_relu", slope=float(module.negative_slope))
        if kind is nn.ReLU:
            return cls("relu")
        if kind is nn.ELU:
            return cls("elu", alpha=float(module.alpha))
        if kind is nn.Tanh:
            return cls("tanh")
        if kind is nn.SiLU:
            return cls("swish")
        return None

    def forward(self, z: Any, xp: ModuleType) -> Any:
        """``phi(z)`` as a new array (``z`` is left untouched)."""
        kind = self.kind
        if kind == "none":
            return z
        if kind == "leaky_relu":
            return xp.where(z > 0, z, z * self.slope)
        if kind == "relu":
            # maximum / relu keep a NaN as NaN, as torch's relu does; a
            # where() on z > 0 would turn it into 0 and hide a divergence.
            return np.maximum(z, 0) if xp is np else xp.relu(z)
        if kind == "elu":
            return xp.where(z > 0, z, xp.expm1(z) * self.alpha)
        if kind == "tanh":
            return xp.tanh(z)
        return z / (1 + xp.exp(-z))  # swish: PyTorch's silu formula

    def backward(self, z: Any, a: Any, g: Any, xp: ModuleType) -> Any:
        """Gradient with respect to ``z`` from the gradient ``g`` with respect to ``a = phi(z)``."""
        kind = self.kind
        if kind == "none":
            return g
        if kind == "leaky_relu":
            return xp.where(z > 0, g, g * self.slope)
        if kind == "relu":
            return g * (z > 0)
        if kind == "elu":
            return xp.where(z > 0, g, g * (xp.exp(z) * self.alpha))
        if kind == "tanh":
            return g * (1 - a * a)
        sigmoid = 1 / (1 + xp.exp(-z))
        return g * (sigmoid * (1 + z * (1 - sigmoid)))
