"""What a list of trials will cost on a device, before anything trains: the batches, their memory, the time.

:func:`plan_trials` forms the batches :func:`repdyn.runs._batched.run_batched`
would form (the same grouping and the same split by memory, for a device
memory that is measured here or stated for a device elsewhere), gives each
its peak memory (:func:`repdyn.fast.batch_bytes`) and its time: the epochs
times a per-epoch cost that is either

- ``"measured"``: a short calibration on this machine's device
  (:func:`repdyn.fast.batch_cost` trains the batch's architecture for a few
  epochs at the group's smallest and largest batch size; sizes between are
  interpolated linearly), or
- ``"floor"``: the cost model, every weight (and Adam's moments) read and
  written once per step at the device's memory bandwidth. A lower bound: a
  small batch on a GPU waits on kernel launches, not on memory.

Trials that train one by one (on the CPU, or data-set trials) take the
single-core CPU model of :func:`estimate_trial_seconds` and
:func:`estimate_dataset_seconds`, divided over the workers; so do the fits
of batched trials, which run on the CPU. A group whose single trial does not
fit the device's memory is refused: the plan names it, and a run would stop.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from repdyn import checks
from repdyn.nets import ArchSpec
from repdyn.runs._execution import DEVICES

#: Ways a batch's per-epoch cost was obtained (see the module's docstring).
COST_SOURCES = ("measured", "floor", "unknown")


@dataclass(frozen=True)
class PlannedBatch:
    """One batch: trials of one architecture trained together on the device.

    Attributes
    ----------
    architecture, variant, optimizer, trainer : str
        The architecture's name and kind, and the engine that trains it.
    units, hidden_layers, epochs : int
        Its size, and the epochs each trial runs (all of them: a trial that
        stops once converged ends sooner, so the time is an upper bound).
    trials : int
        Trials in the batch.
    bytes : int
        Device memory the batch holds at its peak.
    epoch_seconds : float or None
        Seconds per epoch of the whole batch; None when unknown (no
        bandwidth stated for a device that is not here).
    cost : {"measured", "floor", "unknown"}
        Where ``epoch_seconds`` comes from.
    floor_epoch_seconds : float or None
        The bandwidth floor of an epoch (None when the bandwidth is unknown):
        against a measured time, the share of the bandwidth the batch uses.
    peak_bytes : int or None
        On a GPU, the memory a calibration of exactly this size allocated at
        its peak (to check :attr:`bytes` against); None otherwise.
    """

    architecture: str
    variant: str
    optimizer: str
    trainer: str
    units: int
    hidden_layers: int
    epochs: int
    trials: int
    bytes: int
    epoch_seconds: float | None
    cost: str
    floor_epoch_seconds: float | None = None
    peak_bytes: int | None = None

    @property
    def seconds(self) -> float | None:
        """Training seconds of the batch (None when the per-epoch cost is unknown)."""
        return None if self.epoch_seconds is None else self.epochs * self.epoch_seconds

    def to_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self.__dataclass_fields__}, "seconds": self.seconds}


@dataclass(frozen=True)
class TrialPlan:
    """What a list of trials costs on one device.

    Attributes
    ----------
    device : str
    trials : int
        Distinct trials.
    batches : tuple of PlannedBatch
        The batches trained on the device, in the order they run.
    one_by_one : int
        Trials outside the batches above (on the CPU, data-set trials,
        models the batched engine lacks).
    one_by_one_seconds : float
        Their single-core seconds by the CPU model (training and fits).
    seed_batches : int
        Of those, the batches of data-set trials that differ only in their
        seed (:func:`repdyn.runs.run_dataset_trials` trains each at once
        where two-point trials batch); their time is the CPU model's, untimed.
    fits : int
        Fits of the batched trials, run on the CPU after each batch.
    fit_seconds : float
        Their single-core seconds.
    workers : int
        CPU processes the one-by-one trials and the fits share.
    memory : float or None
        The device memory in bytes the batches were sized for (None: nothing batched).
    bandwidth : float or None
        Bytes per second of the cost model (None: unknown or not needed).
    refused : tuple of str
        One message per group whose single trial does not fit the device's memory.
    """

    device: str
    trials: int
    batches: tuple[PlannedBatch, ...] = ()
    one_by_one: int = 0
    one_by_one_seconds: float = 0.0
    seed_batches: int = 0
    fits: int = 0
    fit_seconds: float = 0.0
    workers: int = 1
    memory: float | None = None
    bandwidth: float | None = None
    refused: tuple[str, ...] = field(default_factory=tuple)

    @property
    def training_seconds(self) -> float | None:
        """Seconds the device trains the batches (None when a batch's cost is unknown)."""
        times = [batch.seconds for batch in self.batches]
        return None if None in times else float(sum(times))  # type: ignore[arg-type]

    @property
    def cpu_seconds(self) -> float:
        """Wall seconds of the CPU's share: one-by-one trials and fits over the workers."""
        return (self.one_by_one_seconds + self.fit_seconds) / self.workers

    @property
    def seconds(self) -> float | None:
        """Estimated wall seconds: the batches one after another, then the CPU's share."""
        training = self.training_seconds
        return None if training is None else training + self.cpu_seconds

    @property
    def cost(self) -> str:
        """``"measured"``, ``"floor"`` or ``"unknown"`` if every batch says so, else ``"mixed"`` (``"none"``: no batch)."""
        sources = {batch.cost for batch in self.batches}
        return "none" if not sources else sources.pop() if len(sources) == 1 else "mixed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device, "trials": self.trials, "batched_trials": self.trials - self.one_by_one,
            "batches": [batch.to_dict() for batch in self.batches], "batch_count": len(self.batches),
            "peak_bytes": max((batch.bytes for batch in self.batches), default=0),
            "one_by_one": self.one_by_one, "one_by_one_cpu_seconds": self.one_by_one_seconds,
            "seed_batches": self.seed_batches,
            "fits": self.fits, "fit_cpu_seconds": self.fit_seconds, "workers": self.workers,
            "training_seconds": self.training_seconds, "cpu_seconds": self.cpu_seconds,
            "seconds": self.seconds, "cost": self.cost, "memory_bytes": self.memory,
            "bandwidth_bytes_per_second": self.bandwidth, "refused": list(self.refused),
        }  # fmt: skip


def plan_trials(
    configs: Sequence[Any],
    *,
    device: str,
    batched: bool | None = None,
    memory: float | None = None,
    bandwidth: float | None = None,
    calibrate_epochs: int = 0,
    workers: int = 1,
) -> TrialPlan:
    """The plan of running ``configs`` (two-point and data-set trials) on ``device``.

    Parameters
    ----------
    configs : sequence of TwoPointConfig or DatasetConfig
        Distinct trials (each is computed once); their own ``device`` is replaced by ``device``.
    device : {"cpu", "cuda"}
        Where they train; need not be this machine's.
    batched : bool, optional
        Whether two-point trials train in batches or one by one; default as
        :func:`repdyn.runs.run_trials` decides for ``device`` (batches on a GPU).
    memory : float, optional
        The device's memory in bytes; default its free memory here (needed
        for ``"cuda"`` when this machine has no GPU).
    bandwidth : float, optional
        The device's memory bandwidth in bytes per second for the cost
        model; default measured here (:func:`repdyn.fast.memory_bandwidth`)
        when the device is here, else unknown.
    calibrate_epochs : int, default 0
        Epochs each calibration batch is timed for (0: the cost model only).
        Needs the device here.
    workers : int, default 1
        CPU processes of the one-by-one trials and of the fits.

    Returns
    -------
    TrialPlan

    Raises
    ------
    ValueError
        A ``cuda`` plan without ``memory`` on a machine without CUDA, or a
        calibration asked for a device that is not here.
    """
    from repdyn.runs._batched import batchable, batches_trials, group_key, split_group
    from repdyn.runs._dataset_trial import DatasetConfig, estimate_dataset_seconds
    from repdyn.runs._two_point import TwoPointConfig
    from repdyn.runs._two_point_run import estimate_trial_seconds, fit_count, fit_seconds

    device = checks.choice("device", device, DEVICES)
    batched = batches_trials(device) if batched is None else checks.flag("batched", batched)
    if memory is not None:
        memory = checks.real("memory", memory, above=0)
    if bandwidth is not None:
        bandwidth = checks.real("bandwidth", bandwidth, above=0)
    calibrate_epochs = checks.integer("calibrate_epochs", calibrate_epochs, minimum=0)
    workers = checks.integer("workers", workers, minimum=1)
    here = _device_here(device)
    if calibrate_epochs and not here:
        raise checks.ArgumentValueError(
            "calibrate_epochs", f"a calibration trains on the device, and this machine has no {device}; "
            "pass calibrate_epochs=0 to plan from the cost model")
    for i, config in enumerate(configs):
        if not isinstance(config, TwoPointConfig | DatasetConfig):
            raise checks.ArgumentTypeError(
                f"configs[{i}]", f"configs[{i}] must be a TwoPointConfig or a DatasetConfig; got "
                f"{checks.describe(config)}")
    configs = list(dict.fromkeys(replace(c, device=device) if c.device != device else c for c in configs))
    groups: dict[str, list[Any]] = {}
    single: list[Any] = []
    for config in configs:
        if batched and isinstance(config, TwoPointConfig) and batchable(config):
            groups.setdefault(group_key(config), []).append(config)
        else:
            single.append(config)
    if groups and memory is None:
        if not here:
            raise checks.ArgumentValueError(
                "memory", f"this machine has no {device}, so its memory is unknown; state the device's memory "
                "to plan the batches")
        from repdyn.fast import device_memory

        memory = device_memory(device)
    if groups and bandwidth is None and here:
        from repdyn.fast import memory_bandwidth

        bandwidth = memory_bandwidth(device)
    refused: list[str] = []
    split: list[list[Any]] = []
    for members in groups.values():
        try:
            split.extend(split_group(members, members[0], memory=memory))
        except ValueError as exc:
            refused.append(f"{members[0].arch.name} ({len(members)} trials): {exc}")
    costs = _Costs(split, device, bandwidth, calibrate_epochs)
    batches = tuple(costs.batch(batch) for batch in split)
    fitted = [config for batch in split for config in batch]
    return TrialPlan(
        device=device,
        trials=len(configs),
        batches=batches,
        one_by_one=len(single),
        seed_batches=_seed_batches(single) if batched else 0,
        one_by_one_seconds=float(sum(
            estimate_dataset_seconds(c) if isinstance(c, DatasetConfig) else estimate_trial_seconds(c)
            for c in single)),
        fits=sum(fit_count(c) for c in fitted),
        fit_seconds=float(sum(fit_seconds(c) for c in fitted)),
        workers=workers,
        memory=memory if groups else None,
        bandwidth=bandwidth if groups else None,
        refused=tuple(refused),
    )  # fmt: skip


def _seed_batches(configs: list[Any]) -> int:
    """Batches of data-set trials that differ only in their seed (:func:`repdyn.runs.run_dataset_trials`'s rule)."""
    from repdyn.runs._dataset_run import batchable_seeds, seed_group

    groups: dict[str, int] = {}
    for config in configs:
        if batchable_seeds(config):
            groups[seed_group(config)] = groups.get(seed_group(config), 0) + 1
    return sum(1 for count in groups.values() if count > 1)


def _device_here(device: str) -> bool:
    if device == "cpu":
        return True
    import torch

    return bool(torch.cuda.is_available())


@functools.lru_cache(maxsize=None)
def _measured(arch: ArchSpec, count: int, device: str, in_dim: int, out_dim: int, epochs: int) -> Any:
    """The :class:`repdyn.fast.BatchCost` of ``count`` trials timed for ``epochs`` epochs (each once per process:
    experiments share architectures and batch sizes)."""
    from repdyn.fast import batch_cost, memory_bandwidth

    return batch_cost(arch, count, device, in_dim=in_dim, out_dim=out_dim, measure_epochs=epochs,
                      bandwidth=memory_bandwidth(device))  # fmt: skip


class _Costs:
    """Per-epoch costs of the batches of a plan: measured at each group's smallest and largest size, or the floor."""

    def __init__(self, batches: list[list[Any]], device: str, bandwidth: float | None, epochs: int) -> None:
        self.device, self.bandwidth, self.epochs = device, bandwidth, epochs
        sizes: dict[tuple[ArchSpec, int, int], set[int]] = {}
        for batch in batches:
            sizes.setdefault(self._key(batch[0]), set()).add(len(batch))
        self.measured: dict[tuple[ArchSpec, int, int], dict[int, Any]] = {}
        if epochs:
            for key, counts in sizes.items():
                self.measured[key] = {count: _measured(key[0], count, device, key[1], key[2], epochs)
                                      for count in sorted({min(counts), max(counts)})}  # fmt: skip

    @staticmethod
    def _key(config: Any) -> tuple[ArchSpec, int, int]:
        return config.arch, config.in_dim, config.out_dim

    def batch(self, batch: list[Any]) -> PlannedBatch:
        from repdyn.fast import batch_bytes, batch_cost, choose_trainer

        config, count = batch[0], len(batch)
        arch, shape = config.arch, {"in_dim": config.in_dim, "out_dim": config.out_dim}
        epoch_seconds = floor = peak = None
        cost = "unknown"
        if self.bandwidth is None:
            size = batch_bytes(arch, count, device=self.device, **shape)
        else:
            model = batch_cost(arch, count, self.device, bandwidth=self.bandwidth, **shape)
            size, floor, cost = model.bytes, model.floor_seconds, "floor"
            epoch_seconds = floor
        measured = self.measured.get(self._key(config))
        if measured:
            epoch_seconds = _interpolate({n: c.epoch_seconds for n, c in measured.items()}, count)
            cost = "measured"
            peak = measured[count].peak_bytes if count in measured else None
        return PlannedBatch(
            architecture=arch.name, variant=arch.variant, optimizer=arch.optimizer,
            trainer=choose_trainer(arch, device=self.device, batched=True), units=arch.units,
            hidden_layers=arch.hidden_layers, epochs=arch.epochs, trials=count, bytes=size,
            epoch_seconds=epoch_seconds, cost=cost, floor_epoch_seconds=floor, peak_bytes=peak,
        )  # fmt: skip


def _interpolate(measured: dict[int, float], count: int) -> float:
    """Seconds per epoch of ``count`` trials, linear between the sizes measured (constant beyond them)."""
    low, high = min(measured), max(measured)
    if count <= low or low == high:
        return measured[low] if count <= low else measured[high]
    if count >= high:
        return measured[high]
    share = (count - low) / (high - low)
    return measured[low] + share * (measured[high] - measured[low])
