"""An image model with batch norm: a CNN tracked on its images as they are, (N, 1, 28, 28).

The bundled MNIST digits 0, 1 and 2 (300 images), given as images with their
class names (strings: repdyn maps them to integers in sorted order and says
how). The CNN checks that it is given images: nothing is flattened on the
way. Batch norm makes the forward depend on the mode; the atlas measures in
eval mode (running statistics), as the paper's code measures. Runs in about
20 s on a CPU::

    python examples/image_cnn.py [OUT]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import repdyn
from repdyn.data import mnist

torch.set_num_threads(1)

NAMES = np.array(["zero", "one", "two"])


class SmallBatchNormCNN(nn.Module):
    """Two strided convolutions, each with batch norm, then a linear read-out."""

    def __init__(self, input_shape: tuple[int, ...], out_dim: int) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.block1 = nn.Sequential(nn.Conv2d(channels, 8, 5, stride=2, padding=2), nn.BatchNorm2d(8), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 16, 5, stride=2, padding=2), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * (height // 4) * (width // 4), out_dim))
        self.hidden_layer_names = ("block1", "block2")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f"SmallBatchNormCNN reads images (N, C, H, W); got shape {tuple(images.shape)}")
        return self.head(self.block2(self.block1(images)))


def main(out: Path) -> None:
    digits = mnist()
    keep = np.concatenate([np.flatnonzero(digits.labels.numpy() == d)[:100] for d in range(3)])
    images = digits.x[keep].reshape(-1, 1, 28, 28).numpy()
    classes = NAMES[digits.labels[keep].numpy()]
    result = repdyn.atlas(SmallBatchNormCNN, (images, classes), pairs=40, lr=0.01, epochs=12, batch_size=32,
                          out=out / "atlas", progress=False)
    print(f"data: {result.summary['data']}")
    print(f"inputs reached the model as images: {tuple(result.config.data.load().x.shape)}")
    print(f"training {result.summary['status']}, final loss {result.summary['final_loss']:.3g}; "
          f"{result.summary['steps_per_epoch']} steps per epoch, rates in {result.summary['rate_units']}")
    for layer, numbers in result.summary["layers"].items():
        good = numbers["good_fit_fraction"]
        spearman = numbers["final_spearman"]
        print(f"  {layer:7s} good fits: same {good['same']:.2f}, different {good['different']:.2f}; "
              f"final distance Spearman: theory {_number(spearman['cross_validated'])}, "
              f"baseline h0 {_number(spearman['h0_baseline'])}")


def _number(value: float) -> str:
    """Two decimals; n/a where too few pairs could be scored (fewer than 3 with every prediction)."""
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
