"""Data-set trials that differ only in their seed, trained together (XOR's seeds of one network).

:func:`run_dataset_trials` runs what ``options.sweep(dataset_trial, configs)``
runs. Where two-point trials batch (on a GPU, or with ``batch_trials``),
the seeds of one network on one data set train as one batch of
:func:`repdyn.fast.train_tracking_pairs_batched`; the rest of each trial
(data, probe representations before and after, the fit) is the per-trial
code of :func:`repdyn.runs.dataset_trial`, and each result is stored under
that trial's own cache key, so both paths read each other's results. A
network alone in its group, one with dropout, and a batch whose training
raised (with a warning) train one by one.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from repdyn.runs._batched import DEFAULT_BATCH_SIZE, _plan, batching_wanted, keep, warn_failed_batch
from repdyn.runs._dataset_trial import DatasetConfig, Start, dataset_trial
from repdyn.runs._execution import Execution
from repdyn.sweep import STATUS_ERROR, ResultStore, cache_key, canonical_value


def run_dataset_trials(configs: Sequence[DatasetConfig], options: Execution) -> list[dict[str, Any]]:
    """Run (or load from the cache) every data-set trial; results in config order.

    Parameters
    ----------
    configs : sequence of DatasetConfig
    options : Execution
        The result store and how to run; where two-point trials batch
        (``device="cuda"``, or ``batch_trials=True``), so do the seeds of one network.

    Returns
    -------
    list of dict
        ``dataset_trial(config)`` for each config (equal to rounding when batched).
    """
    configs = list(configs)
    for i, config in enumerate(configs):
        if not isinstance(config, DatasetConfig):
            raise TypeError(f"configs[{i}] must be a DatasetConfig; got {type(config).__name__}")
    if not batching_wanted(options):
        return options.sweep(dataset_trial, configs)
    store = None if options.cache is None else ResultStore(options.cache)
    keys = [cache_key(dataset_trial, config) for config in configs]
    results, groups, singles = _plan(configs, keys, store, group_of=seed_group, qualifies_for=batchable_seeds)
    for members in groups.values():
        if len(members) == 1:
            singles.extend(members)
            continue
        for start in range(0, len(members), DEFAULT_BATCH_SIZE):
            chosen = members[start : start + DEFAULT_BATCH_SIZE]
            batch = [configs[i] for i in chosen]
            results.update(zip((keys[i] for i in chosen), _run_batch(batch, options, store), strict=True))
    if singles:
        computed = options.sweep(dataset_trial, [configs[i] for i in singles])
        results.update((keys[i], r) for i, r in zip(singles, computed, strict=True))
    return [dict(results[key]) for key in keys]


def seed_group(config: DatasetConfig) -> str:
    """Trials with one key differ at most in their seed, and train in one batch."""
    return json.dumps(canonical_value(replace(config, seed=0)), sort_keys=True)


def batchable_seeds(config: Any) -> bool:
    """Data-set trials of networks without dropout (masks would depend on the minibatch and its order),
    trained on the theory's loss (the batched engine has no other convention yet: XOR's mse and
    the half_mse of MNIST and the context task train trial by trial)."""
    return (isinstance(config, DatasetConfig) and not (config.arch.variant == "dropout" and config.arch.dropout > 0)
            and config.loss_convention in (None, "half_sum"))


def _run_batch(batch: list[DatasetConfig], options: Execution, store: ResultStore | None) -> list[dict[str, Any]]:
    """Train one group's seeds together, finish each trial, store and return the results in order."""
    from repdyn.fast import train_tracking_pairs_batched

    try:
        starts = [Start.of(config) for config in batch]
        first, arch = batch[0], batch[0].arch
        runs = train_tracking_pairs_batched(
            [s.network for s in starts], first.layer, starts[0].x, starts[0].y, starts[0].pair,
            lr=arch.lr, epochs=arch.epochs, seeds=[c.seed for c in batch], batch_size=first.batch_size,
            optimizer=arch.optimizer, shuffle=first.batch_size is not None, loss_threshold=first.loss_threshold,
            measure=first.measure, device=first.device,
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - the per-trial path still computes every trial
        warn_failed_batch(f"{len(batch)} seeds of {batch[0].arch.name!r} on {batch[0].dataset!r}")
        return options.sweep(dataset_trial, batch)
    results = []
    for config, start, run in zip(batch, starts, runs, strict=True):
        try:
            results.append(start.result(config, run))
        except Exception:  # noqa: BLE001 - recorded like run_sweep records a trial that raised
            results.append({"status": STATUS_ERROR, "error": traceback.format_exc()})
    keep(store, dataset_trial, batch, runs, results)
    return results
