"""What a batch of two-point trials costs per epoch: device memory and time.

A planner sizes batches with :func:`split_batches` (as many trials as fit a
memory limit, in batches of nearly equal size) and estimates their time with
:func:`batch_cost`: the seconds per epoch of one batch, measured by training
it for a few epochs on the device, or, unmeasured, the physical floor of the
step, every weight (and, for Adam, both moments) read and written once at the
device's memory bandwidth (:func:`memory_bandwidth`, measured by copying a
large buffer).

The memory model counts what the engines of :func:`train_pairs_batched`
hold at their peak: the stacked parameters, the gradients and optimiser state
of the functional engine, the activations of one forward and backward, the
chunk of recorded rows, the dropout noise drawn ahead, and the copy of the
largest stacked tensor made when trials leave the batch.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from repdyn import checks
from repdyn.fast._layout import BATCHED, choose_trainer
from repdyn.nets import ArchSpec, Network, build_network
from repdyn.track import CHECK_EVERY

T = TypeVar("T")

#: Copies of a trial's hidden representations a forward and backward hold at
#: once (pre-activation, activation, their gradients), per point.
ACTIVATION_COPIES = 4
#: Host memory of the dropout noise drawn ahead (:data:`repdyn.fast._batched.NOISE_CHUNK_BYTES`),
#: held once on the device and once on the host.
NOISE_BYTES = 64 * 2**20
#: Bytes copied per bandwidth measurement (the buffer is read and written).
_BANDWIDTH_BYTES = {"cpu": 128 * 2**20, "cuda": 1024 * 2**20}


@dataclass(frozen=True)
class BatchCost:
    """The cost of training ``trials`` two-point trials of one architecture as one batch.

    Attributes
    ----------
    spec : ArchSpec
        The architecture and optimiser.
    trials : int
        Trials in the batch.
    device : str
    trainer : str
        The engine (:func:`choose_trainer` with ``batched=True``).
    parameters : int
        Parameters of one network.
    bytes : int
        Device memory the batch holds at its peak (:func:`batch_bytes`).
    floor_seconds : float
        Seconds per epoch of the batch at the memory bandwidth: each weight
        (and each of Adam's moments) read and written once per step.
    seconds : float or None
        Seconds per epoch of the batch, measured on the device (None when not measured).
    bandwidth : float
        Bytes per second the floor assumes.
    peak_bytes : int or None
        On a GPU, the peak memory the measured run allocated (to check
        :attr:`bytes` against); None otherwise.
    """

    spec: ArchSpec
    trials: int
    device: str
    trainer: str
    parameters: int
    bytes: int
    floor_seconds: float
    seconds: float | None
    bandwidth: float
    peak_bytes: int | None = None

    @property
    def epoch_seconds(self) -> float:
        """Seconds per epoch of the batch: measured when measured, else the bandwidth floor."""
        return self.floor_seconds if self.seconds is None else self.seconds

    @property
    def trial_epoch_seconds(self) -> float:
        """Seconds per epoch and trial."""
        return self.epoch_seconds / self.trials

    @property
    def floor_fraction(self) -> float | None:
        """The floor over the measured time: the fraction of the bandwidth the batch uses (None unmeasured)."""
        return None if self.seconds is None else self.floor_seconds / self.seconds


def _network(spec: ArchSpec, in_dim: int, out_dim: int) -> Network:
    """The network of ``spec`` on the meta device: its shapes, without memory."""
    with torch.device("meta"):
        return Network(spec, in_dim, out_dim)


def parameter_count(spec: ArchSpec, in_dim: int = 1, out_dim: int = 1) -> int:
    """Parameters of one network of ``spec``."""
    return sum(p.numel() for p in _network(spec, in_dim, out_dim).parameters())


def step_bytes(spec: ArchSpec, in_dim: int = 1, out_dim: int = 1, dtype: torch.dtype = torch.float32) -> int:
    """Bytes one trial's step must move at least: every weight read and written, Adam's moments too."""
    passes = 2 + (4 if spec.optimizer == "adam" else 0)
    return passes * parameter_count(spec, in_dim, out_dim) * dtype.itemsize


def batch_bytes(
    spec: ArchSpec,
    trials: int,
    *,
    device: torch.device | str = "cpu",
    in_dim: int = 1,
    out_dim: int = 1,
    dtype: torch.dtype = torch.float32,
    check_every: int = CHECK_EVERY,
    all_layers: bool = True,
) -> int:
    """Device memory a batch of ``trials`` trials of ``spec`` holds at its peak (bytes).

    Parameters
    ----------
    spec : ArchSpec
        Architecture and optimiser (``spec.epochs`` bounds the recorded chunk).
    trials : int
        Trials in the batch.
    device : torch.device or str
        Where it trains (decides the engine, :func:`choose_trainer`).
    in_dim, out_dim : int
        The pair's dimensions.
    dtype : torch.dtype
        The networks' dtype.
    check_every : int
        Epochs per recorded chunk.
    all_layers : bool, default True
        Count a recorded column per hidden layer (an upper bound for one layer).
    """
    trials = checks.integer("trials", trials, minimum=1)
    network = _network(spec, in_dim, out_dim)
    item = dtype.itemsize
    parameters = sum(p.numel() for p in network.parameters())
    largest = max(p.numel() for p in network.parameters())
    if choose_trainer(spec, device=device, batched=True) == BATCHED:
        copies = 1  # the weights, updated in place: no gradient tensors
    else:
        # Weights and gradients; Adam adds two moments and the denominator of its step.
        copies = 2 + (3 if spec.optimizer == "adam" else 0)
    hidden = sum(network.hidden_sizes)
    activations = ACTIVATION_COPIES * 2 * (in_dim + hidden + out_dim) * item
    if spec.variant == "convolution":  # the unfolded input of one convolution's gradient
        activations += 2 * spec.channels * spec.kernel_size * spec.units * item
    columns = (spec.hidden_layers if all_layers else 1) + 3
    rows = min(check_every, spec.epochs + 1) * columns * 8
    per_trial = copies * parameters * item + activations + rows
    noise = 0
    if spec.variant == "dropout" and spec.dropout > 0:
        noise = min(NOISE_BYTES, trials * 2 * hidden * item * min(check_every, spec.epochs + 1))
    # Trials leaving the batch: the stacked tensors are copied one at a time.
    return trials * per_trial + noise + trials * largest * item


@functools.cache
def _bandwidth(device: torch.device) -> float:
    nbytes = _BANDWIDTH_BYTES["cpu" if device.type == "cpu" else "cuda"]
    source = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    target = torch.empty_like(source)
    target.copy_(source)  # first touch
    best = float("inf")
    for _ in range(5):
        _synchronize(device)
        start = time.perf_counter()
        target.copy_(source)
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * nbytes / best  # read once, written once


def memory_bandwidth(device: torch.device | str = "cpu") -> float:
    """The device's memory bandwidth in bytes per second, measured by copying a large buffer (cached).

    The best of five copies of 128 MiB (CPU) or 1 GiB (GPU), counting the
    bytes read and the bytes written.
    """
    return _bandwidth(torch.device(device))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_memory(device: torch.device | str = "cpu") -> int | None:
    """Free memory of ``device`` in bytes (a GPU's free memory; the host's available memory), or None if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def batch_cost(
    spec: ArchSpec,
    trials: int,
    device: torch.device | str = "cpu",
    *,
    in_dim: int = 1,
    out_dim: int = 1,
    dtype: torch.dtype = torch.float32,
    check_every: int = CHECK_EVERY,
    measure_epochs: int = 0,
    bandwidth: float | None = None,
) -> BatchCost:
    """Memory and time per epoch of one batch of ``trials`` trials of ``spec`` on ``device``.

    Parameters
    ----------
    spec : ArchSpec
        Architecture and optimiser.
    trials : int
        Trials in the batch.
    device : torch.device or str
    in_dim, out_dim, dtype, check_every
        As for :func:`batch_bytes`.
    measure_epochs : int, default 0
        With 0 only the bandwidth floor is given; otherwise the batch is
        trained (networks of seeds ``0 .. trials - 1`` on one pair) for 2
        and then for ``2 + measure_epochs`` more epochs, and the difference, divided by
        ``measure_epochs``, is the measured seconds per epoch (without the
        fixed cost of starting a batch; should the machine's noise swallow
        the difference, the long run's mean per epoch, an upper bound).
    bandwidth : float, optional
        Bytes per second for the floor; default :func:`memory_bandwidth` of the device.

    Returns
    -------
    BatchCost
    """
    if not isinstance(spec, ArchSpec):
        raise TypeError(f"spec must be a repdyn.nets.ArchSpec; got {type(spec).__name__}")
    trials = checks.integer("trials", trials, minimum=1)
    measure_epochs = checks.integer("measure_epochs", measure_epochs, minimum=0)
    device = torch.device(device)
    bandwidth = memory_bandwidth(device) if bandwidth is None else checks.real("bandwidth", bandwidth, above=0)
    floor = trials * step_bytes(spec, in_dim, out_dim, dtype) / bandwidth
    seconds = peak = None
    if measure_epochs:
        networks = [build_network(spec, in_dim, out_dim, seed=seed, dtype=dtype) for seed in range(trials)]
        short, _ = _timed_batch(spec, networks, device, epochs=2)
        long, peak = _timed_batch(spec, networks, device, epochs=2 + measure_epochs)
        # A difference lost in the machine's noise: the long run's mean, start included (an upper bound).
        seconds = (long - short) / measure_epochs if long > short else long / (2 + measure_epochs)
    return BatchCost(
        spec=spec, trials=trials, device=str(device),
        trainer=choose_trainer(spec, device=device, batched=True),
        parameters=parameter_count(spec, in_dim, out_dim),
        bytes=batch_bytes(spec, trials, device=device, in_dim=in_dim, out_dim=out_dim, dtype=dtype,
                          check_every=check_every),
        floor_seconds=floor, seconds=seconds, bandwidth=bandwidth, peak_bytes=peak,
    )  # fmt: skip


def _timed_batch(spec: ArchSpec, networks: list[Network], device: torch.device, *,
                 epochs: int) -> tuple[float, int | None]:  # fmt: skip
    """Wall-clock seconds of training ``networks`` (in place) as one batch for ``epochs`` epochs,
    and on a GPU the peak of the memory allocated meanwhile (bytes)."""
    from repdyn.fast._batched import train_pairs_batched

    first = networks[0]
    dtype = next(first.parameters()).dtype
    x = torch.zeros(2, first.in_dim, dtype=dtype, device="cpu")
    x[1] = 1.0 / first.in_dim**0.5  # dx2 = 1, dy2 = 0.5 at any dimension
    y = torch.zeros(2, first.out_dim, dtype=dtype, device="cpu")
    y[1] = 0.5**0.5 / first.out_dim**0.5
    _synchronize(device)
    before = None
    if device.type == "cuda":
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    train_pairs_batched(networks, x, y, layers=None, lr=spec.lr, epochs=epochs, optimizer=spec.optimizer,
                        seeds=list(range(len(networks))), device=device)  # fmt: skip
    _synchronize(device)
    seconds = time.perf_counter() - start
    peak = None if before is None else torch.cuda.max_memory_allocated(device) - before
    return seconds, peak


def split_batches(
    items: Sequence[T],
    spec: ArchSpec,
    *,
    memory: float,
    device: torch.device | str = "cpu",
    most: int | None = None,
    in_dim: int = 1,
    out_dim: int = 1,
    dtype: torch.dtype = torch.float32,
    check_every: int = CHECK_EVERY,
) -> list[list[T]]:
    """Split the trials ``items`` of one architecture into batches that each fit ``memory`` bytes.

    As few batches as fit (each at most ``most`` trials), of nearly equal
    size, in the order of ``items``.

    Raises
    ------
    ValueError
        If a single trial does not fit: the message gives both sizes.
    """
    memory = checks.real("memory", memory, above=0)
    most = checks.integer("most", most, minimum=1, allow_none=True)
    items = list(items)
    if not items:
        return []

    def size(count: int) -> int:
        return batch_bytes(spec, count, device=device, in_dim=in_dim, out_dim=out_dim, dtype=dtype,
                           check_every=check_every)  # fmt: skip

    if size(1) > memory:
        raise ValueError(
            f"memory must hold at least one trial of {spec.name!r} ({size(1) / 2**30:.3g} GiB); got "
            f"{memory / 2**30:.3g} GiB. Use a device with more memory, or a smaller network"
        )
    fits, top = 1, min(len(items), most or len(items))
    while fits < top:  # the largest batch that fits, by bisection (bytes grow with the count)
        middle = (fits + top + 1) // 2
        if size(middle) <= memory:
            fits = middle
        else:
            top = middle - 1
    count = -(-len(items) // fits)
    base, extra = divmod(len(items), count)
    batches, start = [], 0
    for k in range(count):
        stop = start + base + (1 if k < extra else 0)
        batches.append(items[start:stop])
        start = stop
    return batches
