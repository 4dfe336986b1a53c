"""Many two-point trials of one architecture and optimiser as one batched computation.

The parameters of ``T`` trials are stacked along a leading trial dimension,
so a GPU runs all trials at once, by one of two engines
(:func:`repdyn.fast.choose_trainer` picks):

- ``"batched"``, hand-written kernels for the plain MLP trained by SGD
  (:class:`BatchedMLP`): every product of the forward and backward is one
  batched matrix product (``baddbmm`` / ``bmm``) and each trial's SGD update
  its own rank-2 ``baddbmm_``, in place;
- ``"functional"``, every other architecture and optimiser
  (:class:`repdyn.fast._stacked.StackedNetworks`): the network's own forward
  vectorised over the trials by ``torch.func``, each trial's optimiser state
  and dropout noise its own.

A trial that diverges produces NaN only in its own slice; it is recorded as
diverged at the end of its chunk and dropped from the batch, and so is a
trial that stops once converged, so the others carry on unaffected.

Recorded values stay on the device in a chunk buffer and reach the host once
per chunk, the loop's only host synchronisation; the per-trial rules
(divergence, convergence, status) are those of
:func:`repdyn.track.track_pair`, through :class:`repdyn.track.ChunkSchedule`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from repdyn import checks
from repdyn.fast import _inputs as check
from repdyn.fast._layout import BATCHED, FUNCTIONAL, Layout, choose_trainer, layout, taps, unsupported_reason
from repdyn.fast._stacked import (
    OPTIMIZERS,
    DropoutNoise,
    StackedNetworks,
    dropout_probability,
    stack_reason,
    to_device,
)
from repdyn.nets import Network
from repdyn.track import (
    CHECK_EVERY,
    MEASURE_MODES,
    ChunkSchedule,
    PairLog,
    PairTracking,
    THEORY_LOSS,
    check_loss,
    forward_depends_on_mode,
    loss_scale,
    pair_metrics,
    resolve_layers,
)

#: Host memory the dropout noise drawn ahead may take (one chunk of epochs).
NOISE_CHUNK_BYTES = 64 * 2**20


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


class _Kernels:
    """:class:`BatchedMLP` as an engine of :func:`train_pairs_batched` (plain MLP, SGD)."""

    def __init__(self, networks: Sequence[Network], layers: Any, lr: float, device: torch.device,
                 scale: float) -> None:  # fmt: skip
        self.layouts = [layout(network) for network in networks]
        self.taps = taps(networks[0], layers)
        self.names = tuple(tap.name for tap in self.taps)
        self.mlp = BatchedMLP(self.layouts, device)
        self.lr = lr
        # d loss / d pred of the project loss (the mean over 2 points), times the convention's factor
        self.gradient_factor = 0.5 * scale
        self._g: torch.Tensor | None = None

    def predict(self, x: torch.Tensor, noise: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        pred = self.mlp.forward(x)
        return pred, [_distance(self.mlp.representation(t.layer, t.pre)) for t in self.taps]

    def train_forward(
        self, x: torch.Tensor, y: torch.Tensor, noise: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        pred, distances = self.predict(x, noise)
        self._g = (pred - y) * self.gradient_factor
        return pred, distances

    def step(self) -> None:
        self.mlp.step(self._g, self.lr)

    def keep(self, rows: torch.Tensor) -> None:
        self.mlp.keep(rows)

    def write_back(self, position: int, trial: int) -> None:
        self.mlp.write_back(position, self.layouts[trial])


class _Functional:
    """:class:`StackedNetworks` and a batched optimiser as an engine of :func:`train_pairs_batched`."""

    def __init__(self, networks: Sequence[Network], layers: Any, optimizer: str, lr: float,
                 device: torch.device, scale: float) -> None:  # fmt: skip
        self.networks = networks
        self.names = _functional_layers(networks[0], layers)
        self.stack = StackedNetworks(networks, self.names, device, loss_scale=scale)
        self.optimizer = OPTIMIZERS[optimizer](self.stack.params, lr)
        self._grads: list[torch.Tensor] = []

    def predict(self, x: torch.Tensor, noise: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.stack.predict(x, noise)

    def train_forward(
        self, x: torch.Tensor, y: torch.Tensor, noise: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._grads, pred, distances = self.stack.gradients(x, y, noise)
        return pred, distances

    def step(self) -> None:
        self.optimizer.step(self.stack.params, self._grads)
        self._grads = []  # freed before the next forward, or before trials leave

    def keep(self, rows: torch.Tensor) -> None:
        self.stack.keep(rows)
        self.optimizer.keep(rows)

    def write_back(self, position: int, trial: int) -> None:
        self.stack.write_back(position, self.networks[trial])


def _functional_layers(network: Network, layers: Any) -> tuple[str, ...]:
    """The tracked layers as submodule names the functional engine hooks (no output selectors)."""
    names = resolve_layers(network, layers)
    for name in names:
        if "[" in name or name == "dropout":
            raise ValueError(
                f"layers: the batched engine cannot track {name!r}; track a hidden layer ('hidden.k', "
                "'hidden.k.connection', 'hidden.k.activation') or 'output', or use repdyn.track.track_pair"
            )
    return names


def _per_trial(name: str, value: Any, count: int) -> list[Any]:
    """``value`` once per trial: a sequence of ``count`` values as given, anything else repeated."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if len(value) != count:
            raise ValueError(f"{name} must be one value or a sequence of {count}, one per network; got "
                             f"{len(value)} values")  # fmt: skip
        return list(value)
    return [value] * count


def _seeds(seeds: Any, count: int) -> list[int]:
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence) or len(seeds) != count:
        raise ValueError(
            f"seeds must be a sequence of {count} ints, one per network (the seed track_pair takes, "
            f"which seeds dropout); got {checks.describe(seeds)}"
        )
    return [checks.seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)]


@check.renamed_keywords(chunk_size="check_every")
def train_pairs_batched(
    networks: Sequence[Any],
    xs: Any,
    ys: Any,
    *,
    layers: Any = None,
    lr: float,
    epochs: int,
    optimizer: str = "sgd",
    measure: str = "eval",
    seeds: Sequence[int] | None = None,
    loss_threshold: float | Sequence[float | None] | None = None,
    stop_when_converged: bool | Sequence[bool] = False,
    check_every: int = CHECK_EVERY,
    device: torch.device | str | None = None,
    trainer: str | None = None,
    kernel_every: None = None,
    loss: str = THEORY_LOSS,
) -> list[PairTracking]:
    """Train several networks of one architecture on their pairs, all at once.

    Trial ``i`` is the run ``track_pair(networks[i], layers, xs[i], ys[i],
    optimizer=make_optimizer(optimizer, ..., lr=lr), measure=measure,
    seed=seeds[i], ...)`` computed with a leading trial dimension: different
    seeds, different pairs (``dx2``, ``dy2``), one architecture, optimiser and
    learning rate. Each network is trained in place (its final weights are
    those ``track_pair`` would leave). Every variant of Tables 1 and 2
    (``mlp``, ``convolution``, ``skip``, ``dropout``) and both optimisers are
    supported; :func:`choose_trainer` picks the engine.

    Parameters
    ----------
    networks : sequence of repdyn.nets.Network
        Networks of one structure (modules, parameter shapes, dtype).
    xs, ys : array_like or Tensor
        Shape ``(T, 2, in_dim)`` and ``(T, 2, out_dim)``: one pair per trial,
        or a single pair ``(2, dim)`` shared by all.
    layers : str, sequence of str, "all" or None
        Tracked layers, as for :func:`repdyn.track.track_pair` (resolved on
        ``networks[0]``): ``hidden.k``, ``hidden.k.connection``,
        ``hidden.k.activation``, ``output``.
    lr, epochs, check_every
        As for :func:`train_pair_fast`; the same for every trial.
    loss_threshold, stop_when_converged
        As for :func:`train_pair_fast`: one for every trial, or a sequence of
        one per trial (trials with different thresholds batch together).
    optimizer : {"sgd", "adam"}, default "sgd"
        As :func:`repdyn.nets.make_optimizer` builds it; Adam keeps each
        trial's moments.
    measure : {"eval", "train"}, default "eval"
        As for ``track_pair``: with dropout, ``"eval"`` records from a forward
        without dropout before each step, ``"train"`` from the training forward.
    seeds : sequence of int, optional
        One per network; needed when the networks have dropout: trial ``i``
        draws the masks ``track_pair(..., seed=seeds[i])`` draws on the CPU, on
        every device and in any batch.
    device : torch.device or str, optional
        Where to compute (e.g. ``"cuda"``); default: where the networks are.
    trainer : {"batched", "functional"}, optional
        The engine; default :func:`choose_trainer`'s (``"batched"``, the
        hand-written kernels, exists for plain-SGD MLPs only). For benchmarks
        and checks: both compute the same runs.
    kernel_every : None
        Refused: kernel rates need :func:`repdyn.track.track_pair`.
    loss : {"half_sum", "half_mse", "mse"}, default "half_sum"
        The loss convention of every trial's steps, as for ``track_pair``
        (the recorded loss is the project loss).

    Returns
    -------
    list of repdyn.track.PairTracking
        One per network, in order. ``seconds`` is the batch's wall-clock time
        divided by the number of trials.

    Raises
    ------
    ValueError
        Networks of different structures, a network the engine cannot train
        (with the reason), missing seeds for dropout, or an argument out of
        range (see ``track_pair``).
    """
    check.no_kernel_rates(kernel_every)
    if isinstance(networks, torch.nn.Module) or not isinstance(networks, Sequence):
        raise TypeError("networks must be a sequence (list or tuple) of repdyn.nets.Network")
    if not networks:
        raise ValueError("networks is empty; pass at least one network")
    for index, network in enumerate(networks):
        reason = stack_reason(network)
        if reason is not None:
            raise ValueError(
                f"networks[{index}] cannot be trained in a batch: {reason}. Train it with "
                "repdyn.track.track_pair instead"
            )
    name = checks.choice("optimizer", optimizer.strip().lower() if isinstance(optimizer, str) else optimizer,
                         OPTIMIZERS)  # fmt: skip
    checks.choice("measure", measure, MEASURE_MODES)
    checks.choice("trainer", trainer, (BATCHED, FUNCTIONAL, None), fix="None lets choose_trainer pick")
    lr = check.learning_rate(lr)
    loss = check_loss(loss)
    epochs = check.count("epochs", epochs)
    check_every = check.count("check_every", check_every)
    n_trials, first = len(networks), networks[0]
    stops = [checks.flag(f"stop_when_converged[{i}]", stop)
             for i, stop in enumerate(_per_trial("stop_when_converged", stop_when_converged, n_trials))]
    thresholds = [check.threshold(value, stop) for value, stop in
                  zip(_per_trial("loss_threshold", loss_threshold, n_trials), stops, strict=True)]  # fmt: skip
    dtype = next(first.parameters()).dtype
    x_all = check.points("xs", xs, width=first.in_dim, dtype=dtype, leading=(n_trials,))
    y_all = check.points("ys", ys, width=first.out_dim, dtype=dtype, leading=(n_trials,))
    dx2 = check.squared_distances(x_all, "xs", strict=True)
    dy2 = check.squared_distances(y_all, "ys", strict=False)
    device = next(first.parameters()).device if device is None else torch.device(device)
    p = dropout_probability(first)
    if p > 0:
        if seeds is None:
            raise ValueError(
                "seeds is required for networks with dropout: pass one int per network (the seed "
                "track_pair takes), so that each trial draws its own masks"
            )
        seeds = _seeds(seeds, n_trials)

    if trainer is None:
        trainer = choose_trainer(first.spec, name, device=device, batched=True)
        if trainer == BATCHED and any(unsupported_reason(n, name) is not None for n in networks):
            trainer = FUNCTIONAL  # changed after it was built: not a plain MLP any more
    elif trainer == BATCHED:
        for index, network in enumerate(networks):
            reason = unsupported_reason(network, name)
            if reason is not None:
                raise ValueError(f"trainer='batched' cannot train networks[{index}]: {reason}; pass "
                                 "trainer=None or 'functional'")  # fmt: skip
    kernels = trainer == BATCHED
    scale = loss_scale(loss, first.out_dim)
    start = time.perf_counter()
    with torch.no_grad():
        engine: _Kernels | _Functional = (
            _Kernels(networks, layers, lr, device, scale) if kernels
            else _Functional(networks, layers, name, lr, device, scale)
        )  # fmt: skip
        noise = None
        if p > 0:
            per_epoch = n_trials * 2 * sum(first.hidden_sizes) * dtype.itemsize
            chunk = max(1, min(check_every, epochs + 1, NOISE_CHUNK_BYTES // per_epoch))
            noise = DropoutNoise(seeds, p, first.hidden_sizes, dtype, device, chunk)
        separate = measure == "eval" and forward_depends_on_mode(first)
        try:
            logs, schedules = _run(engine, noise, separate, x_all, y_all, device=device, epochs=epochs,
                                   check_every=check_every, thresholds=thresholds, stops=stops)  # fmt: skip
        finally:
            if noise is not None:
                noise.close()
    seconds = (time.perf_counter() - start) / n_trials
    return [
        schedule.result(dx2=float(dx2[trial]), dy2=float(dy2[trial]), seconds=seconds)
        for trial, schedule in enumerate(schedules)
    ]


def _run(
    engine: _Kernels | _Functional,
    noise: DropoutNoise | None,
    separate: bool,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    *,
    device: torch.device,
    epochs: int,
    check_every: int,
    thresholds: list[float | None],
    stops: list[bool],
) -> tuple[list[PairLog], list[ChunkSchedule]]:
    """The epoch loop of :func:`train_pairs_batched`: the logs and schedules of every trial.

    ``separate``: record from a forward without dropout before each training
    forward (``measure="eval"`` of a network whose forward depends on the mode).
    """
    n_trials = x_all.shape[0]
    logs = [PairLog(epochs, engine.names) for _ in range(n_trials)]
    schedules = [
        ChunkSchedule(log, n_epochs=epochs, check_every=check_every, loss_threshold=threshold,
                      stop_when_converged=stop)
        for log, threshold, stop in zip(logs, thresholds, stops, strict=True)
    ]  # fmt: skip
    size = schedules[0].size
    x, y = x_all.to(device), y_all.to(device)
    active = list(range(n_trials))  # trial of each batch position
    slots = torch.arange(n_trials, device=device)
    buffer = torch.full((size, n_trials, len(engine.names) + 3), float("nan"), dtype=torch.float64,
                        device=device)  # fmt: skip
    m0 = torch.full((n_trials,), float("nan"), dtype=torch.float64, device=device)
    chunk_start, epoch = 0, 0

    def flush(stop: int) -> None:
        rows = buffer[: stop - chunk_start].cpu().numpy()
        for trial, log in enumerate(logs):
            log.values[chunk_start:stop, : log.TRAIN_LOSS] = rows[:, trial]
        buffer.fill_(float("nan"))

    def drop(leaving: list[int]) -> None:
        nonlocal active, slots, x, y
        stay = [p for p in range(len(active)) if p not in leaving]
        rows = to_device(torch.tensor(stay, dtype=torch.long, device="cpu"), device)
        engine.keep(rows)
        if noise is not None:
            noise.keep(rows, stay)
        active = [active[p] for p in stay]
        slots, x, y = (t.index_select(0, rows) for t in (slots, x, y))

    while True:
        drawn = () if noise is None else noise.at(epoch)
        if separate:
            pred, distances = engine.predict(x, ())
        else:
            pred, distances = engine.train_forward(x, y, drawn)
        metrics = pair_metrics(pred, y)
        columns = [*distances, metrics.y, metrics.w, metrics.loss.double()]
        buffer[epoch - chunk_start].index_copy_(0, slots, torch.stack(columns, dim=1))
        if epoch == 0:
            m0.index_copy_(0, slots, metrics.m0)
        # A trial whose last epoch this is keeps its weights from before the step.
        leaving = [p for p, t in enumerate(active) if schedules[t].final == epoch]
        for position in leaving:
            engine.write_back(position, active[position])
        if len(leaving) == len(active):
            break
        if separate:
            engine.train_forward(x, y, drawn)
        engine.step()
        if (epoch + 1) % size == 0:
            flush(epoch + 1)
            chunk_start = epoch + 1
            for position, trial in enumerate(active):
                if position not in leaving and schedules[trial].after_step(epoch):
                    engine.write_back(position, trial)
                    leaving.append(position)
        if leaving:
            drop(leaving)
            if not active:
                break
        epoch += 1
    flush(epoch + 1)
    m0_host = m0.cpu().numpy()
    for log, value in zip(logs, m0_host, strict=True):
        log.m0 = float(value)
    return logs, schedules


def _distance(rep: torch.Tensor) -> torch.Tensor:
    """``||r_1 - r_2||^2`` per trial, in float64, for a representation ``(T, 2, n)``."""
    diff = rep[:, 0].double() - rep[:, 1].double()
    return (diff * diff).sum(-1)
