"""The CPU fast path: one pair, one plain MLP, SGD, hand-written in numpy.

With two points every step is a handful of matrix-vector products, bound by
streaming the weights from memory. The engine therefore

- runs the forward and the backward by hand (no autograd graph, no optimiser
  object, no gradient tensors), reading each weight matrix once in each;
- records the tracked variables from that same forward into preallocated
  host rows (there is no device to synchronise with);
- defers the SGD updates: the step-``s`` update of layer ``l`` is the rank-2
  matrix ``lr * g_s^T a_s``; ``defer`` of them are kept as thin factors
  ``W_eff = W - U^T V``, applied inside the products (``x W_eff^T = x W^T -
  (x V^T) U``), and folded into ``W`` every ``defer`` steps right after
  the backward product has brought ``W`` into cache, so the update costs no
  extra pass over memory. On the default network (1 core) ``defer=16`` was
  about 20 % faster than ``defer=1`` and, summing the updates before
  rounding them into ``W``, closer to a float64 run (max error in ``y`` over
  1000 epochs 3e-2, against 1.6e-1 with ``defer=1`` and 2.5e-1 for float32
  autograd).

The weights are numpy views of the network's own parameters, so the network
is trained in place, exactly as :func:`repdyn.track.track_pair` trains it.

The products are numpy's rather than torch's: torch's (MKL) kernels for a
product with two rows ran 2-4 times slower than streaming the matrix on the
2-core AMD machine we measured, numpy's close to it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from repdyn.fast import _inputs as check
from repdyn.fast._layout import BATCHED, Layout, Tap, choose_trainer, require_layout, taps
from repdyn.fast._threads import blas_single_thread
from repdyn.track import CHECK_EVERY, THEORY_LOSS, ChunkSchedule, PairLog, PairTracking, check_loss, loss_scale, pair_metrics

if hasattr(np, "vecmat"):  # numpy >= 2.2
    # numpy's vecdot/vecmat loops stream each weight row once per point and
    # stayed close to memory speed; BLAS's general matrix product with only
    # two rows was 15-30 % slower per step in our measurements.
    def _times_transpose(a: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.vecdot(W, a[:, None, :])

    def _times(g: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.vecmat(g, W)

else:

    def _times_transpose(a: np.ndarray, W: np.ndarray) -> np.ndarray:
        return a @ W.T

    def _times(g: np.ndarray, W: np.ndarray) -> np.ndarray:
        return g @ W


#: Steps whose updates are kept as low-rank factors before being folded in.
DEFAULT_DEFER = 16


class CpuMLP:
    """Hand-written forward and SGD step of a plain MLP on two points (numpy views)."""

    def __init__(self, lay: Layout, *, defer: int) -> None:
        self.W = [linear.weight.detach().numpy() for linear in lay.linears]
        self.b = [linear.bias.detach().numpy() for linear in lay.linears]
        self.act = lay.activations
        dtype = self.W[0].dtype
        rank = 2 * defer
        # Factors stored transposed (rank rows) so every slice [:r] is contiguous.
        self.UT = [np.zeros((rank, w.shape[0]), dtype) for w in self.W]
        self.VT = [np.zeros((rank, w.shape[1]), dtype) for w in self.W]
        self._scratch = np.empty(max(w.size for w in self.W), dtype)
        self.defer = defer
        self.pending = 0
        self.z: list[np.ndarray] = [self._scratch[:0]] * len(self.W)  # pre-activations
        self.inputs: list[np.ndarray] = [self._scratch[:0]] * len(self.W)  # layer inputs

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Predictions for the pair ``x``; keeps every layer's input and pre-activation."""
        W, b, UT, VT, act = self.W, self.b, self.UT, self.VT, self.act
        r = 2 * self.pending
        last = len(W) - 1
        a = x
        for l in range(last + 1):
            self.inputs[l] = a
            z = _times_transpose(a, W[l])
            z += b[l]
            if r:
                z -= (a @ VT[l][:r].T) @ UT[l][:r]
            self.z[l] = z
            if l < last:
                a = act[l].forward(z, np)
        return z

    def representation(self, tap: Tap) -> np.ndarray:
        """The tracked layer's output from the last forward."""
        if tap.pre:
            return self.z[tap.layer]
        return self.inputs[tap.layer + 1]

    def step(self, g: np.ndarray, lr: float) -> None:
        """One SGD step from the gradient ``g`` of the loss with respect to the predictions."""
        W, b, UT, VT, act = self.W, self.b, self.UT, self.VT, self.act
        r = 2 * self.pending
        fold = self.pending + 1 == self.defer
        for l in range(len(W) - 1, -1, -1):
            if l > 0:
                # Back-propagate through the weights of this step, before updating them.
                gp = _times(g, W[l])
                if r:
                    gp -= (g @ UT[l][:r].T) @ VT[l][:r]
            np.multiply(g, lr, out=UT[l][r : r + 2])
            VT[l][r : r + 2] = self.inputs[l]
            b[l] -= lr * g.sum(axis=0)
            if fold:
                # Now, while W[l] is still in cache from the product above.
                self._fold(l, r + 2)
            if l > 0:
                g = act[l - 1].backward(self.z[l - 1], self.inputs[l], gp, np)
        self.pending = 0 if fold else self.pending + 1

    def fold(self) -> None:
        """Apply the pending updates to the weights themselves."""
        for l in range(len(self.W)):
            self._fold(l, 2 * self.pending)
        self.pending = 0

    def _fold(self, l: int, r: int) -> None:
        if r:
            W = self.W[l]
            update = self._scratch[: W.size].reshape(W.shape)
            np.dot(self.UT[l][:r].T, self.VT[l][:r], out=update)
            W -= update


@check.renamed_keywords(chunk_size="check_every")
def train_pair_fast(
    network: Any,
    layers: Any,
    x: Any,
    y: Any,
    *,
    lr: float,
    epochs: int,
    loss_threshold: float | None = None,
    stop_when_converged: bool = False,
    check_every: int = CHECK_EVERY,
    defer: int = DEFAULT_DEFER,
    kernel_every: None = None,
    loss: str = THEORY_LOSS,
) -> PairTracking:
    """Train a plain MLP on two points with SGD and record ``h``, ``y``, ``w`` and the loss.

    The same run as :func:`repdyn.track.track_pair` with
    ``optimizer=torch.optim.SGD(network.parameters(), lr=lr)``, computed by a
    hand-written forward and backward: the same result type, the same
    ``epochs + 1`` rows, the same divergence, convergence and status rules;
    the values agree with autograd to rounding (about 1e-6 relative after
    100 epochs in float32). The network is trained in place; forward hooks
    registered on it are not called.

    Parameters
    ----------
    network : repdyn.nets.Network
        An ``mlp``-variant network (see :func:`supports_fast_path`). A network
        on a GPU is trained by :func:`train_pairs_batched` as one trial.
    layers : str, nn.Module, sequence of those, "all" or None
        As for ``track_pair``: ``hidden.k`` (also ``hidden.k.activation``),
        ``hidden.k.connection`` (before the nonlinearity) or ``output``;
        ``None`` is ``network.tracked_layer``, ``"all"`` every hidden layer.
    x, y : array_like or Tensor, shape (2, in_dim) and (2, out_dim)
        The two points and their targets (cast to the network's dtype).
    lr : float
        SGD learning rate.
    epochs : int
        Number of steps (>= 1).
    loss_threshold : float, optional
        ``"converged"`` if the final loss is at most this, ``"not_converged"``
        otherwise; without it a finite run is ``"completed"``.
    stop_when_converged : bool, default False
        Stop one epoch after the first chunk whose last loss reached the threshold.
    check_every : int, default 256
        Epochs between finiteness checks: a divergent run stops at the end of
        the chunk in which it first produced a NaN or inf (see
        :class:`repdyn.track.ChunkSchedule`; ``chunk_size`` before 0.3.0).
    defer : int, default 16
        Steps whose rank-2 updates are kept as low-rank factors before they
        are folded into the weights; 1 applies every update at once.
    kernel_every : None
        Refused: kernel rates need :func:`repdyn.track.track_pair`.
    loss : {"half_sum", "half_mse", "mse"}, default "half_sum"
        The loss convention of the steps, as for ``track_pair`` (the recorded
        loss is the project loss).

    Returns
    -------
    repdyn.track.PairTracking

    Raises
    ------
    ValueError
        The network has no fast path (with the reason), a layer cannot be
        tracked, or an argument is out of range (see ``track_pair``).
    """
    check.no_kernel_rates(kernel_every)
    lay = require_layout(network)
    found = taps(network, layers)
    lr = check.learning_rate(lr)
    loss = check_loss(loss)
    epochs = check.count("epochs", epochs)
    check_every = check.count("check_every", check_every)
    defer = check.count("defer", defer)
    loss_threshold = check.threshold(loss_threshold, stop_when_converged)
    xs = check.points("x", x, width=lay.shapes[0][1], dtype=lay.dtype)
    ys = check.points("y", y, width=lay.shapes[-1][0], dtype=lay.dtype)
    dx2 = float(check.squared_distances(xs, "x", strict=True))
    dy2 = float(check.squared_distances(ys, "y", strict=False))
    if choose_trainer(network.spec, "sgd", device=lay.device) == BATCHED:
        from repdyn.fast._batched import train_pairs_batched

        return train_pairs_batched(
            [network], xs[None], ys[None], layers=layers, lr=lr, epochs=epochs,
            loss_threshold=loss_threshold, stop_when_converged=stop_when_converged,
            check_every=check_every, loss=loss,
        )[0]  # fmt: skip

    log = PairLog(epochs, tuple(tap.name for tap in found))
    schedule = ChunkSchedule(
        log,
        n_epochs=epochs,
        check_every=check_every,
        loss_threshold=loss_threshold,
        stop_when_converged=stop_when_converged,
    )
    engine = CpuMLP(lay, defer=defer)
    x_np, y_np = xs.numpy(), ys.numpy()
    # d loss / d pred of the project loss (the mean over 2 points), times the convention's factor
    gradient_factor = 0.5 * loss_scale(loss, y_np.shape[1])
    start = time.perf_counter()
    # A diverging run overflows: the log records it, numpy need not warn.
    with np.errstate(all="ignore"), blas_single_thread():
        epoch = 0
        while True:
            pred = engine.forward(x_np)
            row = log.values[epoch]
            for j, tap in enumerate(found):
                rep = engine.representation(tap)
                diff = rep[0].astype(np.float64) - rep[1]
                row[j] = diff @ diff
            metrics = pair_metrics(pred, y_np)
            row[log.Y], row[log.W], row[log.LOSS] = metrics.y, metrics.w, metrics.loss
            if epoch == 0:
                log.m0 = float(metrics.m0)
            if epoch == schedule.final:
                break
            engine.step((pred - y_np) * gradient_factor, lr)
            if schedule.after_step(epoch):
                break
            epoch += 1
        engine.fold()
    return schedule.result(dx2=dx2, dy2=dy2, seconds=time.perf_counter() - start)
