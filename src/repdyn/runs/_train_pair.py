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
    layer: str | None = None,
    measure: str = "eval",
    all_layers: bool = False,
    loss_threshold: float | None = None,
    stop_when_converged: bool = False,
    device: str = "cpu",
    epochs: int | None = None,
) -> tuple[Any, Network]:
    """Build ``arch`` with ``seed`` and train it full batch on the pair ``(x, y)``.

    Returns the :class:`repdyn.track.PairTracking` of the run and the trained
    network. Tracks ``layer`` (None: ``network.tracked_layer``), with every
    hidden layer too if ``all_layers``; measures in mode ``measure`` (see
    :func:`repdyn.track.track_pair`). With
    ``stop_when_converged`` the run stops once the loss reaches
    ``loss_threshold`` (checked every 256 epochs) and later rows are NaN.
    """
    network = build_network(arch, x.shape[1], y.shape[1], seed=seed, device=device)
    tracked = network.tracked_layer if layer is None else layer
    layers = "all" if all_layers else tracked
    n_epochs = arch.epochs if epochs is None else epochs
    from repdyn.fast import choose_trainer, train_pair_fast

    if choose_trainer(arch, device=device) != "autograd":
        # The fast paths compute the same run as autograd (to rounding). Plain
        # SGD MLPs draw no random numbers while training (no dropout), so the
        # seed only enters through the initial weights; with no dropout or
        # normalisation, the single forward measures both modes alike.
        run = train_pair_fast(
            network, layers, x.to(device), y.to(device), lr=arch.lr, epochs=n_epochs,
            loss_threshold=loss_threshold, stop_when_converged=stop_when_converged,
        )  # fmt: skip
        return run, network

    from repdyn.track import track_pair

    run = track_pair(
        network,
        layers,
        x.to(device),
        y.to(device),
        optimizer=lambda params: make_optimizer(arch.optimizer, params, lr=arch.lr),
        epochs=n_epochs,
        loss_threshold=loss_threshold,
        stop_when_converged=stop_when_converged,
        measure=measure,
        seed=seed,
    )
    return run, network
