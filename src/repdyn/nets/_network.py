"""The paper's networks as PyTorch modules with named hidden layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

from repdyn import checks
from repdyn.nets._nonlinearity import make_activation
from repdyn.nets._registry import get_architecture
from repdyn.nets._spec import ArchSpec

M = TypeVar("M", bound=nn.Module)


def tracked_layer_index(hidden_layers: int) -> int:
    """0-based index of the hidden layer the paper's experiments track: ``L // 2``.

    The authors' public code records hidden layer ``L // 2`` counted from 0
    (their settings: ``hidden_layer 10`` for 20 layers, 5 for 10, 2 for 4,
    1 for 2 and 0 for 1); repdyn tracks the same layer so that fits are
    comparable with theirs. Fit quality depends on depth (the paper's Fig 10).
    """
    checks.integer("hidden_layers", hidden_layers, minimum=1)
    return hidden_layers // 2


class Block(nn.Module):
    """One hidden layer: a connection, the nonlinearity, and an optional skip.

    The output is the layer's representation, flattened to ``(N, width)``, so a
    forward hook on a block sees exactly the hidden activation after the
    nonlinearity (with the skip added, for the skip variant).

    Parameters
    ----------
    connection : nn.Module
        ``nn.Linear``, or ``nn.Conv1d`` when ``in_channels`` is given.
    activation : nn.Module
        The nonlinearity.
    in_channels : int, optional
        For a convolution: the flat input is read as ``(N, in_channels, length)``.
    """

    def __init__(
        self, connection: nn.Module, activation: nn.Module, *, in_channels: int | None = None
    ) -> None:
        super().__init__()
        self.connection = connection
        self.activation = activation
        self.in_channels = in_channels

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        if self.in_channels is None:
            z = self.connection(x)
        else:
            z = self.connection(x.unflatten(1, (self.in_channels, -1))).flatten(1)
        a = self.activation(z)
        if skip is not None:
            a = a + skip
        return a

    def extra_repr(self) -> str:
        return "" if self.in_channels is None else f"in_channels={self.in_channels}"


class Network(nn.Module):
    """A fully connected network (or a variant) built from an :class:`ArchSpec`.

    Structure, for ``L = spec.hidden_layers`` hidden layers ``a_1 .. a_L``:
    ``hidden.0`` maps the input to ``a_1``, ``hidden.k`` maps ``a_k`` to
    ``a_{k+1}``, and ``output`` (linear, no nonlinearity) maps ``a_L`` to the
    prediction. Every weight layer has a bias. Variants:

    - ``convolution``: ``hidden.0`` is linear to ``units`` values, read as a
      one-channel signal of length ``units``; every later hidden layer is a
      1-D convolution to ``channels`` channels with ``kernel_size`` and
      zero 'same' padding, so each keeps ``channels * units`` values at any
      depth. ``output`` is linear on the flattened last layer.
    - ``skip``: ``a_k = phi(W_k a_{k-1} + b_k) + a_{k-2}`` for ``k >= 3``
      (the first two layers have no skip, since ``a_0`` is the input and has
      another width).
    - ``dropout``: every hidden representation is dropped (probability
      ``spec.dropout``, train mode only) where it enters the next weight
      layer; the block outputs themselves are the undropped representations.

    Use :func:`build_network` to construct one with seeded initialisation.

    Attributes
    ----------
    spec : ArchSpec
    in_dim, out_dim : int
    hidden_sizes : tuple of int
        Width of each hidden representation.
    hidden_layer_names : tuple of str
        Submodule names (for ``get_submodule`` / forward hooks) of the hidden
        layers in order; each module's output is that layer's representation.
    tracked_layer : str
        Name of the tracked hidden layer, index ``L // 2`` counting from 0 as
        in the authors' public code (``hidden_layer = L // 2``): layer 11 of
        20, 6 of 10, 3 of 4, 2 of 2 and 1 of 1, counting from 1.
    """

    def __init__(self, spec: ArchSpec, in_dim: int, out_dim: int) -> None:
        super().__init__()
        if not isinstance(spec, ArchSpec):
            raise TypeError(
                f"spec must be an ArchSpec (see get_architecture); got {type(spec).__name__}"
            )
        for arg, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            checks.integer(arg, value, minimum=1, fix="It counts features")
        self.spec = spec
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.skip = spec.variant == "skip"

        units, n_layers = spec.units, spec.hidden_layers
        blocks = [Block(nn.Linear(in_dim, units), make_activation(spec.nonlinearity))]
        sizes = [units]
        for k in range(1, n_layers):
            if spec.variant == "convolution":
                in_channels = 1 if k == 1 else spec.channels
                conv = nn.Conv1d(
                    in_channels, spec.channels, spec.kernel_size, padding=spec.kernel_size // 2
                )
                blocks.append(
                    Block(conv, make_activation(spec.nonlinearity), in_channels=in_channels)
                )
                sizes.append(spec.channels * units)
            else:
                blocks.append(Block(nn.Linear(units, units), make_activation(spec.nonlinearity)))
                sizes.append(units)
        self.hidden = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(spec.dropout) if spec.variant == "dropout" else nn.Identity()
        self.output = nn.Linear(sizes[-1], out_dim)

        self.hidden_sizes: tuple[int, ...] = tuple(sizes)
        self.hidden_layer_names: tuple[str, ...] = tuple(f"hidden.{k}" for k in range(n_layers))
        self.tracked_layer: str = self.hidden_layer_names[tracked_layer_index(n_layers)]
        self.reset_parameters()

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Xavier-normal weights with ``spec.gain`` and zero biases, in module order.

        Parameters
        ----------
        generator : torch.Generator, optional
            Source of randomness; ``None`` uses PyTorch's global generator.
        """
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.xavier_normal_(module.weight, gain=self.spec.gain, generator=generator)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Predictions of shape ``(N, out_dim)`` for inputs of shape ``(N, in_dim)``.

        Inputs of more dimensions (images ``(N, C, H, W)``) are read as flat
        rows, as the paper's MLPs read MNIST.
        """
        before, current = None, x.flatten(1) if x.ndim > 2 else x
        for k, block in enumerate(self.hidden):
            layer_input = current if k == 0 else self.dropout(current)
            skip = before if (self.skip and k >= 2) else None
            before, current = current, block(layer_input, skip)
        return self.output(self.dropout(current))


def _generator(seed: int | torch.Generator | None) -> torch.Generator | None:
    if seed is None or isinstance(seed, torch.Generator):
        if isinstance(seed, torch.Generator) and seed.device.type != "cpu":
            raise ValueError(
                f"seed must be a CPU torch.Generator (weights are drawn on the CPU); got one on {seed.device}"
            )
        return seed
    return torch.Generator().manual_seed(checks.seed("seed", seed))


def build_network(
    spec: ArchSpec | str,
    in_dim: int,
    out_dim: int,
    *,
    seed: int | torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Network:
    """Build and initialise a :class:`Network`.

    Parameters
    ----------
    spec : ArchSpec or str
        The architecture, or the name of a registered one.
    in_dim, out_dim : int
        Input and output dimensions.
    seed : int, torch.Generator or None
        An int gives the same weights bit for bit on every call, without
        touching PyTorch's global random state; a generator is used (and
        advanced) as given; ``None`` draws from the global generator.
    device : torch.device or str, optional
        Where the network lives. Weights are always drawn on the CPU first, so
        a seed gives the same weights on every device.
    dtype : torch.dtype
        Floating dtype of the parameters.

    Returns
    -------
    Network
        In train mode.
    """
    if isinstance(spec, str):
        spec = get_architecture(spec)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype; got {dtype!r}")
    return seeded(lambda: Network(spec, in_dim, out_dim), seed=seed, device=device, dtype=dtype)


def seeded(
    construct: Callable[[], M],
    *,
    seed: int | torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> M:
    """``construct()`` with weights from its ``reset_parameters(generator=...)``, seeded on the CPU."""
    generator = _generator(seed)
    # Built on the meta device so construction draws no random numbers; the
    # real weights come from reset_parameters with our generator.
    with torch.device("meta"):
        network = construct()
    network.to_empty(device="cpu")
    network.to(dtype)
    network.reset_parameters(generator=generator)  # type: ignore[operator]
    if device is not None:
        network.to(device)
    return network
