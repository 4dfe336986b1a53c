"""The architectures of the paper's Tables 1 and 2, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from repdyn.nets._spec import ArchSpec, normalise_key

# Table 1 (two-point data, 6000 epochs): name, nonlinearity, gain, lr, units,
# hidden layers, variant.
_TABLE1_ROWS = (
    ("default", "leaky_relu", 1.0, 0.005, 500, 20, "mlp"),
    ("convolution", "leaky_relu", 0.95, 0.002, 500, 10, "convolution"),
    ("skip", "leaky_relu", 0.1, 0.01, 500, 20, "skip"),
    ("shallow", "leaky_relu", 0.35, 0.01, 500, 2, "mlp"),
    ("narrow", "leaky_relu", 1.05, 0.005, 50, 20, "mlp"),
    ("dropout", "leaky_relu", 1.0, 0.005, 500, 10, "dropout"),
    ("linear", "none", 0.85, 0.00125, 500, 20, "mlp"),
    ("relu", "relu", 1.0, 0.005, 500, 20, "mlp"),
    ("elu", "elu", 0.95, 0.00045, 500, 20, "mlp"),
    ("tanh", "tanh", 0.85, 0.00125, 500, 20, "mlp"),
    ("swish", "swish", 1.7, 0.0025, 500, 20, "mlp"),
    ("low init", "leaky_relu", 0.9, 0.015, 500, 20, "mlp"),
    ("intermediate init", "leaky_relu", 1.1, 0.0025, 500, 20, "mlp"),
    ("high init", "leaky_relu", 1.3, 0.00075, 500, 20, "mlp"),
    ("very high init", "leaky_relu", 1.4, 0.00025, 500, 20, "mlp"),
)

# Table 2: name, nonlinearity, gain, lr, epochs, units, hidden layers.
# XOR low as printed (gain 0.7, lr 0.015, 1000 epochs) does not train: the
# 20-layer network stays on the plateau where it predicts the mean. The
# authors' own settings file for that network has gain 0.85, lr 0.015 and
# 3000 epochs, which train; those are used here.
_TABLE2_ROWS = (
    ("xor low", "leaky_relu", 0.85, 0.015, 3000, 500, 20),
    ("xor intermediate", "leaky_relu", 1.25, 0.002, 1000, 500, 20),
    ("xor high", "leaky_relu", 2.0, 0.000000003, 1000, 500, 20),
    ("xor 2 layers", "leaky_relu", 0.0015, 0.03, 40000, 500, 1),
    ("blobs very low", "tanh", 0.275, 0.05, 2000, 100, 4),
    ("blobs low", "tanh", 0.5, 0.015, 1500, 100, 4),
    ("blobs high", "tanh", 2.0, 0.0015, 750, 100, 4),
    ("mnist", "leaky_relu", 0.5, 0.002, 500, 100, 4),
)

_SPECS: dict[str, ArchSpec] = {}
for _name, _nl, _gain, _lr, _units, _layers, _variant in _TABLE1_ROWS:
    _SPECS[_name] = ArchSpec(
        name=_name, nonlinearity=_nl, gain=_gain, lr=_lr, units=_units,
        hidden_layers=_layers, epochs=6000, variant=_variant,
    )  # fmt: skip
for _name, _nl, _gain, _lr, _epochs, _units, _layers in _TABLE2_ROWS:
    _SPECS[_name] = ArchSpec(
        name=_name, nonlinearity=_nl, gain=_gain, lr=_lr, units=_units,
        hidden_layers=_layers, epochs=_epochs,
    )  # fmt: skip

#: Names of the Table 1 (two-point) architectures, in table order.
TABLE1: tuple[str, ...] = tuple(row[0] for row in _TABLE1_ROWS)
#: Names of the Table 2 (XOR, blobs, MNIST) architectures, in table order.
TABLE2: tuple[str, ...] = tuple(row[0] for row in _TABLE2_ROWS)
#: Every registered architecture by canonical (lower-case) name.
ARCHITECTURES: Mapping[str, ArchSpec] = MappingProxyType(_SPECS)


#: Adam learning rates documented for Table 1 networks at their table width
#: and 6000 epochs. The authors' settings file trains the default network
#: with Adam at lr 1e-6 for 3000 epochs; their notebook halves every two-point
#: learning rate and doubles the epochs (as it does for SGD, which is how
#: Table 1 came about), giving 5e-7 for 6000 epochs. No other network has a
#: documented Adam rate.
ADAM_LEARNING_RATES: Mapping[str, float] = MappingProxyType({"default": 5e-7})


def adam_learning_rate(name: str) -> float:
    """The documented Adam learning rate of the registered architecture ``name``.

    Raises
    ------
    ValueError
        If that architecture has no documented Adam rate; the message says to
        pass one.
    """
    spec = get_architecture(name)
    if spec.name not in ADAM_LEARNING_RATES:
        documented = ", ".join(repr(n) for n in ADAM_LEARNING_RATES)
        raise ValueError(
            f"{spec.name!r} has no documented Adam learning rate (only {documented} has); "
            "pass one with --lr (lr=...)"
        )
    return ADAM_LEARNING_RATES[spec.name]


def get_architecture(name: str) -> ArchSpec:
    """The registered architecture called ``name``.

    Matching ignores case and treats runs of spaces, ``_`` and ``-`` alike, so
    ``"Low_Init"`` and ``"low-init"`` both find ``"low init"``.

    Raises
    ------
    ValueError
        If no architecture has that name; the message lists every valid name.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string naming an architecture; got {type(name).__name__}")
    spec = _SPECS.get(normalise_key(name))
    if spec is None:
        valid = ", ".join(repr(n) for n in _SPECS)
        raise ValueError(f"unknown architecture {name!r}; valid names: {valid}")
    return spec
