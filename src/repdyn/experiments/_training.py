"""Train a registered architecture on a pair of points, choosing the fastest exact path."""

from __future__ import annotations

from typing import Any

import torch

from repdyn.nets import ArchSpec, Network, build_network, make_optimizer


def train_pair(
    arch: ArchSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int,
    all_layers: bool = False,
    loss_threshold: float | None = None,
    device: str = "cpu",
    epochs: int | None = None,
) -> tuple[Any, Network]:
    """Build ``arch`` with ``seed`` and train it full batch on the pair ``(x, y)``.

    Returns the :class:`repdyn.track.PairTracking` of the run and the trained
    network. Tracks the middle hidden layer, or every hidden layer.
    """
    from repdyn.track import track_pair

    network = build_network(arch, x.shape[1], y.shape[1], seed=seed, device=device)
    layers = "all" if all_layers else network.tracked_layer
    run = track_pair(
        network,
        layers,
        x.to(device),
        y.to(device),
        optimizer=lambda params: make_optimizer(arch.optimizer, params, lr=arch.lr),
        epochs=arch.epochs if epochs is None else epochs,
        loss_threshold=loss_threshold,
        seed=seed,
    )
    return run, network
