"""A model in its own file, for ``--model examples/models/residual_mlp.py:make``.

repdyn imports this file once and calls ``make`` with the arguments it names
(of ``input_shape``, ``in_dim``, ``out_dim``, ``seed`` and ``gain``), once per
trial; it seeds torch around the call, so ``seed`` is there only for a
factory that wants it.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.norm(self.linear(x)))


class ResidualMLP(nn.Module):
    """Inputs -> linear -> residual blocks -> read-out; its blocks are the layers to track."""

    def __init__(self, in_dim: int, out_dim: int, width: int = 32, depth: int = 3, gain: float = 1.0) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(depth)])
        self.head = nn.Linear(width, out_dim)
        with torch.no_grad():
            self.head.weight.mul_(0.1 * gain)  # a small read-out: the representation has to move
        self.hidden_layer_names = tuple(f"blocks.{k}" for k in range(depth))  # what --layers all tracks
        self.tracked_layer = self.hidden_layer_names[-1]  # what a two-point run tracks by default

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.embed(x.flatten(1))))


def make(in_dim: int, out_dim: int, gain: float = 1.0) -> ResidualMLP:
    return ResidualMLP(in_dim, out_dim, gain=gain)
