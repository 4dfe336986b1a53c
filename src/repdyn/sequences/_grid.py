"""Many Elman RNNs trained at once, each on its own data, as :func:`track_prefixes` would train each.

A grid of runs (the follow-up's gain x data-fraction diagram, its Fig 9)
spends most of its time in Python overhead when run one network at a time.
Here the networks' weights are stacked along a leading dimension and every
optimiser step is one batched forward and backward over all the networks that
take a step: each network sees exactly the minibatches its own run would see
(the same shuffles from its own generator, lengths in the same order), and
its loss is the mean over its own minibatch, so the summed loss gives every
network its own gradient. Plain SGD makes a step without a minibatch a no-op,
so networks with fewer minibatches of a length, and converged ones, simply
wait.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from repdyn import checks
from repdyn.sequences._data import SequenceData
from repdyn.sequences._models import ElmanRNN
from repdyn.sequences._tracking import LOSSES, one_hot

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class GridRuns:
    """Networks trained together by :func:`train_elman_grid`.

    Attributes
    ----------
    models : list of ElmanRNN
        The trained networks (copies; the inputs are left untouched).
    stop_epoch : ndarray of int, shape (G,)
        Epochs each network ran.
    status : ndarray of str, shape (G,)
        ``"done"``, ``"converged"`` or ``"diverged"`` (as :data:`STATUSES`).
    epoch_loss : ndarray, shape (G, E)
        Mean minibatch loss of each epoch (NaN after a network stopped).
    seconds : float
    """

    models: list[ElmanRNN]
    stop_epoch: NDArray[np.int64]
    status: NDArray[np.str_]
    epoch_loss: FloatArray
    seconds: float


def train_elman_grid(
    models: Sequence[ElmanRNN],
    datasets: Sequence[SequenceData],
    *,
    epochs: int,
    lr: float,
    batch_size: int = 128,
    loss: str = "mse",
    stop_loss: float | None = None,
    seed: int = 0,
) -> GridRuns:
    """Train many Elman RNNs with plain SGD, each on its own data set, in one batched loop.

    Each network is trained as ``track_prefixes(model, data, epochs=epochs,
    lr=lr, optimizer="sgd", batch_size=batch_size, loss=loss,
    stop_loss=stop_loss, seed=seed)`` would train it (up to the order of
    floating-point sums), without recording prefixes.

    Parameters
    ----------
    models : sequence of ElmanRNN
        One width, alphabet, output count and nonlinearity, no discontinuity.
    datasets : sequence of SequenceData
        One per model.
    epochs : int
        Most epochs.
    lr : float
    batch_size : int, default 128
    loss : {"mse", "cross_entropy"}, default "mse"
    stop_loss : float, optional
        A network stops after the first epoch whose mean minibatch loss is below this.
    seed : int, default 0
        Seed of every network's minibatch order (each has its own generator).

    Returns
    -------
    GridRuns
    """
    models = list(models)
    datasets = list(datasets)
    if not models or not all(isinstance(m, ElmanRNN) for m in models):
        raise checks.ArgumentTypeError(
            "models", f"models must be a non-empty sequence of ElmanRNN; got {checks.describe(models)}"
        )
    if len(datasets) != len(models) or not all(isinstance(d, SequenceData) for d in datasets):
        raise checks.ArgumentValueError("datasets", f"datasets must hold one SequenceData per model ({len(models)})")
    first = models[0]
    shape = lambda m: (tuple(m.rnn.weight_ih_l0.shape), m.readout.weight.shape[0], m.rnn.nonlinearity)  # noqa: E731
    if any(shape(m) != shape(first) or m.discontinuity for m in models):
        raise checks.ArgumentValueError(
            "models", "models must share width, alphabet, outputs and nonlinearity, without discontinuity"
        )
    epochs = checks.integer("epochs", epochs, minimum=1)
    lr = checks.real("lr", lr, above=0.0)
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    loss = checks.choice("loss", loss, LOSSES)
    stop_loss = checks.real("stop_loss", stop_loss, above=0.0, allow_none=True)
    seed = checks.seed("seed", seed)
    n_symbols, n_outputs = first.rnn.input_size, first.readout.out_features
    for d in datasets:
        if (d.n_symbols, d.n_outputs) != (n_symbols, n_outputs):
            raise checks.ArgumentValueError(
                "datasets", f"every data set must read {n_symbols} symbols and have {n_outputs} outputs"
            )

    def stacked(name: str) -> torch.Tensor:
        return torch.stack([dict(m.named_parameters())[name].detach().clone() for m in models]).requires_grad_(True)

    w_ih, w_hh = stacked("rnn.weight_ih_l0"), stacked("rnn.weight_hh_l0")
    b_ih, b_hh = stacked("rnn.bias_ih_l0"), stacked("rnn.bias_hh_l0")
    w_hy, b_hy = stacked("readout.weight"), stacked("readout.bias")
    params = (w_ih, w_hh, b_ih, b_hh, w_hy, b_hy)
    h0 = torch.stack([m.h0.detach().to(w_ih.dtype) for m in models])
    act = torch.relu if first.rnn.nonlinearity == "relu" else torch.tanh
    dtype = w_ih.dtype

    groups = [
        {n: (one_hot(d.symbols[rows, :n], n_symbols, dtype=dtype), torch.as_tensor(d.targets[rows]))
         for n, rows in d.by_length().items()}
        for d in datasets
    ]
    lengths = sorted({n for g in groups for n in g})
    generators = [torch.Generator().manual_seed(seed) for _ in models]
    n_models = len(models)
    active = np.ones(n_models, dtype=bool)
    status = np.full(n_models, "done", dtype="<U9")
    stop_epoch = np.full(n_models, epochs, dtype=np.int64)
    epoch_loss = np.full((n_models, epochs), np.nan)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        totals = np.zeros(n_models)
        counts = np.zeros(n_models)
        for n in lengths:
            cells = [g for g in range(n_models) if active[g] and n in groups[g]]
            orders = {g: torch.randperm(groups[g][n][0].shape[0], generator=generators[g]) for g in cells}
            n_batches = {g: math.ceil(len(orders[g]) / batch_size) for g in cells}
            for k in range(max(n_batches.values(), default=0)):
                stepping = [g for g in cells if k < n_batches[g]]
                picks = [orders[g][k * batch_size : (k + 1) * batch_size] for g in stepping]
                width = max(len(p) for p in picks)
                x = torch.zeros(len(stepping), width, n, n_symbols, dtype=dtype)
                target = torch.zeros(len(stepping), width, dtype=torch.int64)
                mask = torch.zeros(len(stepping), width, dtype=dtype)
                for i, (g, pick) in enumerate(zip(stepping, picks, strict=True)):
                    x[i, : len(pick)] = groups[g][n][0][pick]
                    target[i, : len(pick)] = groups[g][n][1][pick]
                    mask[i, : len(pick)] = 1.0
                index = torch.as_tensor(stepping)
                per_item = _per_item_loss(
                    _forward(x, index, params, h0, act), target, loss, n_outputs
                )
                per_model = (per_item * mask).sum(dim=1) / mask.sum(dim=1)
                for p in params:
                    p.grad = None
                per_model.sum().backward()
                with torch.no_grad():
                    for p in params:
                        p -= lr * p.grad
                sizes = mask.sum(dim=1).numpy()
                totals[stepping] += per_model.detach().numpy() * sizes
                counts[stepping] += sizes
        ran = active & (counts > 0)
        epoch_loss[ran, epoch - 1] = totals[ran] / counts[ran]
        for g in np.flatnonzero(ran):
            value = epoch_loss[g, epoch - 1]
            if not math.isfinite(value):
                status[g], active[g], stop_epoch[g] = "diverged", False, epoch
            elif stop_loss is not None and value < stop_loss:
                status[g], active[g], stop_epoch[g] = "converged", False, epoch
        if not active.any():
            break
    trained = []
    for g, model in enumerate(models):
        clone = copy.deepcopy(model)
        with torch.no_grad():
            for (name, p), src in zip(
                [(n, dict(clone.named_parameters())[n]) for n in (
                    "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                    "readout.weight", "readout.bias")],
                params, strict=True,
            ):
                p.copy_(src[g])
        trained.append(clone)
    return GridRuns(
        models=trained, stop_epoch=stop_epoch, status=status, epoch_loss=epoch_loss,
        seconds=time.perf_counter() - start,
    )


def _forward(
    x: torch.Tensor, index: torch.Tensor, params: tuple[torch.Tensor, ...], h0: torch.Tensor, act: object
) -> torch.Tensor:
    """Outputs (G', B, K) of the networks ``index`` on inputs (G', B, T, S)."""
    w_ih, w_hh, b_ih, b_hh, w_hy, b_hy = (p[index] for p in params)
    h = h0[index][:, None, :].expand(-1, x.shape[1], -1)
    bias = (b_ih + b_hh)[:, None, :]
    for t in range(x.shape[2]):
        pre = torch.baddbmm(bias, x[:, :, t], w_ih.transpose(1, 2)) + torch.bmm(h, w_hh.transpose(1, 2))
        h = act(pre)  # type: ignore[operator]
    return torch.baddbmm(b_hy[:, None, :], h, w_hy.transpose(1, 2))


def _per_item_loss(out: torch.Tensor, target: torch.Tensor, loss: str, n_outputs: int) -> torch.Tensor:
    if loss == "mse":
        return ((out - functional.one_hot(target, n_outputs).to(out.dtype)) ** 2).mean(dim=-1)
    return functional.cross_entropy(out.flatten(0, 1), target.flatten(), reduction="none").view(target.shape)
