"""A small convolutional network for MNIST-sized images, with named hidden layers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from repdyn.nets._network import seeded
from repdyn.nets._nonlinearity import NONLINEARITIES, make_activation

#: One-channel 28 x 28 images, read from flat rows of 784 pixels (MNIST).
MNIST_IMAGE = (1, 28, 28)


class SmallCNN(nn.Module):
    """Two strided convolutions and one dense layer: ``conv1``, ``conv2``, ``fc``, then ``output``.

    Each hidden layer is a submodule whose output is its representation after
    the nonlinearity: ``conv1`` (``channels[0]`` maps at half the image size),
    ``conv2`` (``channels[1]`` maps at a quarter), ``fc`` (``hidden`` units);
    ``output`` is linear. Strides, not pooling, shrink the maps, so every
    hidden layer is one module a forward hook can read. Inputs are flat rows
    (``(N, C * H * W)``, like the MLPs' inputs) read as images.

    Parameters
    ----------
    image_shape : (int, int, int)
        ``(channels, height, width)`` of an input image.
    out_dim : int
        Number of outputs.
    channels : (int, int)
        Feature maps of the two convolutions.
    hidden : int
        Units of the dense hidden layer.
    kernel_size : int
        Odd kernel size of both convolutions (zero padding keeps ``size / 2``).
    nonlinearity : str
        One of :data:`repdyn.nets.NONLINEARITIES`.
    gain : float
        Xavier-normal gain of every weight (biases start at 0), as for :class:`Network`.

    Attributes
    ----------
    hidden_layer_names : tuple of str
        ``("conv1", "conv2", "fc")``.
    tracked_layer : str
        ``"conv2"``, the middle one.
    """

    def __init__(
        self,
        *,
        image_shape: tuple[int, int, int] = MNIST_IMAGE,
        out_dim: int = 10,
        channels: tuple[int, int] = (8, 16),
        hidden: int = 64,
        kernel_size: int = 5,
        nonlinearity: str = "leaky_relu",
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (symmetric padding); got {kernel_size}")
        if not gain > 0:
            raise ValueError(f"gain must be > 0; got {gain!r}")
        in_channels, height, width = image_shape
        self.image_shape = tuple(image_shape)
        self.gain = float(gain)
        pad = kernel_size // 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], kernel_size, stride=2, padding=pad),
            make_activation(nonlinearity),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(channels[0], channels[1], kernel_size, stride=2, padding=pad),
            make_activation(nonlinearity),
        )
        flat = channels[1] * _halved(_halved(height)) * _halved(_halved(width))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), make_activation(nonlinearity))
        self.output = nn.Linear(hidden, out_dim)
        self.in_dim = in_channels * height * width
        self.out_dim = out_dim
        self.hidden_layer_names: tuple[str, ...] = ("conv1", "conv2", "fc")
        self.tracked_layer = "conv2"
        self.reset_parameters()

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Xavier-normal weights with the network's gain and zero biases, in module order."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Conv2d):
                nn.init.xavier_normal_(module.weight, gain=self.gain, generator=generator)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Predictions ``(N, out_dim)`` for flat images ``(N, C * H * W)``."""
        images = x.reshape(x.shape[0], *self.image_shape)
        return self.output(self.fc(self.conv2(self.conv1(images))))


def _halved(size: int) -> int:
    """Output size of a stride-2 convolution with 'same' padding."""
    return (size + 1) // 2


def build_small_cnn(
    *,
    out_dim: int = 10,
    gain: float = 1.0,
    seed: int | torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    **options: object,
) -> SmallCNN:
    """A seeded :class:`SmallCNN` (weights drawn on the CPU, as :func:`build_network` draws them).

    Parameters
    ----------
    out_dim, gain
        As for :class:`SmallCNN`; ``options`` are its other parameters.
    seed, device, dtype
        As for :func:`build_network`.
    """
    return seeded(lambda: SmallCNN(out_dim=out_dim, gain=gain, **options),  # type: ignore[arg-type]
                  seed=seed, device=device, dtype=dtype)
