"""Train a model on a pair of points, choosing the fastest exact path."""

from __future__ import annotations

from typing import Any

import torch

from repdyn.nets import ArchSpec, Network, build_network, make_optimizer
from repdyn.runs._model import ModelSource
from repdyn.runs._training import Training


def train_pair(
    arch: ArchSpec | ModelSource,
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
    training: Training | None = None,
    kernel_every: int | None = None,
    loss: str | None = None,
) -> tuple[Any, Network | torch.nn.Module]:
    """Build the model with ``seed`` and train it full batch on the pair ``(x, y)``.

    Returns the :class:`repdyn.track.PairTracking` of the run and the trained
    network. Tracks ``layer`` (None: ``network.tracked_layer``), with every
    hidden layer too if ``all_layers``; measures in mode ``measure`` (see
    :func:`repdyn.track.track_pair`). With ``stop_when_converged`` the run
    stops once the loss reaches ``loss_threshold`` (checked every 256 epochs)
    and later rows are NaN.

    Parameters
    ----------
    arch : ArchSpec or ModelSource
        One of the paper's networks (trained with its own ``optimizer``,
        ``lr`` and ``epochs``), or another model, trained as ``training`` says.
    training : Training, optional
        The resolved training of a :class:`ModelSource` (see :class:`TwoPointConfig`).
    epochs : int, optional
        Overrides the epochs of either.
    kernel_every : int, optional
        Also measure the kernel rates every ``kernel_every`` epochs (see
        :func:`repdyn.track.track_pair`); only autograd measures them, so the
        run takes that path (the same run as the fast paths, to rounding).
    loss : {"half_sum", "half_mse", "mse"}, optional
        The loss convention of the steps (:data:`repdyn.track.LOSSES`); None:
        ``training.loss`` for a ModelSource, the theory's for an architecture.
    """
    from repdyn.track import THEORY_LOSS

    if isinstance(arch, ModelSource):
        if training is None or not training.resolved:
            raise ValueError("a ModelSource trains as a resolved Training says; pass training (see TwoPointConfig)")
        network = arch.build(tuple(x.shape[1:]), y.shape[1], seed=seed, device=device)
        optimizer, lr, n_epochs = training.optimizer, training.lr, training.epochs
        loss = training.loss if loss is None else loss
    else:
        network = build_network(arch, x.shape[1], y.shape[1], seed=seed, device=device)
        optimizer, lr, n_epochs = arch.optimizer, arch.lr, arch.epochs
    loss = THEORY_LOSS if loss is None else loss
    tracked = network.tracked_layer if layer is None else layer
    layers = "all" if all_layers else tracked
    n_epochs = n_epochs if epochs is None else epochs
    from repdyn.fast import choose_trainer, train_pair_fast, train_pairs_batched

    trainer = (choose_trainer(arch, device=device, kernel_rates=kernel_every is not None)
               if isinstance(arch, ArchSpec) else "autograd")
    if trainer == "fast":
        # The fast path computes the same run as autograd (to rounding). Plain
        # SGD MLPs draw no random numbers while training (no dropout), so the
        # seed only enters through the initial weights; with no dropout or
        # normalisation, the single forward measures both modes alike.
        run = train_pair_fast(
            network, layers, x.to(device), y.to(device), lr=lr, epochs=n_epochs,
            loss_threshold=loss_threshold, stop_when_converged=stop_when_converged, loss=loss,
        )  # fmt: skip
        return run, network
    if trainer != "autograd":
        # On a GPU a trial is a batch of one of the batched engine: the same
        # run, dropout masks included, as in any batch it could have joined.
        [run] = train_pairs_batched(
            [network], x[None], y[None], layers=layers, lr=lr, epochs=n_epochs, optimizer=optimizer,
            measure=measure, seeds=[seed], loss_threshold=loss_threshold,
            stop_when_converged=stop_when_converged, device=device, trainer=trainer,
        )  # fmt: skip
        return run, network

    from repdyn.track import track_pair

    run = track_pair(
        network,
        layers,
        x.to(device),
        y.to(device),
        optimizer=lambda params: make_optimizer(optimizer, params, lr=lr),
        epochs=n_epochs,
        loss_threshold=loss_threshold,
        stop_when_converged=stop_when_converged,
        measure=measure,
        seed=seed,
        kernel_every=kernel_every,
        loss=loss,
    )
    return run, network
