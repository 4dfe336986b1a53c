"""Many two-point trials of one MLP architecture as one batched computation.

The weights of ``T`` trials are stacked along a leading trial dimension and
every product of the hand-written forward and backward becomes one batched
matrix product (``baddbmm`` / ``bmm``), so a GPU runs all trials at once.
The SGD update of each trial is its own rank-2 ``baddbmm_``, in place. A
trial that diverges produces NaN only in its own slice; it is recorded as
diverged at the end of its chunk and dropped from the batch, and so is a
trial that stops once converged, so the others carry on unaffected.

Recorded values stay on the device in a chunk buffer and reach the host once
per chunk; the per-trial rules (divergence, convergence, status) are those of
:func:`repdyn.track.track_pair`, through :class:`repdyn.track.ChunkSchedule`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from repdyn.fast import _inputs as check
from repdyn.fast._layout import Layout, require_layout, taps
from repdyn.track import CHECK_EVERY, ChunkSchedule, PairLog, PairTracking, pair_metrics


class BatchedMLP:
    """Stacked weights of several identical MLPs and their hand-written SGD step."""

    def __init__(self, layouts: Sequence[Layout], device: torch.device) -> None:
        first = layouts[0]
        for index, lay in enumerate(layouts):
            if lay.shapes != first.shapes or lay.activations != first.activations:
                raise ValueError(
                    f"networks[{index}] differs from networks[0] in layer shapes or "
                    "nonlinearities; batch only trials of one architecture"
                )
            if lay.dtype != first.dtype:
                raise ValueError(
                    f"networks[{index}] has dtype {lay.dtype} but networks[0] has {first.dtype}; "
                    "build every network with the same dtype"
                )
        count = len(first.linears)
        self.W = [
            torch.stack([lay.linears[l].weight.detach() for lay in layouts]).to(device)
            for l in range(count)
        ]
        self.b = [
            torch.stack([lay.linears[l].bias.detach() for lay in layouts]).to(device)
            for l in range(count)
        ]
        self.act = first.activations
        self.z: list[torch.Tensor] = []
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``(T, 2, out)`` for inputs ``(T, 2, in)``."""
        last = len(self.W) - 1
        self.z, self.inputs = [], []
        a = x
        for l in range(last + 1):
            self.inputs.append(a)
            z = torch.baddbmm(self.b[l].unsqueeze(1), a, self.W[l].transpose(1, 2))
            self.z.append(z)
            if l < last:
                a = self.act[l].forward(z, torch)
        return z

    def representation(self, layer: int, pre: bool) -> torch.Tensor:
        return self.z[layer] if pre else self.inputs[layer + 1]

    def step(self, g: torch.Tensor, lr: float) -> None:
        """One SGD step of every trial from ``g = d loss / d predictions``."""
        for l in range(len(self.W) - 1, -1, -1):
            gp = torch.bmm(g, self.W[l]) if l > 0 else None
            self.W[l].baddbmm_(g.transpose(1, 2), self.inputs[l], alpha=-lr)
            self.b[l].add_(g.sum(dim=1), alpha=-lr)
            if gp is not None:
                g = self.act[l - 1].backward(self.z[l - 1], self.inputs[l], gp, torch)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the trials at positions ``rows`` of the batch."""
        self.W = [w.index_select(0, rows) for w in self.W]
        self.b = [b.index_select(0, rows) for b in self.b]

    @torch.no_grad()
    def write_back(self, position: int, lay: Layout) -> None:
        """Copy the trained weights of batch position ``position`` into its network."""
        for l, linear in enumerate(lay.linears):
            linear.weight.copy_(self.W[l][position])
            linear.bias.copy_(self.b[l][position])


@check.renamed_keywords(chunk_size="check_every")
def train_pairs_batched(
    networks: Sequence[Any],
    xs: Any,
    ys: Any,
    *,
    layers: Any = None,
    lr: float,
    epochs: int,
    loss_threshold: float | None = None,
    stop_when_converged: bool = False,
    check_every: int = CHECK_EVERY,
    device: torch.device | str | None = None,
    kernel_every: None = None,
) -> list[PairTracking]:
    """Train several networks of one MLP architecture on their pairs, all at once.

    Trial ``i`` is the run ``train_pair_fast(networks[i], layers, xs[i],
    ys[i], ...)`` (equivalently ``track_pair`` with SGD), computed with a
    leading trial dimension: different seeds, different pairs (``dx2``,
    ``dy2``), one architecture and learning rate. Each network is trained in
    place (its final weights are those ``track_pair`` would leave).

    Parameters
    ----------
    networks : sequence of repdyn.nets.Network
        Networks of identical layer shapes, nonlinearities and dtype, each
        qualifying for :func:`supports_fast_path`.
    xs, ys : array_like or Tensor
        Shape ``(T, 2, in_dim)`` and ``(T, 2, out_dim)``: one pair per trial,
        or a single pair ``(2, dim)`` shared by all.
    layers : str, sequence of str, "all" or None
        Tracked layers, as for :func:`train_pair_fast` (resolved on ``networks[0]``).
    lr, epochs, loss_threshold, stop_when_converged, check_every
        As for :func:`train_pair_fast`; the same for every trial.
    device : torch.device or str, optional
        Where to compute (e.g. ``"cuda"``); default: where the networks are.
    kernel_every : None
        Refused: kernel rates need :func:`repdyn.track.track_pair`.

    Returns
    -------
    list of repdyn.track.PairTracking
        One per network, in order. ``seconds`` is the batch's wall-clock time
        divided by the number of trials.
    """
    check.no_kernel_rates(kernel_every)
    if isinstance(networks, torch.nn.Module) or not isinstance(networks, Sequence):
        raise TypeError("networks must be a sequence (list or tuple) of repdyn.nets.Network")
    if not networks:
        raise ValueError("networks is empty; pass at least one network")
    layouts = [require_layout(net) for net in networks]
    found = taps(networks[0], layers)
    lr = check.learning_rate(lr)
    epochs = check.count("epochs", epochs)
    check_every = check.count("check_every", check_every)
    loss_threshold = check.threshold(loss_threshold, stop_when_converged)
    n_trials, first = len(networks), layouts[0]
    x_all = check.points("xs", xs, width=first.shapes[0][1], dtype=first.dtype, leading=(n_trials,))
    y_all = check.points(
        "ys", ys, width=first.shapes[-1][0], dtype=first.dtype, leading=(n_trials,)
    )
    dx2 = check.squared_distances(x_all, "xs", strict=True)
    dy2 = check.squared_distances(y_all, "ys", strict=False)
    device = first.device if device is None else torch.device(device)

    names = tuple(tap.name for tap in found)
    logs = [PairLog(epochs, names) for _ in range(n_trials)]
    schedules = [
        ChunkSchedule(
            log,
            n_epochs=epochs,
            check_every=check_every,
            loss_threshold=loss_threshold,
            stop_when_converged=stop_when_converged,
        )
        for log in logs
    ]
    size = schedules[0].size
    start = time.perf_counter()
    with torch.no_grad():
        engine = BatchedMLP(layouts, device)
        x, y = x_all.to(device), y_all.to(device)
        active = list(range(n_trials))  # trial of each batch position
        slots = torch.arange(n_trials, device=device)
        buffer = torch.full((size, n_trials, len(found) + 3), float("nan"), dtype=torch.float64,
                            device=device)  # fmt: skip
        chunk_start, epoch = 0, 0
        m0 = torch.full((n_trials,), float("nan"), dtype=torch.float64, device=device)

        def flush(stop: int) -> None:
            rows = buffer[: stop - chunk_start].cpu().numpy()
            for trial, log in enumerate(logs):
                log.values[chunk_start:stop, : log.TRAIN_LOSS] = rows[:, trial]
            buffer.fill_(float("nan"))

        def drop(leaving: list[int]) -> None:
            nonlocal active, slots, x, y
            stay = [p for p in range(len(active)) if p not in leaving]
            rows = torch.tensor(stay, dtype=torch.long, device=device)
            engine.keep(rows)
            active = [active[p] for p in stay]
            slots, x, y = (t.index_select(0, rows) for t in (slots, x, y))

        while True:
            pred = engine.forward(x)
            columns = [_distance(engine.representation(t.layer, t.pre)) for t in found]
            metrics = pair_metrics(pred, y)
            columns += [metrics.y, metrics.w, metrics.loss.double()]
            buffer[epoch - chunk_start].index_copy_(0, slots, torch.stack(columns, dim=1))
            if epoch == 0:
                m0.index_copy_(0, slots, metrics.m0)
            # A trial whose last epoch this is keeps its weights from before the step.
            leaving = [p for p, t in enumerate(active) if schedules[t].final == epoch]
            for position in leaving:
                engine.write_back(position, layouts[active[position]])
            if len(leaving) == len(active):
                break
            engine.step((pred - y) * 0.5, lr)
            if (epoch + 1) % size == 0:
                flush(epoch + 1)
                chunk_start = epoch + 1
                for position, trial in enumerate(active):
                    if position not in leaving and schedules[trial].after_step(epoch):
                        engine.write_back(position, layouts[trial])
                        leaving.append(position)
            if leaving:
                drop(leaving)
                if not active:
                    break
            epoch += 1
        flush(epoch + 1)
        m0_host = m0.cpu().numpy()
    seconds = (time.perf_counter() - start) / n_trials
    results = []
    for trial, (log, schedule) in enumerate(zip(logs, schedules, strict=True)):
        log.m0 = float(m0_host[trial])
        results.append(
            schedule.result(dx2=float(dx2[trial]), dy2=float(dy2[trial]), seconds=seconds)
        )
    return results


def _distance(rep: torch.Tensor) -> torch.Tensor:
    """``||r_1 - r_2||^2`` per trial, in float64, for a representation ``(T, 2, n)``."""
    diff = rep[:, 0].double() - rep[:, 1].double()
    return (diff * diff).sum(-1)
