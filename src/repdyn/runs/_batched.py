"""Two-point trials of one architecture trained together as one batched computation.

On a GPU one two-point trial leaves the device idle: every step is a few
matrix-vector products. :func:`run_batched` therefore stacks the trials that
share an architecture and training settings (different seeds and pairs) and
trains them with :func:`repdyn.fast.train_pairs_batched`, a bounded number
per batch. Everything else about a trial is as in
:func:`repdyn.runs.two_point_trial`:

- each trial is cached under ``cache_key(two_point_trial, config)``, so the
  per-trial path (``run_sweep``) and this one read each other's results;
- only trials without a cached result are trained, and a batch's results are
  written the moment its fits are done, so an interrupted run resumes;
- the fits run per trial on the CPU (through ``run_sweep`` with the run's
  executor, so they use every core), with the per-trial code;
- every variant of Tables 1 and 2 and both optimisers are batched (dropout
  draws each trial's own masks, Adam keeps each trial's moments); a trial
  whose optimiser the batched engine lacks goes to the per-trial runner
  unchanged, as does a batch whose training raised (with a warning).
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from repdyn import checks
from repdyn.nets import ArchSpec
from repdyn.runs._execution import Execution
from repdyn.runs._two_point import TwoPointConfig, trial_result, two_point_trial
from repdyn.sweep import (
    STATUS_ERROR,
    STATUS_FAILED,
    ResultStore,
    SweepWarning,
    cache_key,
    canonical_value,
    run_sweep,
    trial,
    trial_name,
)

#: Most trials per batch on the CPU, where a smaller batch loses no speed and
#: writes its results sooner (64 default networks of 20 x 500 units hold
#: about 1.3 GB of float32 weights).
DEFAULT_BATCH_SIZE = 64
#: Share of the device's free memory a batch may take (the rest: the
#: allocator's slack, and what the model of repdyn.fast.batch_bytes leaves out).
MEMORY_FRACTION = 0.8

Runner = Callable[[Sequence[TwoPointConfig], Execution], list[dict[str, Any]]]
T = TypeVar("T")


def batching_wanted(options: Execution) -> bool:
    """Whether :func:`run_batched` should run the trials of ``options`` (:func:`batches_trials`)."""
    return batches_trials(options.device, options.scheduler, options.batch_trials)


def batches_trials(device: str, scheduler: object = None, batch_trials: bool | None = None) -> bool:
    """Whether two-point trials on ``device`` train in batches (:func:`run_batched`) or one by one.

    ``batch_trials`` decides when set; by default (None) trials are batched
    when they run on a GPU in this process (``device="cuda"`` and no Dask
    ``scheduler`` elsewhere: remote workers train trial by trial).
    """
    if batch_trials is not None:
        return batch_trials
    return device == "cuda" and scheduler is None


@dataclass(frozen=True)
class FitJob:
    """The CPU half of one batched trial: its config and its training run, to be fitted."""

    config: TwoPointConfig
    run: Any  # repdyn.track.PairTracking


@trial("two-point-fit")
def finish_trial(job: FitJob) -> dict[str, Any]:
    """The trial's result from its training run (fits included), as ``two_point_trial`` builds it."""
    return trial_result(job.config, job.run)


def run_batched(
    configs: Sequence[TwoPointConfig],
    options: Execution,
    *,
    fallback: Runner,
    batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Run (or load from the cache) every trial, batching those the batched engine trains; config order.

    Parameters
    ----------
    configs : sequence of TwoPointConfig
        The trials. Those the batched engine trains
        (:func:`repdyn.fast.choose_trainer` with ``batched=True``) are grouped
        by architecture and training settings and trained in batches
        (:func:`split_group`) on their ``device``.
    options : Execution
        The result store (``cache``) and the executor of the fits.
    fallback : callable
        ``fallback(configs, options) -> results`` runs trials one by one
        (``run_trials``' per-trial sweep); it receives the trials the batched
        engine does not train, and those of a batch whose training raised.
    batch_size : int, optional
        Most trials trained at once; default as many as fit the device's
        memory (:func:`split_group`).

    Returns
    -------
    list of dict
        One result per config, in order, equal (to rounding) to
        ``two_point_trial(config)`` on the CPU.
    """
    if batch_size is not None:
        checks.integer("batch_size", batch_size, minimum=1, fix="It counts the trials per batch, or None to split by memory")
    configs = list(configs)
    for i, config in enumerate(configs):
        if not isinstance(config, TwoPointConfig):
            raise TypeError(f"configs[{i}] must be a TwoPointConfig; got {type(config).__name__}")
    store = None if options.cache is None else ResultStore(options.cache)
    keys = [cache_key(two_point_trial, config) for config in configs]
    results, groups, singles = _plan(configs, keys, store)

    from tqdm.auto import tqdm

    todo = sum(len(members) for members in groups.values())
    show = sys.stderr.isatty() if options.progress is None else options.progress
    with tqdm(total=todo, disable=not show or not todo, desc="batched trials",
              unit="trial", file=sys.stderr, dynamic_ncols=True) as bar:  # fmt: skip
        for members in groups.values():
            for chosen in split_group(members, configs[members[0]], batch_size):
                batch = [configs[i] for i in chosen]
                computed = _run_batch(batch, options, store, fallback)
                results.update((keys[i], r) for i, r in zip(chosen, computed, strict=True))
                bar.update(len(batch))
    if singles:
        computed = fallback([configs[i] for i in singles], options)
        results.update((keys[i], r) for i, r in zip(singles, computed, strict=True))
    return [dict(results[key]) for key in keys]


#: The config fields the trials of one batch share (all but seed, pair, fit and
#: the stopping rule, which the batched engine takes per trial).
SHARED_FIELDS = ("arch", "in_dim", "out_dim", "all_layers", "layer", "measure", "device", "loss_convention")


def group_key(config: TwoPointConfig) -> str:
    """The trials with one key train in one batch (or in batches of one group): :data:`SHARED_FIELDS`."""
    shared = {name: getattr(config, name) for name in SHARED_FIELDS}
    return json.dumps(canonical_value(shared), sort_keys=True)


def split_group(members: list[T], config: TwoPointConfig, batch_size: int | None = None, *,
                memory: float | None = None) -> list[list[T]]:  # fmt: skip
    """The batches of one group (its trials ``members``, ``config`` one of them), in order.

    ``batch_size`` trials at a time; by default as many as fit
    :data:`MEMORY_FRACTION` of the device's memory by
    :func:`repdyn.fast.batch_bytes` (on the CPU at most
    :data:`DEFAULT_BATCH_SIZE`), in batches of nearly equal size.

    Parameters
    ----------
    memory : float, optional
        The device's memory in bytes (a planner states it for a device that
        is not here); default its free memory now (:func:`repdyn.fast.device_memory`).

    Raises
    ------
    ValueError
        A single trial does not fit (:func:`repdyn.fast.split_batches`).
    """
    if batch_size is not None:
        return [members[start : start + batch_size] for start in range(0, len(members), batch_size)]
    from repdyn.fast import device_memory, split_batches

    free = device_memory(config.device) if memory is None else memory
    most = DEFAULT_BATCH_SIZE if config.device == "cpu" else None
    if free is None:  # the host's memory unknown: the fixed size
        return split_group(members, config, most or DEFAULT_BATCH_SIZE)
    return split_batches(members, config.arch, memory=MEMORY_FRACTION * free, device=config.device, most=most,
                         in_dim=config.in_dim, out_dim=config.out_dim)  # fmt: skip


def _plan(
    configs: list[Any], keys: list[str], store: ResultStore | None, *,
    group_of: Callable[[Any], str] | None = None, qualifies_for: Callable[[Any], bool] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[int]], list[int]]:
    """Cached results by key, the indices to train grouped by shared fields, and the rest.

    Each key is trained once (equal configs share it); cached records of
    trials that raised or lost their worker are trained again, as ``run_sweep`` does.
    ``group_of`` and ``qualifies_for`` default to two-point trials' :func:`group_key` and :func:`batchable`.
    """
    group_key_of = group_key if group_of is None else group_of
    batchable_of = batchable if qualifies_for is None else qualifies_for
    results: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[int]] = {}
    singles: list[int] = []  # not batchable: the per-trial runner takes them
    qualifies: dict[str, bool] = {}
    seen: set[str] = set()
    for i, (config, key) in enumerate(zip(configs, keys, strict=True)):
        group = group_key_of(config)
        if group not in qualifies:
            qualifies[group] = batchable_of(config)
        if not qualifies[group]:
            singles.append(i)
        elif key not in seen:
            seen.add(key)
            cached = None if store is None else store.get(key)
            if cached is not None and cached.get("status") not in (STATUS_ERROR, STATUS_FAILED):
                results[key] = cached
            else:
                groups.setdefault(group, []).append(i)
    return results, groups, singles


def batchable(config: TwoPointConfig) -> bool:
    """Whether the batched engine trains this config (every variant, SGD and Adam)."""
    from repdyn.fast import choose_trainer

    return isinstance(config.arch, ArchSpec) and choose_trainer(
        config.arch, device=config.device, batched=True, kernel_rates=config.kernel_every is not None
    ) != "autograd"


def _run_batch(
    batch: list[TwoPointConfig],
    options: Execution,
    store: ResultStore | None,
    fallback: Runner,
) -> list[dict[str, Any]]:
    """Train one batch together, fit each trial, store and return the results in order."""
    try:
        runs = _train(batch)
    except Exception:  # noqa: BLE001 - the per-trial path still computes every trial
        warn_failed_batch(f"{len(batch)} trials of {batch[0].arch.name!r}")
        return fallback(batch, options)
    jobs = [FitJob(config, run) for config, run in zip(batch, runs, strict=True)]
    # Trials without fits take microseconds to finish: here, without workers
    # (and without hashing their arrays for run_sweep's keys, which costs more).
    results = [None if job.config.fit else _finish_here(job) for job in jobs]
    fitting = [k for k, job in enumerate(jobs) if job.config.fit]
    if fitting:
        fitted = run_sweep(
            finish_trial,
            [jobs[k] for k in fitting],
            progress=False,
            **options.dispatch,
        )
        for k, result in zip(fitting, fitted, strict=True):
            results[k] = result
    keep(store, two_point_trial, batch, runs, results)
    return results


def keep(store: ResultStore | None, fn: Callable[[Any], Any], batch: Sequence[Any], runs: Sequence[Any],
         results: Sequence[dict[str, Any]]) -> None:  # fmt: skip
    """Write a batch's results into the store under trial ``fn``'s keys, as ``run_sweep`` would."""
    if store is None:
        return
    name = trial_name(fn)
    for config, run, result in zip(batch, runs, results, strict=True):
        # seconds: the trial's share of the batch's training, as in its result.
        store.put(cache_key(fn, config), result, config=config, trial=name, seconds=run.seconds)


def warn_failed_batch(what: str) -> None:
    """Warn, with the error being handled, that training ``what`` as one batch raised; its trials run one by one."""
    warnings.warn(
        f"training {what} as one batch failed; running them one by one instead. The error was:\n"
        f"{traceback.format_exc()}",
        SweepWarning,
        stacklevel=4,
    )


def _finish_here(job: FitJob) -> dict[str, Any]:
    """:func:`finish_trial` in this process; an exception becomes the trial's error record."""
    try:
        return finish_trial(job)
    except Exception:  # noqa: BLE001 - recorded like run_sweep records a trial that raised
        return {"status": STATUS_ERROR, "error": traceback.format_exc()}


def _train(batch: list[TwoPointConfig]) -> list[Any]:
    """The training runs of a batch, as ``train_pair`` would record them."""
    import torch

    from repdyn.data import two_point
    from repdyn.fast import train_pairs_batched
    from repdyn.nets import build_network

    first = batch[0]
    pairs = [two_point(dx2=c.dx2, dy2=c.dy2, in_dim=c.in_dim, out_dim=c.out_dim) for c in batch]
    # Built on the CPU (the seed gives the same weights on every device) and
    # moved to the device once, stacked.
    networks = [build_network(c.arch, c.in_dim, c.out_dim, seed=c.seed) for c in batch]
    runs = train_pairs_batched(
        networks,
        torch.stack([p.x for p in pairs]),
        torch.stack([p.y for p in pairs]),
        layers="all" if first.all_layers else first.layer,
        lr=first.arch.lr,
        epochs=first.arch.epochs,
        optimizer=first.arch.optimizer,
        measure=first.measure,
        seeds=[c.seed for c in batch],
        loss_threshold=[c.loss_threshold for c in batch],
        stop_when_converged=[c.stop_when_converged for c in batch],
        device=first.device,
        loss=first.loss_convention,
    )
    return runs
