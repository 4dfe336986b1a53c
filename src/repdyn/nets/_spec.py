"""Architecture specifications: one frozen, validated record per network."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from repdyn import checks
from repdyn.nets._nonlinearity import NONLINEARITIES, NONLINEARITY_ALIASES

VARIANTS = ("mlp", "convolution", "skip", "dropout")
OPTIMIZERS = ("sgd", "adam")


def normalise_key(text: str, sep: str = " ") -> str:
    """Lower-case ``text`` and collapse runs of spaces, ``_`` and ``-`` into ``sep``."""
    return re.sub(r"[\s_\-]+", sep, text.strip().lower())


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` spelled as :func:`normalise_key` spells it, if that is one of ``choices``."""
    key = normalise_key(value, "_") if isinstance(value, str) else value
    return str(checks.choice(name, key, choices))


@dataclass(frozen=True)
class ArchSpec:
    """One network architecture with its training settings (a row of Table 1 or 2).

    The defaults are the paper's ``default`` two-point network.

    Parameters
    ----------
    name : str
        Name of the architecture.
    nonlinearity : str
        One of ``leaky_relu`` (PyTorch's default slope 0.01), ``relu``, ``elu``,
        ``tanh``, ``swish`` (SiLU) or ``none`` (linear network). Case,
        spaces and hyphens are ignored; ``silu`` and ``linear`` are aliases
        (the names and spellings are rows of :data:`NONLINEARITY_TABLE`).
    gain : float
        Xavier-normal gain: every weight has std ``gain * sqrt(2 / (fan_in + fan_out))``.
    lr : float
        Learning rate.
    units : int
        Width of every hidden layer (for ``convolution``: the signal length).
    hidden_layers : int
        Number of hidden layers ``L`` (the network has ``L + 1`` weight layers).
    epochs : int
        Training epochs used in the paper.
    variant : str
        ``mlp``, ``convolution``, ``skip`` or ``dropout`` (see ``docs/architectures.md``).
    optimizer : str
        ``sgd`` (plain, no momentum) or ``adam``.
    dropout : float
        Drop probability in [0, 1) of the ``dropout`` variant; ignored by the others.
    channels : int
        Channels of the ``convolution`` variant; ignored by the others.
    kernel_size : int
        Odd kernel size of the ``convolution`` variant; ignored by the others.
    """

    name: str = "default"
    nonlinearity: str = "leaky_relu"
    gain: float = 1.0
    lr: float = 0.005
    units: int = 500
    hidden_layers: int = 20
    epochs: int = 6000
    variant: str = "mlp"
    optimizer: str = "sgd"
    dropout: float = 0.1
    channels: int = 20
    kernel_size: int = 11

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"name must be a non-empty string; got {self.name!r}")
        nonlinearity = self.nonlinearity
        key = normalise_key(nonlinearity, "_") if isinstance(nonlinearity, str) else None
        if key not in NONLINEARITY_ALIASES:
            raise ValueError(
                f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}"
            )
        fields = {
            "nonlinearity": NONLINEARITY_ALIASES[key],
            "gain": checks.real("gain", self.gain, above=0),
            "lr": checks.real("lr", self.lr, above=0),
            "units": checks.integer("units", self.units, minimum=1),
            "hidden_layers": checks.integer("hidden_layers", self.hidden_layers, minimum=1),
            "epochs": checks.integer("epochs", self.epochs, minimum=1),
            "variant": _choice("variant", self.variant, VARIANTS),
            "optimizer": _choice("optimizer", self.optimizer, OPTIMIZERS),
            "channels": checks.integer("channels", self.channels, minimum=1),
            "kernel_size": checks.integer("kernel_size", self.kernel_size, minimum=1),
            "dropout": checks.real("dropout", self.dropout, at_least=0, below=1,
                                   fix="Dropout is a probability"),
        }
        if fields["kernel_size"] % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd so that 'same' padding is symmetric; got {self.kernel_size}"
            )
        # Frozen: normalised values are written once, here.
        for key_, value in fields.items():
            object.__setattr__(self, key_, value)

    def replace(self, **changes: Any) -> ArchSpec:
        """A copy with ``changes`` applied and validated (e.g. ``hidden_layers=4``)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(
                f"unknown ArchSpec field(s) {unknown}; valid fields: {self.field_names()}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-able form; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Build a spec from :meth:`to_dict` output; unknown keys are an error."""
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown ArchSpec key(s) {unknown}; valid keys: {cls.field_names()}")
        return cls(**data)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of all fields, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))
